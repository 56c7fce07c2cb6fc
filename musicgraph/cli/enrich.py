"""``musicgraph enrich``: enrich the store from MusicBrainz, Genius or Last.fm (see :mod:`musicgraph.graph.enrich`)."""

from __future__ import annotations

import json
import logging
from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console

from musicgraph.cli.terminal import print_error, safe
from musicgraph.redact import redact, redact_obj

log = logging.getLogger(__name__)
console = Console()
err_console = Console(stderr=True)


class SourceChoice(StrEnum):
    musicbrainz = "musicbrainz"
    genius = "genius"
    lastfm = "lastfm"


class TargetChoice(StrEnum):
    artists = "artists"
    songs = "songs"


def _fail(message: str, code: int = 2) -> None:
    print_error(err_console, message)
    raise typer.Exit(code)


def enrich_command(
    source: Annotated[SourceChoice, typer.Option("--source", "-s", help="API to enrich from.", case_sensitive=False)],
    limit: Annotated[int | None, typer.Option(help="Enrich at most N nodes not yet done.", min=1)] = None,
    artist: Annotated[str | None, typer.Option(help="Only this artist (and its songs).")] = None,
    target: Annotated[
        list[TargetChoice] | None, typer.Option(help="Node kinds to enrich (repeatable; default per source).")
    ] = None,
    offline: Annotated[bool, typer.Option("--offline", help="Serve from the HTTP cache only (no network).")] = False,
    force: Annotated[bool, typer.Option(help="Redo nodes already enriched (checkpointed).")] = False,
    create_artists: Annotated[
        bool | None,
        typer.Option("--create-artists/--no-create-artists",
                     help="Create Artist nodes the source names (default: yes for musicbrainz members, no for lastfm)."),
    ] = None,
    base_url: Annotated[
        str | None, typer.Option(help="API root of a mirror or local test server (musicbrainz, lastfm).")
    ] = None,
    store: Annotated[str | None, typer.Option(help="embedded or neo4j (default: neo4j if MUSICGRAPH_NEO4J_URI is set)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Enrich nodes already in the store with API data (MBIDs, relations, tags, lyrics), with provenance.

    Resumable: rerun after a kill and it continues. Tokens: MUSICGRAPH_GENIUS_TOKEN, MUSICGRAPH_LASTFM_API_KEY.
    """
    from musicgraph.config import get_settings
    from musicgraph.graph import open_store
    from musicgraph.graph.enrich import EnrichAborted, Enricher, EnrichError, make_client
    from musicgraph.loaders.http_cache import ApiError

    settings = get_settings()
    offline = offline or settings.offline
    src = source.value
    try:
        client = make_client(src, offline=offline, base_url=base_url)
    except (ApiError, ValueError) as exc:
        _fail(str(exc))
    targets = None
    if target:
        targets = ["Artist" if t == TargetChoice.artists else "Song" for t in target]
    try:
        graph = open_store(settings, backend=store)
    except Exception as exc:  # noqa: BLE001 - one clear line for any store problem
        _fail(f"cannot open the {store or 'configured'} store: {exc}")
    aborted = False
    try:
        if graph.is_empty():
            _fail("the store is empty: run `musicgraph ingest` first")
        enricher = Enricher(graph, src, client, create_artists=create_artists, force=force)
        try:
            report = enricher.run(limit=limit, artist=artist, targets=targets, progress=not as_json)
        except EnrichAborted as exc:
            report, aborted = exc.report, True
        except EnrichError as exc:
            _fail(str(exc))
    finally:
        graph.close()
    if as_json:
        print(json.dumps(redact_obj(report.to_dict()), indent=2))
    else:
        console.print(
            f"[bold]{src}[/]: {report.processed} processed, {report.enriched} enriched, "
            f"{report.no_match} without a confident match, {report.not_found} not found, "
            f"{report.already_done} already done, {report.cache_misses} offline cache misses, "
            f"{report.errors} errors; wrote {report.nodes_written} node rows, {report.edges_written} "
            f"relationship rows, {report.texts_written} texts; {report.requests} requests, "
            f"{report.cache_hits} cache hits, {report.seconds:.1f}s"
        )
        for sample in report.error_samples[:5]:
            console.print(f"  [yellow]{safe(redact(sample))}[/]")
    if aborted:
        _fail(f"{report.aborted}; what was enriched so far is saved: rerun the same command to continue", code=1)


def register(app: typer.Typer) -> None:
    """Add ``enrich`` to the main app."""
    app.command("enrich")(enrich_command)
