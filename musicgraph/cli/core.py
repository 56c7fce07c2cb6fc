"""Core commands: ``ingest``, ``stats``, ``recommend``, ``export``, ``demo``."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from musicgraph.cli.terminal import print_error, safe
from musicgraph.config import get_settings
from musicgraph.errors import MusicgraphError, exit_code

log = logging.getLogger(__name__)
console = Console()
err_console = Console(stderr=True)

#: The ``--store`` option of the commands that open the store.
StoreOpt = Annotated[str | None, typer.Option("--store", help="embedded or neo4j")]
#: The bare ``--json`` flag (commands with their own help text for it declare their own).
JsonOpt = Annotated[bool, typer.Option("--json")]


class CliError(MusicgraphError):
    """An error shown to the user as one clear line, exit code 2."""


def fail(message: object, code: int = 2) -> None:
    """Print ``error: <message>`` as one line (secrets redacted, user text escaped) and exit with ``code``."""
    print_error(err_console, message)
    raise typer.Exit(code)


def handle_errors(fn: Any) -> Any:
    """Turn the library's expected errors into one clear line and their exit code (:mod:`musicgraph.errors`)."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from musicgraph.graph.schema import SchemaError
        from musicgraph.graph.store import StoreError
        from musicgraph.loaders.base import DataNotFoundError

        try:
            return fn(*args, **kwargs)
        except MusicgraphError as exc:
            fail(str(exc), exit_code(exc))
        except (DataNotFoundError, SchemaError, StoreError) as exc:
            fail(str(exc))
        except ValueError as exc:
            fail(str(exc))

    return wrapper


def open_cli_store(store: str | None = None) -> Any:
    from musicgraph.graph import open_store

    return open_store(get_settings(), backend=store)


# ------------------------------------------------------------------------ rendering
def render_results(results: list[Any], title: str, show_paths: int = 1) -> None:
    """Print results as a table with their best explanation path(s)."""
    if not results:
        console.print(f"[yellow]{safe(title)}: no results[/]")
        return
    table = Table(title=safe(title), title_justify="left", show_lines=False)
    table.add_column("#", justify="right", style="bold")
    table.add_column("recommendation")
    table.add_column("score", justify="right")
    table.add_column("why (graph path)", overflow="fold")
    for r in results:
        comps = ", ".join(f"{k}={v:.3g}" for k, v in r.scores.items()) if len(r.scores) > 1 else f"{r.score:.3g}"
        why = "\n".join(safe(p.explain()) for p in r.paths[: max(show_paths, 1) + 1]) or "; ".join(
            f"{safe(k)}: {', '.join(safe(x) for x in v[:4])}" for k, v in r.evidence.items() if k != "request"
        )
        table.add_row(str(r.rank), safe(r.display()), comps, why)
    console.print(table)


def print_json(results: list[Any]) -> None:
    sys.stdout.write(json.dumps([r.to_dict() for r in results], indent=2, ensure_ascii=False) + "\n")


# ------------------------------------------------------------------------ commands
def ingest_cmd(
    store: Annotated[str | None, typer.Option(help="embedded or neo4j (default: neo4j if MUSICGRAPH_NEO4J_URI is set)")] = None,
    stage: Annotated[list[str] | None, typer.Option(help="Only these stages (repeatable).")] = None,
    force: Annotated[bool, typer.Option(help="Rerun stages even if already done.")] = False,
    data_dir: Annotated[Path | None, typer.Option(help="Datasets folder (default MUSICGRAPH_DATA_DIR).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the ingest report as JSON.")] = False,
    bulk: Annotated[bool, typer.Option(
        "--bulk", help="Neo4j only, empty database: ingest into an embedded staging store, then load it with "
        "neo4j-admin database import (offline, far faster than transactions) and create the schema.")] = False,
) -> None:
    """Load the public datasets into the graph store (idempotent, resumable)."""
    from musicgraph.graph.ingest import ingest

    @handle_errors
    def run() -> None:
        settings = get_settings()
        ddir = data_dir or settings.data_dir
        if bulk:
            _bulk_ingest(store, stage, force, ddir, as_json)
            return
        with open_cli_store(store) as st:
            report = ingest(st, ddir, stages=stage, force=force, progress=not as_json)
            if as_json:
                print(json.dumps(report.to_dict(), indent=2))
                return
            table = Table(title=safe(f"ingest into {st!r} from {ddir}"), title_justify="left")
            for col in ("stage", "records", "skipped", "nodes", "edges", "seconds"):
                table.add_column(col, justify="right" if col != "stage" else "left")
            for s in report.stages:
                table.add_row(s.name + (" (done before)" if s.resumed else ""), str(s.records), str(s.skipped),
                              str(s.nodes_written), str(s.edges_written), f"{s.seconds:.1f}")
            console.print(table)
            console.print(f"total {report.seconds:.1f}s; store now has {sum(st.count_nodes().values()):,} nodes, "
                          f"{sum(st.count_edges().values()):,} relationships")

    run()


def _bulk_ingest(store: str | None, stage: list[str] | None, force: bool, ddir: Path, as_json: bool) -> None:
    """``ingest --store neo4j --bulk``: staging ingest, then :func:`musicgraph.graph.bulk.bulk_load`."""
    from musicgraph.graph import EmbeddedStore
    from musicgraph.graph.bulk import bulk_load, staging_store_path
    from musicgraph.graph.ingest import ingest

    settings = get_settings()
    if store not in (None, "neo4j"):
        raise CliError("--bulk loads Neo4j: use it with --store neo4j (or without --store)")
    if stage:
        raise CliError("--bulk loads the whole ingest into an empty database: --stage cannot be combined with it")
    staging = staging_store_path(settings.home)
    t0 = time.perf_counter()
    with EmbeddedStore(staging, batch_size=settings.batch_size) as src:
        report = ingest(src, ddir, force=force, progress=not as_json)
        staged = time.perf_counter() - t0
        if not as_json:
            console.print(f"staging store {staging}: {sum(src.count_nodes().values()):,} nodes, "
                          f"{sum(src.count_edges().values()):,} relationships ({staged:.1f}s)")
        loaded = bulk_load(src)
    out = {"staging_ingest_seconds": round(staged, 2), "staging": str(staging), "ingest": report.to_dict(),
           "bulk": loaded.to_dict()}
    if as_json:
        print(json.dumps(out, indent=2))
        return
    steps = ", ".join(f"{k} {v:.1f}s" for k, v in loaded.seconds.items())
    console.print(f"bulk load into Neo4j database {loaded.database!r}: {sum(loaded.nodes.values()):,} nodes, "
                  f"{sum(loaded.relationships.values()):,} relationships in {loaded.total_seconds:.1f}s ({steps})")


def stats_cmd(
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Counts per label and relationship type, and what each source contributed and merged."""
    from musicgraph.graph.ingest import source_stats

    @handle_errors
    def run() -> None:
        with open_cli_store(store) as st:
            nodes, edges = st.count_nodes(), st.count_edges()
            sources = source_stats(st)
            genres = json.loads(st.get_meta("ingest:artist_genres") or "{}")
            if as_json:
                print(json.dumps({"nodes": nodes, "relationships": edges, "sources": sources,
                                  "artist_genres": genres}, indent=2))
                return
            if sum(nodes.values()) == 0:
                raise CliError("the store is empty: run `musicgraph ingest` first")
            t = Table(title=safe(f"{st!r}"), title_justify="left")
            t.add_column("label")
            t.add_column("nodes", justify="right")
            t.add_column("merged from ≥2 sources", justify="right")
            t.add_column("contributed by source")
            for label, n in nodes.items():
                info = sources.get(label, {})
                by = ", ".join(f"{safe(k)} {v:,}" for k, v in info.get("by_source", {}).items())
                t.add_row(label, f"{n:,}", f"{info.get('merged_from_several_sources', 0):,}", by)
            console.print(t)
            r = Table(title="relationships", title_justify="left")
            r.add_column("type")
            r.add_column("count", justify="right")
            for rel, n in edges.items():
                r.add_row(rel, f"{n:,}")
            console.print(r)
            if genres:
                console.print(f"Spotify artist genres: {genres.get('matched', 0):,} artists matched the graph, "
                              f"{genres.get('unmatched', 0):,} not (not added)")

    run()


def recommend_cmd(
    user: Annotated[str | None, typer.Option(help="User key or HetRec id (e.g. 2): personalize.")] = None,
    artist: Annotated[list[str] | None, typer.Option(help="Seed artist (repeatable).")] = None,
    song: Annotated[list[str] | None, typer.Option(help='Seed song "ARTIST - TITLE" (repeatable).')] = None,
    album: Annotated[list[str] | None, typer.Option(help="Seed album (repeatable).")] = None,
    playlist: Annotated[list[str] | None, typer.Option(help="Seed playlist (repeatable).")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="Tag every answer must carry (repeatable).")] = None,
    genre: Annotated[list[str] | None, typer.Option(help="Genre every answer must have (repeatable).")] = None,
    mood: Annotated[list[str] | None, typer.Option(help="Mood label every answer must have (repeatable).")] = None,
    relation: Annotated[str | None, typer.Option(
        help="How the seeds relate to the answers: fans_of, similar_to, performed_by, member_of, same_album, "
             "in_playlist_with, related (default: per seed label).")] = None,
    exclude: Annotated[list[str] | None, typer.Option(help="Artist never returned (repeatable).")] = None,
    query: Annotated[str | None, typer.Option(help="Free-text request, parsed into a structured request.")] = None,
    request: Annotated[Path | None, typer.Option(help="A structured request as JSON (see docs/retrieval.md).")] = None,
    retriever: Annotated[str | None, typer.Option(
        help="graph, hybrid, bm25, dense or gnn (default: graph for seeds, hybrid for --query/--request).")] = None,
    k: Annotated[int, typer.Option(help="Number of results.")] = 10,
    kind: Annotated[str, typer.Option(help="What to return: song, artist, album or playlist.")] = "song",
    max_per_artist: Annotated[int | None, typer.Option(help="At most N songs per artist.")] = None,
    include_known: Annotated[bool, typer.Option(help="Keep items the user already knows.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    explain: Annotated[bool, typer.Option(help="Show the structured request that was answered.")] = False,
    no_bm25: Annotated[bool, typer.Option("--no-bm25")] = False,
    no_dense: Annotated[bool, typer.Option("--no-dense")] = False,
    no_graph: Annotated[bool, typer.Option("--no-graph")] = False,
    no_emotion: Annotated[bool, typer.Option("--no-emotion")] = False,
    no_audio: Annotated[bool, typer.Option("--no-audio")] = False,
    store: StoreOpt = None,
    me: Annotated[bool, typer.Option("--me", help="For you: your imported history (musicgraph me import) is the "
                                     "user seed; what you know is left out.")] = False,
    profile: Annotated[str | None, typer.Option(help="Which imported profile --me means (default: the only one).")] = None,
    export: Annotated[Path | None, typer.Option(help="Also write the songs as a playlist: FILE.xspf, .m3u8 or .json.")] = None,
    spotify: Annotated[str | None, typer.Option(help="Also create or update this Spotify playlist "
                                                "(MUSICGRAPH_SPOTIFY_CLIENT_ID).")] = None,
    trending: Annotated[bool, typer.Option(help="Move songs that are popular now up (musicgraph trends fetch; "
                                           "with --query, or re-ranking the seeds' results).")] = False,
    generative: Annotated[bool, typer.Option("--generative", help="With --query: the fine-tuned model writes "
                                             "the songs' semantic IDs (musicgraph lm train --task genrec).")] = False,
) -> None:
    """Recommend songs, artists, albums or playlists: from seeds, a free-text --query or a --request file.

    Every answer comes with the paths that explain it: one per seed relation ("31 % of Eminem's
    listeners also play ...") and one edge per constraint ("tagged rock by 54 listeners").
    """

    @handle_errors
    def run() -> None:
        from musicgraph import api
        from musicgraph.retrieval.request import request_from_file

        with open_cli_store(store) as st:
            if generative:
                from musicgraph.cli.lm import generative_recommend

                generative_recommend(st, query, k, as_json)
                return
            if sum(x is not None for x in (query, request)) > 1:
                raise CliError("give either --query or --request, not both")
            who = user
            if me:
                from musicgraph.me import resolve_profile

                if user:
                    raise CliError("give --user or --me, not both")
                who = resolve_profile(st, profile)
            seeded = any([who, artist, song, album, playlist, tag, genre, mood])
            if query is not None or request is not None:
                name = retriever or "hybrid"
                r = api.get_retriever(name, st)  # type: ignore[arg-type]
                req = r.parse(query) if query is not None else request_from_file(request)  # type: ignore[arg-type]
                changes: dict[str, Any] = {}
                if query is not None and k != 10:
                    changes["k"] = k
                if query is not None and kind != "song":
                    changes["kind"] = kind
                if who is not None:
                    from musicgraph.graph.resolve import user_key

                    changes["seeds"] = [*req.model_dump()["seeds"], {"label": "User", "name": who,
                                                                     "key": user_key(who), "relation": "listened_by"}]
                if include_known:
                    changes["constraints"] = {**req.constraints.model_dump(), "include_known": True}
                if changes:
                    req = req.with_(**changes)
                if name == "hybrid":
                    comps = [c for c, off in (("bm25", no_bm25), ("dense", no_dense), ("graph", no_graph),
                                              ("emotion", no_emotion), ("audio", no_audio)) if not off]
                    comps += ["trending"] if trending else []
                    results, _ = r.search_traced(req, components=comps, explain=explain)  # type: ignore[attr-defined]
                else:
                    results = r.search(req)
                title = f"{name} results for {query!r}" if query is not None else f"{name} results for {request}"
            else:
                if not seeded:
                    raise CliError("give seeds (--user, --artist, --song, --album, --playlist, --tag, --genre, --mood), "
                                   "--query TEXT or --request FILE.json")
                if st.is_empty():
                    raise CliError("the store is empty: run `musicgraph ingest` (or `musicgraph demo`) first")
                req = api.recommend_request(
                    user=who, artists=artist or (), songs=song or (), albums=album or (), playlists=playlist or (),
                    tags=tag or (), genres=genre or (), moods=mood or (), relation=relation, exclude=exclude or (),
                    k=k, kind=kind, exclude_known=not include_known, max_per_artist=max_per_artist,
                )
                results = api.get_retriever(retriever or "graph", st).search(req)  # type: ignore[arg-type]
                title = "multi-hop recommendations"
            if trending and not (query is not None and (retriever or "hybrid") == "hybrid"):
                from musicgraph.retrieval.trending import TrendingSignal

                results = TrendingSignal.load().boost(results)
            if as_json:
                out: Any = [r.to_dict() for r in results]
                if explain:
                    out = {"request": req.model_dump(mode="json", exclude_defaults=True), "results": out}
                sys.stdout.write(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
            else:
                if explain:
                    console.print(f"[bold]request:[/bold] {safe(req.describe())}")
                render_results(results, title)
            if export is not None or spotify is not None:
                from musicgraph.cli.export import export_results

                name = f"musicgraph for you ({who.split(':', 1)[1]})" if me and who else f"musicgraph: {query or title}"
                export_results(results, export, spotify, name, request=query or "", err=as_json)

    run()


def export_cmd(
    graphml: Annotated[Path, typer.Option(help="Write the whole graph as GraphML to this file.")],
    store: StoreOpt = None,
) -> None:
    """Export the graph for analysis (networkx view → GraphML)."""
    import networkx as nx

    @handle_errors
    def run() -> None:
        with open_cli_store(store) as st:
            g = st.to_networkx()
            nx.write_graphml(g, graphml)
            console.print(f"wrote {safe(graphml)} ({g.number_of_nodes():,} nodes, {g.number_of_edges():,} edges)")

    run()


DEMO_SEEDS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("Artists that fans of Radiohead listen to", {"artists": ["Radiohead"], "relation": "fans_of", "kind": "artist"}),
    ("Rock artists that fans of Eminem listen to", {"artists": ["Eminem"], "relation": "fans_of", "tags": ["rock"],
                                                    "kind": "artist"}),
    ("Songs for fans of Daft Punk", {"artists": ["Daft Punk"], "relation": "fans_of", "kind": "song",
                                     "max_per_artist": 1}),
    ("Discoveries for Last.fm user 2 (artists they have not played)", {"user": "2", "kind": "artist"}),
    ("Songs like Adele - Someone Like You", {"songs": ["Adele - Someone Like You"], "kind": "song",
                                            "max_per_artist": 1}),
    ("Songs around the tag 'trip-hop'", {"tags": ["trip-hop"], "kind": "song", "max_per_artist": 1}),
)

DEMO_QUERIES: tuple[str, ...] = (
    "indie bands that radiohead fans love",
    "upbeat songs for a summer road trip like Daft Punk",
    "something calm to study to, no vocals",
    "sad songs for a rainy night",
)


def demo_cmd(
    k: Annotated[int, typer.Option(help="Results per query.")] = 5,
    dense: Annotated[bool, typer.Option(help="Build the dense MiniLM index too (ONNX Runtime, length-sorted "
                                             "batches: about 3.5 minutes for the shared catalog on 2 shared cores).")] = True,
    backend: Annotated[str, typer.Option(help="Answer generator of the `ask` step (see `musicgraph ask --help`; "
                                         "default: the best installed one whose p95 for 5 songs meets 3 s).")] = "fast",
) -> None:
    """Build the embedded graph from the shared data if needed, then show multi-hop recommendations,
    hybrid retrieval and a grounded answer. A step that fails is reported and the demo exits with code 1."""
    from musicgraph import api
    from musicgraph.graph.ingest import ingest

    failures: list[str] = []

    @handle_errors
    def run() -> None:
        settings = get_settings()
        with open_cli_store("embedded") as st:
            console.print(Panel.fit(
                f"musicgraph demo\nstore: {safe(repr(st))}\ndata: {safe(settings.data_dir)}", border_style="cyan"))
            t0 = time.perf_counter()
            report = ingest(st, settings.data_dir, progress=True)
            done = all(s.resumed for s in report.stages)
            console.print(("graph already built" if done else f"graph built in {time.perf_counter() - t0:.1f}s")
                          + f": {sum(st.count_nodes().values()):,} nodes, {sum(st.count_edges().values()):,} relationships")
            with console.status("loading the graph projection and operators (once per process)"):
                api.get_retriever("graph", st).resources.warm_up()  # type: ignore[attr-defined]
            for title, kwargs in DEMO_SEEDS:
                t1 = time.perf_counter()
                results = api.recommend(store=st, k=k, **kwargs)
                render_results(results, f"{title}  ({(time.perf_counter() - t1) * 1000:.0f} ms)")
            _demo_retrieval(st, k, dense, failures)
            _demo_ask(st, backend, failures)

    run()
    if failures:
        for failure in failures:
            print_error(err_console, failure, prefix="demo step failed:")
        raise typer.Exit(1)


def _ensure_indexes(st: Any, dense: bool) -> None:
    """Build the retrieval indexes when missing or stale (dense unless ``--no-dense``)."""
    import json as _json

    from musicgraph.retrieval.index import build_indexes, default_index_dir

    directory = default_index_dir()
    manifest = directory / "manifest.json"
    if manifest.exists():
        info = _json.loads(manifest.read_text())
        if info.get("store_version") == st.version() and (info.get("dense") or not dense):
            return
    console.print(
        "building retrieval indexes (BM25, emotion profiles"
        + (", MiniLM + FAISS dense" if dense else
           "; the dense MiniLM index is left out (--no-dense), `musicgraph index build` adds it")
        + ")"
    )
    build_indexes(st, directory, dense=dense, progress=True)


def _demo_retrieval(st: Any, k: int, dense: bool, failures: list[str]) -> None:
    """Hybrid retrieval for the demo queries; a failing query is recorded in ``failures`` (the demo then
    exits with code 1) and the next one still runs."""
    try:
        from musicgraph.retrieval.retriever import retrieve
    except ModuleNotFoundError as exc:
        failures.append(f"hybrid retrieval is not installed ({exc}); install musicgraph[rag]")
        return
    try:
        _ensure_indexes(st, dense)
    except Exception as exc:  # noqa: BLE001 - reported as a failed step, with its cause
        log.exception("building the retrieval indexes failed")
        failures.append(f"building the retrieval indexes: {exc}")
        return
    for q in DEMO_QUERIES:
        t1 = time.perf_counter()
        try:
            results = retrieve(q, k=k, store=st)
        except Exception as exc:  # noqa: BLE001 - reported as a failed step, with its cause
            log.exception("retrieval failed for %r", q)
            failures.append(f"retrieval for {q!r}: {type(exc).__name__}: {exc}")
            continue
        render_results(results, f"{q!r}  ({(time.perf_counter() - t1) * 1000:.0f} ms)")


def _demo_ask(st: Any, backend: str, failures: list[str]) -> None:
    """A grounded answer for the demo question; a failure is recorded in ``failures``."""
    try:
        from musicgraph.rag.ask import ask
    except ModuleNotFoundError as exc:
        failures.append(f"grounded answers are not installed ({exc}); install musicgraph[rag]")
        return
    q = "melancholic songs for a rainy night, like Radiohead"
    try:
        answer = ask(q, k=5, store=st, backend=backend)
    except Exception as exc:  # noqa: BLE001 - reported as a failed step, with its cause
        log.exception("ask failed")
        failures.append(f"ask {q!r}: {type(exc).__name__}: {exc}")
        return
    text = getattr(answer, "text", str(answer))
    console.print(Panel(safe(text, multiline=True), title=safe(f"ask: {q}"), border_style="green"))


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest_cmd)
    app.command("stats")(stats_cmd)
    app.command("recommend")(recommend_cmd)
    app.command("export")(export_cmd)
    app.command("demo")(demo_cmd)
