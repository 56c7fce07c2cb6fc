"""``musicgraph trends fetch | show``: current popularity (Last.fm charts, a Reddit listing) for ``--trending``."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from musicgraph.cli.core import StoreOpt

trends_app = typer.Typer(help="What is popular now (Last.fm top tracks, Reddit top posts): the --trending signal.",
                         no_args_is_help=True)


@trends_app.command("fetch")
def fetch_cmd(
    chart: Annotated[bool, typer.Option("--chart/--no-chart", help="Last.fm chart.getTopTracks (worldwide).")] = True,
    country: Annotated[list[str] | None, typer.Option("--country", help="Last.fm geo.getTopTracks for this "
                                                      "country (repeatable), e.g. Germany.")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Last.fm tag.getTopTracks (repeatable).")] = None,
    reddit: Annotated[list[str] | None, typer.Option("--reddit", help="Subreddit whose top posts of the week to "
                                                     "read (repeatable), e.g. Music.")] = None,
    limit: Annotated[int, typer.Option(help="Tracks per Last.fm list.", min=1, max=1000)] = 100,
    store: StoreOpt = None,
) -> None:
    """Fetch the trend lists (rate limited, cached 6 h, with provenance) and resolve them into the catalog."""
    from musicgraph.cli.core import fail, open_cli_store
    from musicgraph.loaders.http_cache import ApiError
    from musicgraph.loaders.trends import lastfm_trends, reddit_trends
    from musicgraph.retrieval.trending import TrendingSignal, trends_path

    lists = []
    try:
        if chart:
            lists.append(lastfm_trends("chart", limit=limit))
        for c in country or []:
            lists.append(lastfm_trends("geo", c, limit=limit))
        for t in tag or []:
            lists.append(lastfm_trends("tag", t, limit=limit))
        for sub in reddit or []:
            lists.append(reddit_trends(sub))
    except (ApiError, ValueError) as exc:
        fail(str(exc))
    if not lists:
        fail("nothing to fetch: give --chart, --country, --tag or --reddit")
    with open_cli_store(store) as st:
        signal, report = TrendingSignal.build(lists, st)
    path = trends_path()
    signal.save(path)
    typer.echo(json.dumps({"path": str(path), "songs": len(signal.songs), "artists": len(signal.artists),
                           "lists": report}, indent=2, ensure_ascii=False))


@trends_app.command("show")
def show_cmd(top: Annotated[int, typer.Option(help="Songs to list.")] = 20) -> None:
    """The current trend data: sources with their provenance and the top songs in the catalog."""
    from musicgraph.cli.core import fail
    from musicgraph.retrieval.trending import TrendingSignal

    try:
        sig = TrendingSignal.load()
    except FileNotFoundError as exc:
        fail(str(exc))
    songs = sorted(sig.songs.items(), key=lambda kv: -kv[1][0])[:top]
    typer.echo(json.dumps({"sources": sig.sources, "songs": [[k, round(v, 3), why] for k, (v, why) in songs]},
                          indent=2, ensure_ascii=False))


def register(app: typer.Typer) -> None:
    """Add the ``trends`` command group."""
    app.add_typer(trends_app, name="trends")
