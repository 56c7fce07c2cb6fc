"""Genius client: find a song on Genius, fetch its lyrics page, and clean the lyrics.

Built on ``lyricsgenius``: :class:`GeniusClient` uses a subclass of ``lyricsgenius.Genius`` whose
single transport method (``_make_request``) is redirected through the shared
:class:`~musicgraph.loaders.http_cache.HttpClient`. So lyricsgenius still builds the API calls and
scrapes the lyrics out of the song page's HTML (the part that changes whenever genius.com changes
its markup), while every request gets the SQLite cache, offline mode, rate limiting, timeouts,
retries with backoff, and ``Retry-After`` on 429 — none of which lyricsgenius has (it sleeps a
fixed time, retries only 5xx, and cannot be given a cache or a test transport).

The API token comes from ``MUSICGRAPH_GENIUS_TOKEN``; without it (and not offline) the client
raises :class:`~musicgraph.loaders.http_cache.MissingCredentialError` saying so.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from musicgraph.loaders.http_cache import (
    ApiError,
    HttpCache,
    HttpClient,
    MalformedResponseError,
    MissingCredentialError,
    RetryPolicy,
    require_credential,
    service_client,
)
from musicgraph.loaders.matching import name_similarity, title_similarity
from musicgraph.loaders.ratelimit import Clock, RateLimiter

log = logging.getLogger(__name__)

SERVICE = "genius"
API_ROOT = "https://api.genius.com/"
WEB_ROOT = "https://genius.com/"
PUBLIC_API_ROOT = "https://genius.com/api/"
RATE_PER_SECOND = 2.0
TOKEN_VARIABLE = "MUSICGRAPH_GENIUS_TOKEN"

# ----------------------------------------------------------------------- cleaning
_SECTION = re.compile(r"^\s*\[[^\]\n]{0,80}\]\s*$", re.MULTILINE)
_INLINE_SECTION = re.compile(r"\[[^\]\n]{0,80}\]")
_HEADER = re.compile(
    r"^\s*(?:\d+\s*Contributors?)?(?:\s*Translations?(?:[A-Z][\w\u00C0-\u024F]*)*)?.*?Lyrics(?=\S|\s)",
    re.IGNORECASE,
)
_EMBED = re.compile(r"\s*(?:\d+)?\s*Embed\s*$", re.IGNORECASE)
_BOILERPLATE_LINES = (
    re.compile(r"^\s*You might also like\s*", re.IGNORECASE),
    re.compile(r"^See .{1,80} Live\s*Get tickets as low as \$\d+.*$", re.IGNORECASE),
    re.compile(r"^\s*Get tickets as low as \$\d+.*$", re.IGNORECASE),
    re.compile(r"^\s*\d*\s*Contributors?\s*$", re.IGNORECASE),
)


def clean_lyrics(text: str | None) -> str:
    """Lyrics text without section headers (``[Chorus]``), page header and Genius boilerplate.

    Removes the ``"<n> Contributors…<Title> Lyrics"`` page header, ``You might also like``,
    ``See <artist> Live / Get tickets…`` promotions and the trailing ``<n>Embed``; keeps verse
    breaks as one blank line.
    """
    if not text:
        return ""
    text = text.replace("\r\n", "\n").replace("\u2005", " ").replace("\u205f", " ").replace("\xa0", " ")
    lines = text.split("\n")
    if lines and "Lyrics" in lines[0] and (re.search(r"Contributors?|Translations?", lines[0]) or
                                           lines[0].rstrip().endswith("Lyrics")):
        head = _HEADER.sub("", lines[0], count=1)
        lines[0] = head if head != lines[0] else ""
    kept: list[str] = []
    for line in lines:
        for pattern in _BOILERPLATE_LINES:
            line = pattern.sub("", line)
        if _SECTION.match(line):
            kept.append("")
            continue
        line = _INLINE_SECTION.sub("", line).rstrip()
        kept.append(line)
    out = "\n".join(kept)
    out = _EMBED.sub("", out)
    out = re.sub(r"[ \t]+\n", "\n", out)
    out = re.sub(r"\n{3,}", "\n\n", out)
    return out.strip()


# ----------------------------------------------------------------------- records
@dataclass(slots=True)
class GeniusSong:
    """A song hit of a Genius search."""

    id: int
    title: str
    artist: str
    url: str
    full_title: str = ""
    lyrics_state: str = ""
    instrumental: bool = False


@dataclass(slots=True)
class GeniusMatch:
    """An accepted search hit with its confidence in [0, 1]."""

    artist: str
    title: str
    song: GeniusSong
    confidence: float


def parse_search_hits(data: Mapping[str, Any]) -> list[GeniusSong]:
    """Song hits of a ``search`` response (``{"hits": [...]}``) or a ``search/multi`` one (``sections``).

    Accepts the body with or without its ``{"meta", "response"}`` envelope.
    """
    if not isinstance(data, Mapping):
        raise MalformedResponseError(f"{SERVICE}: search response is not a JSON object", service=SERVICE)
    body = data.get("response", data)
    if not isinstance(body, Mapping):
        raise MalformedResponseError(f"{SERVICE}: search response has no object body", service=SERVICE)
    if "hits" in body:
        hits = list(body.get("hits") or [])
    elif "sections" in body:
        hits = [h for s in body.get("sections") or [] for h in (s or {}).get("hits") or []]
    else:
        raise MalformedResponseError(f"{SERVICE}: search response has neither 'hits' nor 'sections'",
                                     service=SERVICE)
    out: list[GeniusSong] = []
    seen: set[int] = set()
    for hit in hits:
        if not isinstance(hit, Mapping) or hit.get("type") != "song":
            continue
        r = hit.get("result") or {}
        try:
            song_id = int(r["id"])
        except (KeyError, TypeError, ValueError):
            continue
        if song_id in seen:
            continue
        seen.add(song_id)
        out.append(
            GeniusSong(
                id=song_id,
                title=str(r.get("title") or ""),
                artist=str((r.get("primary_artist") or {}).get("name") or ""),
                url=str(r.get("url") or (WEB_ROOT.rstrip("/") + str(r.get("path") or ""))),
                full_title=str(r.get("full_title") or ""),
                lyrics_state=str(r.get("lyrics_state") or ""),
                instrumental=bool(r.get("instrumental")),
            )
        )
    return out


def best_song_match(
    artist: str, title: str, songs: list[GeniusSong], min_confidence: float = 0.8
) -> GeniusMatch | None:
    """The hit whose title and primary artist both agree with ``artist``/``title``, or None."""
    best: GeniusMatch | None = None
    for song in songs:
        conf = title_similarity(title, song.title) * name_similarity(artist, song.artist)
        if best is None or conf > best.confidence:
            best = GeniusMatch(artist, title, song, round(conf, 4))
    if best is None or best.confidence < min_confidence:
        return None
    return best


# ----------------------------------------------------------------------- client
def _lyricsgenius_class() -> type:
    import lyricsgenius

    class _RoutedGenius(lyricsgenius.Genius):  # type: ignore[misc]
        """lyricsgenius with its transport replaced by musicgraph's cached HttpClient."""

        _mg_http: HttpClient

        def _make_request(
            self,
            path: str,
            method: str = "GET",
            params_: Any = None,
            public_api: bool = False,
            web: bool = False,
            **kwargs: Any,
        ) -> dict[str, Any]:
            if method != "GET":
                raise ValueError(f"{SERVICE}: only GET requests are supported, not {method}")
            root = PUBLIC_API_ROOT if public_api else WEB_ROOT if web else API_ROOT
            params = dict(params_ or {})
            if web:
                return {"html": self._mg_http.get(root + path, params, accept="text/html").text}
            data = self._mg_http.get_json(root + path, params)
            if not isinstance(data, Mapping):
                raise MalformedResponseError(f"{SERVICE}: {path}: expected a JSON object", service=SERVICE)
            return dict(data.get("response", data))

    return _RoutedGenius


class GeniusClient:
    """Genius search and lyrics (see the module docstring).

    Args:
        http: a ready :class:`HttpClient` (tests); otherwise built from the other arguments.
        token: API token (default: ``Settings.genius_token``, from ``MUSICGRAPH_GENIUS_TOKEN``).
        cache / session / offline / clock / retry: as for the other clients.
        min_confidence: lowest accepted match confidence.
    """

    service = SERVICE

    def __init__(
        self,
        http: HttpClient | None = None,
        *,
        token: str | None = None,
        cache: HttpCache | None = None,
        session: Any = None,
        offline: bool | None = None,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 10.0,
        min_confidence: float = 0.8,
    ) -> None:
        from musicgraph.config import get_settings

        token = token if token is not None else get_settings().genius_token
        offline = require_credential(
            SERVICE, token,
            f"Genius needs an API token: set {TOKEN_VARIABLE} (create one at "
            "https://genius.com/api-clients), or use --offline to serve cached responses only", http, offline,
        )
        if http is None:
            http = service_client(SERVICE, RATE_PER_SECOND, cache=cache, session=session, clock=clock, retry=retry,
                                  offline=offline, timeout=timeout)
        http.offline = offline
        if token:
            http.headers["Authorization"] = f"Bearer {token}"
        self.http = http
        self.min_confidence = min_confidence
        genius_cls = _lyricsgenius_class()
        # The token is only sent by our HttpClient; lyricsgenius merely needs a non-empty one.
        self._genius = genius_cls(access_token=token or "offline", timeout=int(timeout), retries=0, sleep_time=0)
        self._genius._mg_http = http

    @property
    def limiter(self) -> RateLimiter:
        return self.http.limiter

    def search(self, query: str, per_page: int = 5) -> list[GeniusSong]:
        """Song hits of a Genius API search."""
        if not query.strip():
            raise ValueError("Genius search: empty query")
        try:
            data = self._genius.search_songs(query, per_page=per_page)
        except ApiError as exc:
            if exc.status == 401:
                raise MissingCredentialError(
                    f"Genius rejected the token (HTTP 401): check {TOKEN_VARIABLE}", service=SERVICE,
                    url=exc.url, status=401,
                ) from exc
            raise
        return parse_search_hits(data)

    def resolve_song(self, artist: str, title: str) -> GeniusMatch | None:
        """The confident Genius match of a song, or None."""
        return best_song_match(artist, title, self.search(f"{title} {artist}"), self.min_confidence)

    def lyrics(self, song: GeniusSong | str) -> str | None:
        """Cleaned lyrics of a song (a hit or its URL); None when the page has none."""
        url = song.url if isinstance(song, GeniusSong) else str(song)
        if not url.startswith(WEB_ROOT):
            raise ValueError(f"Genius lyrics: not a genius.com song URL: {url!r}")
        raw = self._genius.lyrics(song_url=url, remove_section_headers=False)
        text = clean_lyrics(raw)
        return text or None
