"""Trend lists from constructed answers in the documented formats: Last.fm chart/geo/tag top tracks, a Reddit
listing (titles parsed into artist and song), rate limits, caching with a freshness limit, provenance."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import requests
import responses

from musicgraph.loaders import lastfm
from musicgraph.loaders.http_cache import HttpCache, HttpClient, MalformedResponseError, RetryPolicy
from musicgraph.loaders.lastfm import LastFmClient
from musicgraph.loaders.ratelimit import FakeClock, RateLimiter
from musicgraph.loaders.trends import (
    lastfm_trends,
    parse_post_title,
    parse_reddit_listing,
    parse_top_tracks,
    reddit_trends,
)


def top_tracks(*tracks: tuple[str, str], ranked: bool = False) -> dict:
    items = []
    for i, (artist, name) in enumerate(tracks):
        t = {"name": name, "playcount": str(1000 - i), "listeners": str(500 - i), "mbid": "", "url": "https://www.last.fm/x",
             "artist": {"name": artist, "mbid": "", "url": "https://www.last.fm/y"}}
        if ranked:
            t["@attr"] = {"rank": str(i)}  # geo/tag answers count ranks from 0
        items.append(t)
    return {"tracks": {"track": items, "@attr": {"page": "1", "perPage": str(len(items)), "totalPages": "1",
                                                  "total": str(len(items))}}}


def listing(*titles: str, sticky: str | None = None) -> dict:
    children = [{"kind": "t3", "data": {"title": sticky, "score": 1, "stickied": True}}] if sticky else []
    children += [{"kind": "t3", "data": {"title": t, "score": 900 - 10 * i, "stickied": False, "permalink": f"/r/Music/{i}",
                                         "created_utc": 1700000000 + i}} for i, t in enumerate(titles)]
    return {"kind": "Listing", "data": {"after": None, "dist": len(children), "children": children}}


def test_parse_top_tracks_all_three_methods() -> None:
    got = parse_top_tracks(top_tracks(("Velvet Hours", "Paper Lanterns"), ("Neon Harbor", "Pulse City")), "chart.getTopTracks")
    assert [(m.artist, m.title, m.rank, m.score) for m in got] == [
        ("Velvet Hours", "Paper Lanterns", 1, 1000.0), ("Neon Harbor", "Pulse City", 2, 999.0)]
    ranked = parse_top_tracks(top_tracks(("B", "b"), ("A", "a"), ranked=True), "geo.getTopTracks")
    assert [(m.artist, m.rank) for m in ranked] == [("B", 1), ("A", 2)]
    single = {"tracks": {"track": {"name": "Only", "artist": {"name": "One"}, "@attr": {"rank": "0"}}}}
    assert [(m.artist, m.title) for m in parse_top_tracks(single, "tag.getTopTracks")] == [("One", "Only")]
    with pytest.raises(MalformedResponseError, match="no 'tracks'"):
        parse_top_tracks({"toptracks": {}}, "chart.getTopTracks")


@pytest.mark.parametrize("title,want", [
    ("Velvet Hours -- Paper Lanterns [indie rock] (2004)", ("Velvet Hours", "Paper Lanterns")),
    ("Neon Harbor - Pulse City (2011)", ("Neon Harbor", "Pulse City")),
    ("Mara Quell — Satellite Heart [synthpop]", ("Mara Quell", "Satellite Heart")),
    ("Jay-Z -- 99 Problems", ("Jay-Z", "99 Problems")),
    ("What album got you through a hard year?", None),
    ("Band announces reunion tour", None),
    ("-- Title only", None),
])
def test_post_titles_parse_into_artist_and_song(title: str, want: tuple[str, str] | None) -> None:
    assert parse_post_title(title) == want


def test_reddit_listing_skips_stickies_and_counts_unparsed() -> None:
    mentions, unparsed = parse_reddit_listing(listing("Velvet Hours -- Paper Lanterns [indie]", "Discussion thread",
                                                      "Neon Harbor - Pulse City", sticky="Weekly rules -- read me"))
    assert [(m.artist, m.title, m.rank, m.score) for m in mentions] == [
        ("Velvet Hours", "Paper Lanterns", 1, 900.0), ("Neon Harbor", "Pulse City", 2, 880.0)]
    assert unparsed == 1
    with pytest.raises(MalformedResponseError, match="children"):
        parse_reddit_listing({"kind": "Listing"})


@responses.activate
def test_lastfm_charts_through_the_client_with_provenance(tmp_path: Path) -> None:
    responses.get(lastfm.API_ROOT, json=top_tracks(("Velvet Hours", "Paper Lanterns")))
    http = HttpClient("lastfm", RateLimiter(4.0, clock=FakeClock(start=0.0), name="lastfm"),
                      HttpCache(tmp_path / "http.sqlite", max_age=3600), session=requests.Session(),
                      retry=RetryPolicy(retries=0))
    client = LastFmClient(http, api_key="SECRET")
    tl = lastfm_trends("geo", "Germany", client=client, limit=10)
    assert tl.source == "lastfm-geo" and tl.label == "Last.fm's top tracks in Germany this week"
    assert "method=geo.getTopTracks" in tl.request and "country=Germany" in tl.request and "SECRET" not in tl.request
    q = parse_qs(urlparse(responses.calls[0].request.url).query)
    assert q["method"] == ["geo.getTopTracks"] and q["country"] == ["Germany"] and q["limit"] == ["10"]
    lastfm_trends("geo", "Germany", client=client, limit=10)
    assert len(responses.calls) == 1  # fresh in the cache
    with pytest.raises(ValueError, match="needs a tag"):
        lastfm_trends("tag", "", client=client)


@responses.activate
def test_reddit_listing_is_rate_limited_and_cached(tmp_path: Path) -> None:
    url = "https://www.reddit.com/r/Music/top.json"
    responses.get(url, json=listing("Velvet Hours -- Paper Lanterns"))
    responses.get("https://www.reddit.com/r/listentothis/top.json", json=listing("Neon Harbor - Pulse City"))
    clock = FakeClock(start=0.0)
    http = HttpClient("reddit", RateLimiter(1 / 6, burst=1, clock=clock, name="reddit"), HttpCache(tmp_path / "h.sqlite"),
                      session=requests.Session(), retry=RetryPolicy(retries=0))
    a = reddit_trends("Music", http=http)
    b = reddit_trends("listentothis", http=http)
    assert a.label == "r/Music's top posts this week" and [m.title for m in b.mentions] == ["Pulse City"]
    assert clock.now() >= 6.0  # the second request waited for the limiter
    assert responses.calls[0].request.headers["User-Agent"]
    with pytest.raises(ValueError, match="not a subreddit"):
        reddit_trends("../etc", http=http)
