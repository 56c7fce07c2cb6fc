"""Last.fm client: similar artists, top tags of artists and tracks, a user's recent tracks.

Uses the plain REST API (``format=json``) rather than ``pylast``'s object layer: pylast parses XML,
sends through its own ``httpx`` client (no injectable transport for tests) and caches in a shelve
file without offline mode. Here every call goes through the shared
:class:`~musicgraph.loaders.http_cache.HttpClient` (SQLite cache, offline mode, rate limit,
retries). ``pylast`` still supplies the meaning of Last.fm's error codes (``pylast.STATUS_*``):
temporary ones (operation failed, service offline, temporarily unavailable, rate limit exceeded)
are retried with backoff and never cached; "not found" is cached as a definite answer; a bad or
suspended key raises :class:`~musicgraph.loaders.http_cache.MissingCredentialError` naming
``MUSICGRAPH_LASTFM_API_KEY``.

Last.fm asks for at most five requests per second; the limiter allows four.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from musicgraph.loaders.http_cache import (
    ApiUnavailableError,
    HttpCache,
    HttpClient,
    MalformedResponseError,
    MissingCredentialError,
    NotFoundError,
    RateLimitedError,
    RetryPolicy,
    require_credential,
    service_client,
)
from musicgraph.loaders.musicbrainz import TagCount
from musicgraph.loaders.ratelimit import Clock, RateLimiter

log = logging.getLogger(__name__)

SERVICE = "lastfm"
API_ROOT = "https://ws.audioscrobbler.com/2.0/"
RATE_PER_SECOND = 4.0
KEY_VARIABLE = "MUSICGRAPH_LASTFM_API_KEY"

# Last.fm error codes (the values of pylast.STATUS_*; kept literal so that importing this module
# stays light, and checked against pylast in the tests).
STATUS_INVALID_PARAMS = 6
STATUS_INVALID_RESOURCE = 7
STATUS_OPERATION_FAILED = 8
STATUS_INVALID_API_KEY = 10
STATUS_OFFLINE = 11
STATUS_TEMPORARILY_UNAVAILABLE = 16
STATUS_API_KEY_SUSPENDED = 26
STATUS_RATE_LIMIT_EXCEEDED = 29

TEMPORARY_ERRORS = frozenset(
    {STATUS_OPERATION_FAILED, STATUS_OFFLINE, STATUS_TEMPORARILY_UNAVAILABLE, STATUS_RATE_LIMIT_EXCEEDED}
)
NOT_FOUND_ERRORS = frozenset({STATUS_INVALID_PARAMS, STATUS_INVALID_RESOURCE})
KEY_ERRORS = frozenset({STATUS_INVALID_API_KEY, STATUS_API_KEY_SUSPENDED, 4})


@dataclass(slots=True)
class SimilarArtist:
    """A similar artist with Last.fm's match in [0, 1]."""

    name: str
    match: float
    mbid: str | None = None


@dataclass(slots=True)
class Scrobble:
    """One track of a user's listening history."""

    artist: str
    title: str
    album: str = ""
    artist_mbid: str | None = None
    mbid: str | None = None
    album_mbid: str | None = None
    uts: int | None = None
    now_playing: bool = False


@dataclass(slots=True)
class RecentTracksPage:
    """One page of ``user.getRecentTracks``."""

    user: str
    page: int
    total_pages: int
    total: int
    tracks: list[Scrobble] = field(default_factory=list)


def _as_list(value: Any) -> list[Any]:
    """Last.fm's JSON turns one-item lists into the item itself; undo that."""
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, list) else [value]


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _text(value: Any) -> str:
    if isinstance(value, Mapping):
        return str(value.get("#text") or value.get("name") or "")
    return str(value or "")


def _mbid(value: Any) -> str | None:
    text = value.get("mbid") if isinstance(value, Mapping) else value
    return str(text) if text else None


def _section(data: Any, key: str, method: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping) or not isinstance(data.get(key), Mapping):
        raise MalformedResponseError(f"{SERVICE}: {method} response has no {key!r} object", service=SERVICE)
    return data[key]


def parse_similar(data: Any) -> list[SimilarArtist]:
    """``artist.getSimilar`` → similar artists, best match first."""
    out = []
    for a in _as_list(_section(data, "similarartists", "artist.getSimilar").get("artist")):
        if isinstance(a, Mapping) and a.get("name"):
            try:
                match = float(a.get("match") or 0.0)
            except (TypeError, ValueError):
                match = 0.0
            out.append(SimilarArtist(str(a["name"]), max(0.0, min(1.0, match)), _mbid(a)))
    out.sort(key=lambda s: -s.match)
    return out


def parse_top_tags(data: Any, method: str = "getTopTags") -> list[TagCount]:
    """``artist.getTopTags`` / ``track.getTopTags`` → tags with Last.fm's 0-100 weight, best first."""
    out = [
        TagCount(str(t["name"]), _int(t.get("count")))
        for t in _as_list(_section(data, "toptags", method).get("tag"))
        if isinstance(t, Mapping) and t.get("name")
    ]
    out.sort(key=lambda t: (-t.count, t.name))
    return out


def parse_recent_tracks(data: Any) -> RecentTracksPage:
    """``user.getRecentTracks`` → one page of scrobbles (the now-playing one flagged)."""
    section = _section(data, "recenttracks", "user.getRecentTracks")
    attr = section.get("@attr") or {}
    tracks = []
    for t in _as_list(section.get("track")):
        if not isinstance(t, Mapping):
            continue
        date = t.get("date")
        tracks.append(
            Scrobble(
                artist=_text(t.get("artist")),
                title=str(t.get("name") or ""),
                album=_text(t.get("album")),
                artist_mbid=_mbid(t.get("artist")),
                mbid=_mbid(t),
                album_mbid=_mbid(t.get("album")),
                uts=_int(date.get("uts"), 0) or None if isinstance(date, Mapping) else None,
                now_playing=str((t.get("@attr") or {}).get("nowplaying", "")).lower() == "true",
            )
        )
    return RecentTracksPage(
        user=str(attr.get("user") or ""),
        page=_int(attr.get("page"), 1),
        total_pages=_int(attr.get("totalPages"), 1),
        total=_int(attr.get("total"), len(tracks)),
        tracks=tracks,
    )


class LastFmClient:
    """Last.fm REST client (see the module docstring).

    Args:
        http: a ready :class:`HttpClient` (tests); otherwise built from the other arguments.
        api_key: key (default: ``Settings.lastfm_api_key``, from ``MUSICGRAPH_LASTFM_API_KEY``).
        cache / session / offline / clock / retry: as for the other clients.
    """

    service = SERVICE

    def __init__(
        self,
        http: HttpClient | None = None,
        *,
        api_key: str | None = None,
        cache: HttpCache | None = None,
        session: Any = None,
        offline: bool | None = None,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        base_url: str = API_ROOT,
    ) -> None:
        from musicgraph.config import get_settings

        api_key = api_key if api_key is not None else get_settings().lastfm_api_key
        offline = require_credential(
            SERVICE, api_key,
            f"Last.fm needs an API key: set {KEY_VARIABLE} (get one at https://www.last.fm/api/account/create), "
            "or use --offline to serve cached responses only", http, offline,
        )
        if http is None:
            http = service_client(SERVICE, RATE_PER_SECOND, cache=cache, session=session, clock=clock, retry=retry,
                                  offline=offline)
        http.offline = offline
        self.http = http
        self.api_key = api_key or ""
        self.base_url = base_url

    @property
    def limiter(self) -> RateLimiter:
        return self.http.limiter

    def call(self, method: str, **params: Any) -> Any:
        """One API method call; returns the parsed JSON body or raises an ``ApiError`` subclass."""
        query = {"method": method, "format": "json", **{k: v for k, v in params.items() if v is not None}}
        if self.api_key:
            query["api_key"] = self.api_key
        policy = self.http.retry
        for attempt in range(policy.retries + 1):
            response = self.http.get(self.base_url, query, raise_for_status=False, cache_statuses=(200, 404))
            try:
                data = response.json()
            except MalformedResponseError:
                self.http.forget(self.base_url, query)
                raise
            code = _int(data.get("error"), 0) if isinstance(data, Mapping) else 0
            message = str(data.get("message") or "") if isinstance(data, Mapping) else ""
            if not code and response.status < 400:
                return data
            where = f"{method} {_describe(params)}"
            if code in NOT_FOUND_ERRORS or (not code and response.status == 404):
                raise NotFoundError(f"{SERVICE}: {where}: {message or 'not found'}", service=SERVICE,
                                    url=response.url, status=response.status)
            self.http.forget(self.base_url, query)
            if code in KEY_ERRORS:
                raise MissingCredentialError(
                    f"{SERVICE}: the API key was rejected ({message or code}): check {KEY_VARIABLE}",
                    service=SERVICE, url=response.url, status=response.status,
                )
            if code not in TEMPORARY_ERRORS:
                raise MalformedResponseError(
                    f"{SERVICE}: {where}: error {code or response.status}: {message}", service=SERVICE,
                    url=response.url, status=response.status,
                )
            if attempt < policy.retries:
                delay = policy.delay(attempt)
                log.warning("%s: %s: error %d (%s); retry in %.1fs", SERVICE, where, code, message, delay)
                self.http.clock.sleep(delay)
        error_cls = RateLimitedError if code == STATUS_RATE_LIMIT_EXCEEDED else ApiUnavailableError
        raise error_cls(
            f"{SERVICE}: {method}: error {code} ({message}) after {policy.retries + 1} tries",
            service=SERVICE, url=self.base_url, status=response.status,
        )

    def artist_similar(self, artist: str, limit: int = 50) -> list[SimilarArtist]:
        """``artist.getSimilar``."""
        return parse_similar(self.call("artist.getSimilar", artist=artist, limit=limit, autocorrect=1))

    def artist_top_tags(self, artist: str) -> list[TagCount]:
        """``artist.getTopTags``."""
        return parse_top_tags(self.call("artist.getTopTags", artist=artist, autocorrect=1), "artist.getTopTags")

    def track_top_tags(self, artist: str, track: str) -> list[TagCount]:
        """``track.getTopTags``."""
        return parse_top_tags(
            self.call("track.getTopTags", artist=artist, track=track, autocorrect=1), "track.getTopTags"
        )

    def user_recent_tracks(self, user: str, limit: int = 50, page: int = 1) -> RecentTracksPage:
        """One page of ``user.getRecentTracks`` (most recent first)."""
        if not user.strip():
            raise ValueError("Last.fm user.getRecentTracks: empty user name")
        return parse_recent_tracks(self.call("user.getRecentTracks", user=user, limit=limit, page=page))

    def iter_recent_tracks(self, user: str, max_pages: int = 5, limit: int = 200) -> Iterator[Scrobble]:
        """Scrobbles across pages (skipping the now-playing track), at most ``max_pages`` pages."""
        page = 1
        while page <= max_pages:
            result = self.user_recent_tracks(user, limit=limit, page=page)
            yield from (t for t in result.tracks if not t.now_playing)
            if page >= result.total_pages:
                break
            page += 1


def _describe(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in params.items() if k in ("artist", "track", "user"))
