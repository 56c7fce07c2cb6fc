"""``musicgraph neo4j install|start|status|stop|logs`` and ``musicgraph cypher list|show|run|load-sample``."""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

import typer

log = logging.getLogger(__name__)

neo4j_app = typer.Typer(help="Manage the local Neo4j server (materialized from Maven Central).", no_args_is_help=True)
cypher_app = typer.Typer(help="Run the packaged Cypher exploration queries (read-only).", no_args_is_help=True)


def _settings(password: str | None = None) -> Any:
    from musicgraph.config import get_settings

    settings = get_settings()
    if password is not None:
        settings = settings.model_copy(update={"neo4j_password": password})
    return settings


def _fail(exc: Exception, code: int = 1) -> None:
    from musicgraph.cli.terminal import one_line

    typer.secho(f"error: {one_line(exc)}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@neo4j_app.command("install")
def install(
    force: Annotated[bool, typer.Option("--force", help="Rerun Maven even if the jars are present.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Maven's output.")] = False,
) -> None:
    """Materialize Neo4j 5.26 Community + Browser + APOC with Maven into MUSICGRAPH_HOME/neo4j."""
    from musicgraph.graph.neo4j_server import Neo4jServer, Neo4jServerError

    server = Neo4jServer(_settings())
    try:
        home = server.install(force=force, quiet=not verbose)
    except Neo4jServerError as exc:
        _fail(exc)
    typer.echo(f"Neo4j installed in {home} (config {server.conf_file})")


@neo4j_app.command("start")
def start(
    password: Annotated[str | None, typer.Option(
        "--password", help="Turn authentication on with this password for user neo4j "
        "(or set MUSICGRAPH_NEO4J_PASSWORD). Default: auth off, loopback only.",
    )] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for Bolt.")] = 180.0,
    install: Annotated[bool, typer.Option("--install", help="Install first if needed.")] = False,
) -> None:
    """Start the server in the background and wait until Bolt answers."""
    from musicgraph.graph.neo4j_server import Neo4jServer, Neo4jServerError

    server = Neo4jServer(_settings(password))
    try:
        status = server.start(timeout=timeout, install=install)
    except Neo4jServerError as exc:
        _fail(exc)
    auth = "on (user neo4j)" if status.auth_enabled else "off"
    typer.echo(f"Neo4j running (PID {status.pid}): {status.bolt_uri}, Browser {status.browser_url}, auth {auth}")


@neo4j_app.command("status")
def status(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Installed? running? answering on Bolt? Exit code 0 only when it answers."""
    from musicgraph.graph.neo4j_server import Neo4jServer

    st = Neo4jServer(_settings()).status()
    if as_json:
        typer.echo(json.dumps(st.to_dict(), indent=2))
    else:
        for name, value in st.to_dict().items():
            typer.echo(f"{name:15} {value}")
    raise typer.Exit(0 if st.bolt_ok else 3)


@neo4j_app.command("stop")
def stop(timeout: Annotated[float, typer.Option(help="Seconds before SIGKILL.")] = 90.0) -> None:
    """Stop the server (SIGTERM, clean checkpoint)."""
    from musicgraph.graph.neo4j_server import Neo4jServer, Neo4jServerError

    try:
        stopped = Neo4jServer(_settings()).stop(timeout=timeout)
    except Neo4jServerError as exc:
        _fail(exc)
    typer.echo("Neo4j stopped" if stopped else "Neo4j was not running")


@neo4j_app.command("logs")
def logs(
    lines: Annotated[int, typer.Option("--lines", "-n", help="Lines per log.")] = 50,
    debug: Annotated[bool, typer.Option("--debug", help="Also show debug.log.")] = False,
) -> None:
    """Show the last lines of the console log and neo4j.log."""
    from musicgraph.graph.neo4j_server import Neo4jServer

    which = ("console", "neo4j", "debug") if debug else ("console", "neo4j")
    from musicgraph.cli.terminal import plain
    from musicgraph.redact import redact

    # server logs quote user queries: shown as text, secrets redacted
    typer.echo(plain(redact(Neo4jServer(_settings()).logs(lines=lines, which=which)), multiline=True))


def _parse_params(items: list[str]) -> dict[str, Any]:
    """``k=v`` pairs; values are read as JSON when they parse (numbers, lists, true/null), else strings."""
    params: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise typer.BadParameter(f"--param {item!r}: expected name=value")
        name, raw = item.split("=", 1)
        name = name.strip()
        if not name.isidentifier():
            raise typer.BadParameter(f"--param {item!r}: {name!r} is not a parameter name")
        try:
            params[name] = json.loads(raw)
        except json.JSONDecodeError:
            params[name] = raw
    return params


@cypher_app.command("list")
def list_queries() -> None:
    """List the packaged exploration queries."""
    from musicgraph.cypher import explore_queries

    for q in explore_queries():
        params = ", ".join(f"{k}={v!r}" for k, v in q.params.items())
        typer.echo(f"{q.name:28} {q.title}\n{'':28} params: {params or '-'}")


@cypher_app.command("show")
def show(name: Annotated[str, typer.Argument(help="Query name (see `cypher list`) or a .cypher file.")]) -> None:
    """Print a query's text."""
    from musicgraph.cli.terminal import plain
    from musicgraph.cypher import load_query

    try:
        typer.echo(plain(load_query(name).source, multiline=True))
    except (FileNotFoundError, ValueError) as exc:
        _fail(exc, code=2)


@cypher_app.command("run")
def run(
    file: Annotated[str, typer.Argument(
        help="A packaged query name (see `cypher list`) or a path to a .cypher file.")],
    param: Annotated[list[str] | None, typer.Option(
        "--param", "-p", help="name=value (JSON or text); overrides :param lines.")] = None,
    timeout: Annotated[float, typer.Option(help="Transaction timeout in seconds.")] = 30.0,
    limit: Annotated[int, typer.Option(min=0, help="Rows to fetch and print at most (the rest is not fetched).")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print rows as JSON lines.")] = False,
) -> None:
    """Run one query read-only, with a timeout: writes, administration (TERMINATE, CREATE/DROP ...), and
    file or URL access outside Neo4j's import directory are refused."""
    from musicgraph.cli.terminal import plain
    from musicgraph.cypher import load_query
    from musicgraph.graph.neo4j_store import Neo4jStore, ReadOnlyQueryError

    try:
        query = load_query(file)
    except (FileNotFoundError, ValueError) as exc:
        _fail(exc, code=2)
    try:
        params = {**query.params, **_parse_params(param or [])}
    except typer.BadParameter as exc:
        _fail(exc, code=2)
    missing = sorted(set(query.required_params()) - set(params))
    if missing:
        _fail(ValueError(f"{query.name}: missing parameter(s) {', '.join(missing)}; pass --param name=value"), code=2)
    settings = _settings()
    try:
        with Neo4jStore.from_settings(settings, apply_schema=False) as store:
            rows = store.query(query.text, params, timeout=timeout, limit=limit + 1)
    except ReadOnlyQueryError as exc:
        _fail(exc, code=2)
    except Exception as exc:  # driver errors: show the server's message
        _fail(exc)
    for row in rows[:limit]:
        if as_json:
            typer.echo(json.dumps(row, default=str, ensure_ascii=False))
        else:
            typer.echo(plain("  ".join(f"{k}={v}" for k, v in row.items())))
    if len(rows) > limit:
        typer.echo(f"... more rows not fetched (--limit {limit})")
    typer.echo(f"({min(len(rows), limit)} rows)", err=True)


@cypher_app.command("load-sample")
def load_sample_cmd(
    yes: Annotated[bool, typer.Option(
        "--yes", help="Confirm writing the invented sample graph into the store.")] = False,
) -> None:
    """Write the small invented sample graph (for trying the exploration pack) into the configured store."""
    from musicgraph.cypher.sample import load_sample
    from musicgraph.graph import open_store

    if not yes:
        _fail(ValueError("this writes invented demo nodes into the configured store; pass --yes"))
    with open_store() as store:
        counts = load_sample(store)
    typer.echo(json.dumps(counts))


def register(app: typer.Typer) -> None:
    """Add the ``neo4j`` and ``cypher`` command groups."""
    app.add_typer(neo4j_app, name="neo4j")
    app.add_typer(cypher_app, name="cypher")


__all__ = ["register"]
