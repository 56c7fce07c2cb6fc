"""Current popularity: Last.fm's top-track charts and a public Reddit listing, as ranked mentions.

Sources (all through the shared :class:`~musicgraph.loaders.http_cache.HttpClient`: rate limits,
retries, ``Retry-After``, the SQLite cache with a freshness limit, offline mode):

* Last.fm ``chart.getTopTracks`` (worldwide), ``geo.getTopTracks`` (``country``, an ISO 3166-1 country
  name such as ``Germany``) and ``tag.getTopTracks`` (``tag``), through
  :class:`~musicgraph.loaders.lastfm.LastFmClient` (``MUSICGRAPH_LASTFM_API_KEY``). Answer shape::

      {"tracks": {"track": [{"name": "Song", "playcount": "123", "listeners": "45",
                             "artist": {"name": "Artist"}, "@attr": {"rank": "0"}}, ...],
                  "@attr": {"page": "1", "perPage": "50", "totalPages": "20", "total": "1000"}}}

* A public Reddit listing (``https://www.reddit.com/r/<subreddit>/top.json?t=week``, no login):
  ``{"kind": "Listing", "data": {"children": [{"kind": "t3", "data": {"title", "score", "permalink",
  "created_utc", "stickied", ...}}]}}``. Titles are parsed into mentions: r/Music's rule asks for
  ``Artist -- Title [genre] (year)``; ``Artist - Title`` is read too. A title that is not of that form
  gives no mention (it is counted as unparsed). Reddit asks for at most 10 unauthenticated requests a
  minute and a descriptive User-Agent; the limiter allows one request every 6 seconds.

Every :class:`TrendList` keeps its provenance: the source, the request (without the API key) and
when it was fetched.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from musicgraph.loaders.http_cache import (
    HttpCache,
    HttpClient,
    MalformedResponseError,
    RetryPolicy,
    canonical_request,
    service_client,
)
from musicgraph.loaders.ratelimit import Clock

log = logging.getLogger(__name__)

REDDIT_ROOT = "https://www.reddit.com/"
REDDIT_RATE_PER_SECOND = 1 / 6
#: Trend answers older than this are fetched again (the charts move weekly, Reddit daily).
FRESH_SECONDS = 6 * 3600

_SEP = re.compile(r"\s+(?:--|-|–|—)\s+")
_TAIL = re.compile(r"(\s*(\[[^\]]*\]|\([^)]*\)))+\s*$")
_SUBREDDIT = re.compile(r"^[A-Za-z0-9_]{2,21}$")


@dataclass(slots=True)
class Mention:
    """One ranked mention: a song (artist and title) or an artist alone."""

    artist: str
    title: str | None
    rank: int
    score: float = 0.0


@dataclass(slots=True)
class TrendList:
    """A ranked list from one source, with its provenance."""

    source: str  # lastfm-chart | lastfm-geo | lastfm-tag | reddit
    label: str  # how explanations name it: "Last.fm's top tracks this week", "r/Music's top posts this week"
    request: str
    fetched_at: float
    mentions: list[Mention] = field(default_factory=list)
    unparsed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "label": self.label, "request": self.request, "fetched_at": self.fetched_at,
                "unparsed": self.unparsed,
                "mentions": [{"artist": m.artist, "title": m.title, "rank": m.rank, "score": m.score} for m in self.mentions]}


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def parse_top_tracks(data: Any, method: str) -> list[Mention]:
    """``chart.getTopTracks`` / ``geo.getTopTracks`` / ``tag.getTopTracks`` → song mentions, rank 1 first."""
    section = data.get("tracks") if isinstance(data, Mapping) else None
    if not isinstance(section, Mapping):
        raise MalformedResponseError(f"lastfm: {method} answer has no 'tracks' object", service="lastfm")
    raw = section.get("track") or []
    tracks = raw if isinstance(raw, list) else [raw]
    out = []
    for n, t in enumerate(tracks, start=1):
        if not isinstance(t, Mapping):
            continue
        artist = t.get("artist")
        name = artist.get("name") or artist.get("#text") if isinstance(artist, Mapping) else artist
        title = t.get("name")
        if not name or not title:
            continue
        attr = t.get("@attr") or {}
        rank = _int(attr.get("rank"), n - 1) + 1 if isinstance(attr, Mapping) and "rank" in attr else n
        score = float(_int(t.get("playcount")) or _int(t.get("listeners")))
        out.append(Mention(str(name).strip(), str(title).strip(), rank, score))
    out.sort(key=lambda m: m.rank)
    return out


def parse_post_title(title: str) -> tuple[str, str] | None:
    """``"Artist -- Title [genre] (year)"`` → (artist, title); None when the title is not of that form."""
    text = " ".join(str(title).split())
    text = _TAIL.sub("", text).strip()
    parts = _SEP.split(text, maxsplit=1)
    if len(parts) != 2:
        return None
    artist, song = parts[0].strip(" \"'"), parts[1].strip(" \"'")
    if not artist or not song or len(artist) > 80 or len(song) > 120:
        return None
    return artist, song


def parse_reddit_listing(data: Any) -> tuple[list[Mention], int]:
    """A Reddit listing → (song mentions ranked by post order, number of posts not parsed)."""
    listing = data.get("data") if isinstance(data, Mapping) else None
    if not isinstance(listing, Mapping) or not isinstance(listing.get("children"), list):
        raise MalformedResponseError("reddit: listing has no data.children list", service="reddit")
    out: list[Mention] = []
    unparsed = 0
    for child in listing["children"]:
        post = child.get("data") if isinstance(child, Mapping) else None
        if not isinstance(post, Mapping) or post.get("stickied"):
            continue
        parsed = parse_post_title(str(post.get("title") or ""))
        if parsed is None:
            unparsed += 1
            continue
        out.append(Mention(parsed[0], parsed[1], len(out) + 1, float(_int(post.get("score")))))
    return out, unparsed


def _client(service: str, rate: float, cache: HttpCache | None, session: Any, clock: Clock | None,
            retry: RetryPolicy | None, offline: bool | None) -> HttpClient:
    from musicgraph import __version__
    from musicgraph.config import get_settings

    settings = get_settings()
    if cache is None:
        cache = HttpCache(settings.cache_dir / "http.sqlite", max_age=FRESH_SECONDS)
    return service_client(service, rate, user_agent=f"python:musicgraph:{__version__} (trends; {settings.contact})",
                          cache=cache, session=session, clock=clock, retry=retry, offline=offline)


def lastfm_trends(
    kind: str, value: str | None = None, *, client: Any = None, limit: int = 50
) -> TrendList:
    """One Last.fm chart: ``kind`` is ``chart`` (worldwide), ``geo`` (``value`` = country) or ``tag``
    (``value`` = tag). ``client``: a :class:`~musicgraph.loaders.lastfm.LastFmClient` (default: one whose
    cache refetches answers older than :data:`FRESH_SECONDS`)."""
    from musicgraph.loaders.lastfm import API_ROOT, RATE_PER_SECOND, LastFmClient

    methods = {"chart": ("chart.getTopTracks", None), "geo": ("geo.getTopTracks", "country"),
               "tag": ("tag.getTopTracks", "tag")}
    if kind not in methods:
        raise ValueError(f"unknown Last.fm chart {kind!r}; expected chart, geo or tag")
    method, param = methods[kind]
    if param and not (value or "").strip():
        raise ValueError(f"Last.fm {method} needs a {param}")
    if client is None:
        client = LastFmClient(_client("lastfm", RATE_PER_SECOND, None, None, None, None, None))
    params: dict[str, Any] = {"limit": limit}
    if param:
        params[param] = value
    data = client.call(method, **params)
    label = {"chart": "Last.fm's top tracks this week", "geo": f"Last.fm's top tracks in {value} this week",
             "tag": f"Last.fm's top {value} tracks"}[kind]
    request = canonical_request("GET", API_ROOT, {"method": method, "format": "json", **params})
    return TrendList(f"lastfm-{kind}", label, request, time.time(), parse_top_tracks(data, method))


def reddit_trends(
    subreddit: str = "Music", period: str = "week", *, http: HttpClient | None = None, limit: int = 100
) -> TrendList:
    """The top posts of a subreddit (public listing JSON) as song mentions."""
    if not _SUBREDDIT.match(subreddit):
        raise ValueError(f"not a subreddit name: {subreddit!r}")
    if period not in ("hour", "day", "week", "month", "year", "all"):
        raise ValueError(f"period must be hour, day, week, month, year or all, got {period!r}")
    http = http or _client("reddit", REDDIT_RATE_PER_SECOND, None, None, None, None, None)
    url = f"{REDDIT_ROOT}r/{subreddit}/top.json"
    params = {"t": period, "limit": min(limit, 100), "raw_json": 1}
    mentions, unparsed = parse_reddit_listing(http.get_json(url, params))
    when = {"week": "this week", "day": "today", "month": "this month"}.get(period, f"({period})")
    return TrendList("reddit", f"r/{subreddit}'s top posts {when}", canonical_request("GET", url, params), time.time(),
                     mentions, unparsed)
