"""MusicBrainz WS/2 client: resolve artists and recordings to MBIDs and fetch their facts.

Why not call ``musicbrainzngs`` directly? It fetches XML through its own urllib opener, keeps its
User-Agent, host and rate limit in module globals, and offers no hook for a response cache or an
injected transport. This client therefore sends the WS/2 **JSON** API (``fmt=json``) through the
shared :class:`~musicgraph.loaders.http_cache.HttpClient` (SQLite cache, offline mode, retries with
exponential backoff on 503 and network errors, injectable ``requests`` session for tests), and
takes from ``musicbrainzngs`` what it standardizes: its User-Agent convention
(``app/version python-musicbrainzngs/x.y ( contact )``, required by MusicBrainz) and its tables of
valid ``inc`` parameters, against which every lookup is checked.

MusicBrainz allows one request per second per client; the limiter enforces it (``rate=1.0``).

Matching: a search hit is accepted only when MusicBrainz's own score is at least ``min_score``
(0-100) **and** the names agree (:func:`~musicgraph.loaders.matching.name_similarity`); the match
confidence is ``score/100 * similarity`` (times 0.95 when another hit has the same name and a close
score, i.e. the name is ambiguous), and must reach ``min_confidence``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from musicgraph.loaders.http_cache import (
    HttpCache,
    HttpClient,
    MalformedResponseError,
    RetryPolicy,
    service_client,
)
from musicgraph.loaders.matching import name_similarity, title_similarity, year_of
from musicgraph.loaders.ratelimit import Clock, RateLimiter

log = logging.getLogger(__name__)

SERVICE = "musicbrainz"
DEFAULT_BASE_URL = "https://musicbrainz.org/ws/2"
#: MusicBrainz's rule: at most one request per second.
RATE_PER_SECOND = 1.0

ARTIST_INCLUDES: tuple[str, ...] = ("aliases", "genres", "tags", "artist-rels")
RECORDING_INCLUDES: tuple[str, ...] = ("artist-credits", "releases", "isrcs", "genres", "tags")
#: Artist-artist relationship types that become ``MEMBER_OF`` (member → group).
MEMBERSHIP_TYPES: frozenset[str] = frozenset({"member of band", "collaboration", "subgroup"})

_LUCENE_SPECIAL = re.compile(r'([+\-&|!(){}\[\]^"~*?:\\/])')


def user_agent(contact: str, app: str = "musicgraph", version: str | None = None) -> str:
    """The User-Agent MusicBrainz asks for, in the format ``musicbrainzngs.set_useragent`` builds."""
    import musicbrainzngs.musicbrainz as mbz

    if version is None:
        from musicgraph import __version__ as version
    contact = (contact or "").strip()
    if not contact:
        raise ValueError("MusicBrainz needs a contact in the User-Agent: set MUSICGRAPH_CONTACT")
    return f"{app}/{version} python-musicbrainzngs/{mbz._version} ( {contact} )"


def check_includes(entity: str, includes: Iterable[str]) -> list[str]:
    """Return ``includes`` if WS/2 accepts each for ``entity`` (per musicbrainzngs), else ValueError."""
    import musicbrainzngs.musicbrainz as mbz

    valid = set(mbz.VALID_INCLUDES.get(entity, ())) | {"genres", "user-genres"}
    wrong = [inc for inc in includes if inc not in valid]
    if wrong:
        raise ValueError(f"MusicBrainz {entity} lookup: invalid inc {wrong}; valid: {sorted(valid)}")
    return list(includes)


def lucene_quote(text: str) -> str:
    """A phrase for a Lucene search query, with special characters escaped."""
    return '"' + _LUCENE_SPECIAL.sub(r"\\\1", text.strip()) + '"'


# --------------------------------------------------------------------------- records
@dataclass(slots=True)
class TagCount:
    """A tag or genre with its vote count."""

    name: str
    count: int = 0


@dataclass(slots=True)
class ArtistCandidate:
    """One hit of an artist search."""

    mbid: str
    name: str
    score: int
    sort_name: str = ""
    type: str | None = None
    country: str | None = None
    disambiguation: str = ""
    aliases: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ArtistMatch:
    """An accepted artist search hit with its confidence in [0, 1]."""

    query: str
    candidate: ArtistCandidate
    confidence: float

    @property
    def mbid(self) -> str:
        return self.candidate.mbid


@dataclass(slots=True)
class Relation:
    """An artist-artist relationship as seen from the looked-up artist."""

    type: str
    direction: str
    target_mbid: str
    target_name: str
    begin: str | None = None
    end: str | None = None
    ended: bool = False
    attributes: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Membership:
    """``member`` belongs to ``group`` (a band, a collaboration or a subgroup's parent)."""

    member_mbid: str
    member_name: str
    group_mbid: str
    group_name: str
    relation: str
    begin: str | None = None
    end: str | None = None


@dataclass(slots=True)
class ArtistInfo:
    """An artist lookup: identity, life span, genres/tags and artist relations."""

    mbid: str
    name: str
    sort_name: str = ""
    type: str | None = None
    country: str | None = None
    disambiguation: str = ""
    begin: str | None = None
    end: str | None = None
    ended: bool = False
    aliases: list[str] = field(default_factory=list)
    genres: list[TagCount] = field(default_factory=list)
    tags: list[TagCount] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)

    @property
    def begin_year(self) -> int | None:
        return year_of(self.begin)

    @property
    def end_year(self) -> int | None:
        return year_of(self.end)

    def memberships(self) -> list[Membership]:
        """Member-of relations involving this artist, oriented member → group."""
        out: list[Membership] = []
        for rel in self.relations:
            if rel.type not in MEMBERSHIP_TYPES:
                continue
            me, other = (self.mbid, self.name), (rel.target_mbid, rel.target_name)
            # "forward": this artist is the member of the target; "backward": the target is.
            member, group = (me, other) if rel.direction == "forward" else (other, me)
            out.append(Membership(member[0], member[1], group[0], group[1], rel.type, rel.begin, rel.end))
        return out


@dataclass(slots=True)
class ReleaseRef:
    """A release a recording appears on."""

    mbid: str
    title: str
    date: str | None = None
    status: str | None = None
    country: str | None = None


@dataclass(slots=True)
class RecordingCandidate:
    """One hit of a recording search."""

    mbid: str
    title: str
    score: int
    artist_credit: str
    artists: list[tuple[str, str]] = field(default_factory=list)
    first_release_date: str | None = None
    video: bool = False


@dataclass(slots=True)
class RecordingMatch:
    """An accepted recording search hit with its confidence in [0, 1]."""

    artist: str
    title: str
    candidate: RecordingCandidate
    confidence: float

    @property
    def mbid(self) -> str:
        return self.candidate.mbid


@dataclass(slots=True)
class RecordingInfo:
    """A recording lookup: title, credits, first release date, ISRCs, releases, genres and tags."""

    mbid: str
    title: str
    length_ms: int | None = None
    first_release_date: str | None = None
    disambiguation: str = ""
    video: bool = False
    artist_credit: str = ""
    artists: list[tuple[str, str]] = field(default_factory=list)
    isrcs: list[str] = field(default_factory=list)
    releases: list[ReleaseRef] = field(default_factory=list)
    genres: list[TagCount] = field(default_factory=list)
    tags: list[TagCount] = field(default_factory=list)

    @property
    def year(self) -> int | None:
        """Year of the first release (the recording's, else the earliest release's)."""
        years = [y for y in [year_of(self.first_release_date), *(year_of(r.date) for r in self.releases)] if y]
        return min(years) if years else None

    def first_release(self) -> ReleaseRef | None:
        """The earliest dated official release (else the earliest dated, else the first)."""
        dated = [r for r in self.releases if year_of(r.date)]
        official = [r for r in dated if (r.status or "").lower() == "official"]
        pool = official or dated
        if pool:
            return min(pool, key=lambda r: str(r.date))
        return self.releases[0] if self.releases else None


# --------------------------------------------------------------------------- parsers
def _require(data: Any, key: str, what: str) -> Any:
    if not isinstance(data, Mapping) or data.get(key) in (None, ""):
        raise MalformedResponseError(f"{SERVICE}: {what} has no {key!r} field", service=SERVICE)
    return data[key]


def _tag_counts(items: Any) -> list[TagCount]:
    out: list[TagCount] = []
    for item in items or []:
        if isinstance(item, Mapping) and item.get("name"):
            try:
                count = int(item.get("count") or 0)
            except (TypeError, ValueError):
                count = 0
            out.append(TagCount(str(item["name"]), count))
    out.sort(key=lambda t: (-t.count, t.name))
    return out


def _aliases(items: Any) -> list[str]:
    """The names of an ``aliases`` list."""
    return [str(a["name"]) for a in items or [] if isinstance(a, Mapping) and a.get("name")]


def _search_hits(data: Any, key: str, what: str) -> list[Mapping[str, Any]]:
    """The hits (with an ``id``) of a search answer's ``key`` list, or :class:`MalformedResponseError`."""
    if not isinstance(data, Mapping) or not isinstance(data.get(key), list):
        raise MalformedResponseError(f"{SERVICE}: {what} search has no {key!r} list", service=SERVICE)
    return [hit for hit in data[key] if isinstance(hit, Mapping) and hit.get("id")]


def _credit(credits: Any) -> tuple[str, list[tuple[str, str]]]:
    """(display credit, [(mbid, name)]) of an ``artist-credit`` list."""
    text = ""
    artists: list[tuple[str, str]] = []
    for part in credits or []:
        if not isinstance(part, Mapping):
            continue
        artist = part.get("artist") or {}
        name = part.get("name") or artist.get("name") or ""
        text += str(name) + str(part.get("joinphrase") or "")
        if artist.get("id"):
            artists.append((str(artist["id"]), str(artist.get("name") or name)))
    return text, artists


def parse_artist(data: Mapping[str, Any]) -> ArtistInfo:
    """An :class:`ArtistInfo` from a WS/2 JSON artist lookup."""
    mbid = str(_require(data, "id", "artist lookup"))
    name = str(_require(data, "name", f"artist {mbid}"))
    life = data.get("life-span") or {}
    relations: list[Relation] = []
    for rel in data.get("relations") or []:
        target = rel.get("artist") if isinstance(rel, Mapping) else None
        if not isinstance(target, Mapping) or not target.get("id"):
            continue
        relations.append(
            Relation(
                type=str(rel.get("type") or ""),
                direction=str(rel.get("direction") or "forward"),
                target_mbid=str(target["id"]),
                target_name=str(target.get("name") or ""),
                begin=rel.get("begin"),
                end=rel.get("end"),
                ended=bool(rel.get("ended")),
                attributes=[str(a) for a in rel.get("attributes") or []],
            )
        )
    return ArtistInfo(
        mbid=mbid,
        name=name,
        sort_name=str(data.get("sort-name") or ""),
        type=data.get("type"),
        country=data.get("country"),
        disambiguation=str(data.get("disambiguation") or ""),
        begin=life.get("begin"),
        end=life.get("end"),
        ended=bool(life.get("ended")),
        aliases=_aliases(data.get("aliases")),
        genres=_tag_counts(data.get("genres")),
        tags=_tag_counts(data.get("tags")),
        relations=relations,
    )


def parse_recording(data: Mapping[str, Any]) -> RecordingInfo:
    """A :class:`RecordingInfo` from a WS/2 JSON recording lookup (or search hit)."""
    mbid = str(_require(data, "id", "recording lookup"))
    title = str(_require(data, "title", f"recording {mbid}"))
    credit, artists = _credit(data.get("artist-credit"))
    releases = [
        ReleaseRef(
            mbid=str(r["id"]),
            title=str(r.get("title") or ""),
            date=r.get("date") or None,
            status=r.get("status"),
            country=r.get("country"),
        )
        for r in data.get("releases") or []
        if isinstance(r, Mapping) and r.get("id")
    ]
    length = data.get("length")
    return RecordingInfo(
        mbid=mbid,
        title=title,
        length_ms=int(length) if isinstance(length, (int, float)) else None,
        first_release_date=data.get("first-release-date") or None,
        disambiguation=str(data.get("disambiguation") or ""),
        video=bool(data.get("video")),
        artist_credit=credit,
        artists=artists,
        isrcs=[str(i) for i in data.get("isrcs") or [] if i],
        releases=releases,
        genres=_tag_counts(data.get("genres")),
        tags=_tag_counts(data.get("tags")),
    )


def parse_artist_search(data: Mapping[str, Any]) -> list[ArtistCandidate]:
    """Hits of an artist search (``{"artists": [...]}``), best first."""
    out = []
    for a in _search_hits(data, "artists", "artist"):
        out.append(
            ArtistCandidate(
                mbid=str(a["id"]),
                name=str(a.get("name") or ""),
                score=int(a.get("score") or 0),
                sort_name=str(a.get("sort-name") or ""),
                type=a.get("type"),
                country=a.get("country"),
                disambiguation=str(a.get("disambiguation") or ""),
                aliases=_aliases(a.get("aliases")),
            )
        )
    return out


def parse_recording_search(data: Mapping[str, Any]) -> list[RecordingCandidate]:
    """Hits of a recording search (``{"recordings": [...]}``), best first."""
    out = []
    for r in _search_hits(data, "recordings", "recording"):
        credit, artists = _credit(r.get("artist-credit"))
        out.append(
            RecordingCandidate(
                mbid=str(r["id"]),
                title=str(r.get("title") or ""),
                score=int(r.get("score") or 0),
                artist_credit=credit,
                artists=artists,
                first_release_date=r.get("first-release-date") or None,
                video=bool(r.get("video")),
            )
        )
    return out


# --------------------------------------------------------------------------- client
class MusicBrainzClient:
    """MusicBrainz WS/2 JSON client (see the module docstring for the design).

    Args:
        http: a ready :class:`HttpClient` (tests); otherwise one is built from the other arguments.
        contact: contact for the User-Agent (default: ``Settings.contact``).
        cache: response cache (default: ``<MUSICGRAPH_HOME>/cache/http.sqlite``).
        session: ``requests.Session`` to send through (tests inject one patched by ``responses``).
        offline: serve only from the cache (default: ``Settings.offline``).
        clock: clock of the rate limiter and backoff sleeps (tests: ``FakeClock``).
        base_url: WS/2 root (a mirror or a local fake server).
        min_score: lowest MusicBrainz search score (0-100) considered.
        min_confidence: lowest match confidence accepted.
    """

    service = SERVICE

    def __init__(
        self,
        http: HttpClient | None = None,
        *,
        contact: str | None = None,
        cache: HttpCache | None = None,
        session: Any = None,
        offline: bool | None = None,
        clock: Clock | None = None,
        base_url: str = DEFAULT_BASE_URL,
        min_score: int = 90,
        min_confidence: float = 0.85,
        retry: RetryPolicy | None = None,
    ) -> None:
        if http is None:
            from musicgraph.config import get_settings

            http = service_client(
                SERVICE, RATE_PER_SECOND, user_agent=user_agent(contact if contact is not None else get_settings().contact),
                cache=cache, session=session, clock=clock, retry=retry, offline=offline,
            )
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.min_score = min_score
        self.min_confidence = min_confidence

    @property
    def limiter(self) -> RateLimiter:
        return self.http.limiter

    def _get(self, path: str, params: Mapping[str, Any]) -> Any:
        data = self.http.get_json(f"{self.base_url}/{path}", {**params, "fmt": "json"})
        if not isinstance(data, Mapping):
            raise MalformedResponseError(
                f"{SERVICE}: expected a JSON object from {path}, got {type(data).__name__}",
                service=SERVICE, url=path,
            )
        return data

    # ------------------------------------------------------------ searches
    def search_artists(self, name: str, limit: int = 5) -> list[ArtistCandidate]:
        """Artist search by name (Lucene phrase on ``artist``), best first."""
        if not name.strip():
            raise ValueError("MusicBrainz artist search: empty name")
        return parse_artist_search(self._get("artist", {"query": f"artist:{lucene_quote(name)}", "limit": limit}))

    def search_recordings(self, artist: str, title: str, limit: int = 5) -> list[RecordingCandidate]:
        """Recording search by title and artist credit, best first."""
        if not title.strip():
            raise ValueError("MusicBrainz recording search: empty title")
        query = f"recording:{lucene_quote(title)}"
        if artist.strip():
            query += f" AND artist:{lucene_quote(artist)}"
        return parse_recording_search(self._get("recording", {"query": query, "limit": limit}))

    def resolve_artist(self, name: str, candidates: list[ArtistCandidate] | None = None) -> ArtistMatch | None:
        """The confident MBID match of an artist name, or None."""
        if candidates is None:
            candidates = self.search_artists(name)
        return best_artist_match(name, candidates, self.min_score, self.min_confidence)

    def resolve_recording(self, artist: str, title: str) -> RecordingMatch | None:
        """The confident MBID match of a song (artist display name and title), or None."""
        return best_recording_match(
            artist, title, self.search_recordings(artist, title), self.min_score, self.min_confidence
        )

    # ------------------------------------------------------------- lookups
    def artist(self, mbid: str, includes: Iterable[str] = ARTIST_INCLUDES) -> ArtistInfo:
        """Artist lookup with aliases, genres, tags and artist relations."""
        inc = check_includes("artist", includes)
        return parse_artist(self._get(f"artist/{mbid}", {"inc": "+".join(inc)}))

    def recording(self, mbid: str, includes: Iterable[str] = RECORDING_INCLUDES) -> RecordingInfo:
        """Recording lookup with credits, releases (dates), ISRCs, genres and tags."""
        inc = check_includes("recording", includes)
        return parse_recording(self._get(f"recording/{mbid}", {"inc": "+".join(inc)}))


def best_artist_match(
    name: str, candidates: list[ArtistCandidate], min_score: int = 90, min_confidence: float = 0.85
) -> ArtistMatch | None:
    """Pick the confident hit for ``name`` (see the module docstring), or None."""
    scored: list[tuple[float, int, ArtistCandidate]] = []
    for i, cand in enumerate(candidates):
        if cand.score < min_score:
            continue
        sim = max([name_similarity(name, cand.name), *(name_similarity(name, a) for a in cand.aliases)])
        scored.append((cand.score / 100.0 * sim, -i, cand))
    if not scored:
        return None
    scored.sort(key=lambda t: (t[0], t[1]), reverse=True)
    conf, _, best = scored[0]
    rivals = [
        c for s, _, c in scored[1:] if c.mbid != best.mbid and name_similarity(c.name, best.name) == 1.0
        and abs(c.score - best.score) <= 5
    ]
    if rivals:
        conf *= 0.95
    if conf < min_confidence:
        return None
    return ArtistMatch(query=name, candidate=best, confidence=round(conf, 4))


def best_recording_match(
    artist: str,
    title: str,
    candidates: list[RecordingCandidate],
    min_score: int = 90,
    min_confidence: float = 0.85,
) -> RecordingMatch | None:
    """Pick the confident hit for ``artist``/``title``: title and artist credit must both agree."""
    best: tuple[float, str, RecordingCandidate] | None = None
    for cand in candidates:
        if cand.score < min_score:
            continue
        t_sim = title_similarity(title, cand.title)
        credit_names = [cand.artist_credit, *(n for _, n in cand.artists)]
        a_sim = max(name_similarity(artist, n) for n in credit_names) if artist.strip() else 1.0
        conf = cand.score / 100.0 * t_sim * a_sim * (0.9 if cand.video else 1.0)
        # Among equally good hits prefer the earliest released one (the original recording).
        order = cand.first_release_date or "9999"
        if best is None or conf > best[0] + 1e-9 or (abs(conf - best[0]) <= 1e-9 and order < best[1]):
            best = (conf, order, cand)
    if best is None or best[0] < min_confidence:
        return None
    return RecordingMatch(artist=artist, title=title, candidate=best[2], confidence=round(best[0], 4))
