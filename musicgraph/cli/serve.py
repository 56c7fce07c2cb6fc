"""``musicgraph serve``: the REST service, the OpenAI-compatible chat endpoint and the web page."""

from __future__ import annotations

from typing import Annotated

import typer

from musicgraph.cli.core import console, fail, handle_errors, open_cli_store


def serve_cmd(
    host: Annotated[str | None, typer.Option(help="Interface (default MUSICGRAPH_SERVE_HOST, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default MUSICGRAPH_SERVE_PORT, 8000).")] = None,
    workers: Annotated[int | None, typer.Option(min=1, max=64, help="Worker processes (default 1).")] = None,
    prepare: Annotated[bool, typer.Option(help="First build the embedded store from the data directory and the "
                                          "retrieval indexes (no dense) when they are missing, as the demo does.")] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve the REST API (/docs), the OpenAI-compatible /v1/chat/completions and the web page at /."""
    from musicgraph.config import get_settings
    from musicgraph.service.server import ServeError, check_bind, serve

    settings = get_settings()
    try:
        check_bind(settings, host or settings.serve_host)
    except ServeError as exc:
        fail(str(exc))
    if prepare:
        _prepare()
    try:
        serve(settings, host=host, port=port, workers=workers, log_level=log_level)
    except ServeError as exc:
        fail(str(exc))


@handle_errors
def _prepare() -> None:
    from musicgraph.cli.core import _ensure_indexes
    from musicgraph.config import get_settings
    from musicgraph.graph.ingest import ingest

    settings = get_settings()
    if settings.neo4j_uri:
        return
    with open_cli_store("embedded") as st:
        if st.is_empty():
            console.print(f"building the embedded graph from {settings.data_dir} (once)")
        ingest(st, settings.data_dir, progress=True)
        _ensure_indexes(st, dense=False)


def register(app: typer.Typer) -> None:
    """Add ``serve``."""
    app.command("serve")(serve_cmd)
