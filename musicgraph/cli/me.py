"""``musicgraph me import | show | forget``: a person's own listening history (stays on this machine)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from musicgraph.cli.core import StoreOpt

me_app = typer.Typer(
    help="Your own listening history: import it (Spotify, Last.fm, ListenBrainz), show the profile, forget it. "
    "The data stays on this machine.",
    no_args_is_help=True,
)


def _fail(message: str) -> None:
    from musicgraph.cli.core import fail

    fail(message)


def _run(fn: Any) -> Any:
    """Expected errors as one line and exit code 2 (history format, profile, store, API errors)."""
    from musicgraph.graph.profile import ProfileError
    from musicgraph.graph.store import StoreError
    from musicgraph.loaders.history import HistoryFormatError
    from musicgraph.loaders.http_cache import ApiError

    try:
        return fn()
    except (HistoryFormatError, ProfileError, StoreError, ApiError, ValueError) as exc:
        _fail(str(exc))


@me_app.command("import")
def import_cmd(
    files: Annotated[list[Path] | None, typer.Argument(
        help="History files, an unpacked export directory, or a .zip: Spotify StreamingHistory*.json, "
        "endsong_*.json / Streaming_History_Audio_*.json, a ListenBrainz export (.json/.jsonl/.zip), "
        "saved Last.fm recenttracks pages.")] = None,
    lastfm: Annotated[str | None, typer.Option("--lastfm", help="Last.fm user whose scrobbles to fetch "
                                               "(needs MUSICGRAPH_LASTFM_API_KEY).")] = None,
    listenbrainz: Annotated[str | None, typer.Option("--listenbrainz", help="ListenBrainz user whose public "
                                                     "listens to fetch.")] = None,
    name: Annotated[str, typer.Option("--name", help="Profile name (the user key is me:NAME).")] = "default",
    max_pages: Annotated[int, typer.Option(help="At most this many API pages per service.", min=1)] = 50,
    store: StoreOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Import a listening history as your profile (replaces an earlier import of the same name)."""
    from musicgraph.cli.core import open_cli_store
    from musicgraph.me import import_history

    def run() -> None:
        with open_cli_store(store) as st:
            result = import_history(st, name, paths=files or [], lastfm=lastfm, listenbrainz=listenbrainz,
                                    max_pages=max_pages)
        data = result.to_dict()
        _show_profile(data, as_json, lambda: f"imported {data['user']} from {', '.join(data['inputs'])}")

    _run(run)


@me_app.command("show")
def show_cmd(
    name: Annotated[str | None, typer.Option("--name", help="Profile name (default: the only one).")] = None,
    store: StoreOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show your profile: match rate, top artists, tags, moods, audio features."""
    from musicgraph.cli.core import open_cli_store
    from musicgraph.me import show

    def run() -> None:
        with open_cli_store(store) as st:
            data = show(st, name)
        _show_profile(data, as_json, lambda: f"profile {data['user']} (imported {data.get('imported_at')})")

    _run(run)


@me_app.command("forget")
def forget_cmd(
    name: Annotated[str | None, typer.Option("--name", help="Profile name (default: the only one).")] = None,
    store: StoreOpt = None,
) -> None:
    """Delete your profile and everything derived from it (GNN vector, cached API answers)."""
    from musicgraph.cli.core import open_cli_store
    from musicgraph.me import forget

    def run() -> None:
        with open_cli_store(store) as st:
            out = forget(st, name)
        typer.echo(json.dumps(out, indent=2))

    _run(run)


def _show_profile(data: dict[str, Any], as_json: bool, title: Callable[[], str]) -> None:
    """``data`` as JSON, or as the profile tables under ``title()``."""
    if as_json:
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        _print_profile(data, title=title())


def _print_profile(data: dict[str, Any], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    rep = data["report"]
    console.print(f"[bold]{title}[/]")
    console.print(
        f"plays read {rep['plays_read']:,} (not music {rep['not_music']:,}, duplicates {rep['duplicates']:,}); "
        f"counted {rep['counted_plays']:,} plays of ≥ 30 s, {rep['short_plays']:,} shorter (negative evidence), "
        f"{rep['skipped_plays']:,} skipped"
    )
    console.print(
        f"[bold]match rate {rep['match_rate']:.1%}[/] of counted plays by artist "
        f"({rep['artists_matched']:,}/{rep['artists']:,} artists), {rep['song_match_rate']:.1%} by song "
        f"({rep['songs_matched']:,}/{rep['songs']:,} songs)"
    )
    t = Table("your artists", "plays", "weight", title_justify="left")
    for name, plays, w in data["top_artists"][:10]:
        t.add_row(str(name), str(plays), f"{w:g}")
    console.print(t)
    if rep["top_unmatched_artists"] or rep["top_unmatched_songs"]:
        console.print("not in the catalog: " + ", ".join(f"{n} ({p})" for n, p in rep["top_unmatched_artists"][:5])
                      + ("; songs: " + ", ".join(f"{n} ({p})" for n, p in rep["top_unmatched_songs"][:5])
                         if rep["top_unmatched_songs"] else ""))
    console.print("top tags: " + ", ".join(t for t, _ in data["top_tags"][:10]))
    console.print("moods: " + ", ".join(f"{m} {w:.0%}" for m, w in data["moods"][:6]))
    if data["features"]:
        console.print(f"audio features ({data['features_basis']}): " + ", ".join(
            f"{k} {v['mean']:.2f}±{v['std']:.2f}" for k, v in data["features"].items()))
    neg = data.get("negative_evidence") or {}
    if neg.get("artists") or neg.get("songs"):
        console.print("only skipped (kept as known, no preference): "
                      + ", ".join((neg.get("artists") or []) + (neg.get("songs") or []))[:300])
    gnn = data.get("gnn")
    if gnn:
        console.print(f"GNN: {gnn}")
    elif "has_gnn_vector" in data:
        console.print(f"GNN vector: {'yes' if data['has_gnn_vector'] else 'no'}")
    console.print("[dim]stored only on this machine; `musicgraph me forget` deletes it[/]")


def register(app: typer.Typer) -> None:
    """Add the ``me`` command group."""
    app.add_typer(me_app, name="me")
