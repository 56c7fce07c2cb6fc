"""The one request model every retriever answers: :class:`Request`.

A request says *what to return* (``kind``, ``k``, diversity), *where to start* (typed
:class:`Seed` entities, each with the :class:`Relation` that connects it to the answers), *what every
answer must satisfy* (:class:`Constraints`, conjunctive, applied before the top-k) and *what to
prefer* (:class:`Targets`: a mood or audio-feature profile that re-ranks but excludes nothing).

Free text becomes a request through a parser (:mod:`musicgraph.retrieval.parser`); the library, the
CLI (``--request FILE.json``) and the REST service take one directly::

    >>> r = Request(seeds=[Seed(label="Artist", name="Eminem", relation="fans_of")],
    ...             constraints=Constraints(tags=["rock"]), kind="artist", k=10)
    >>> r.seeds[0].relation.value, r.constraints.tags, r.kind
    ('fans_of', ['rock'], 'artist')
    >>> Request.model_validate({"seeds": [{"label": "Artist", "name": "Eminem"}]}).seeds[0].effective_relation("song")
    <Relation.SIMILAR_TO: 'similar_to'>

Invalid input fails validation with a message naming the field (``k``, ``constraints.years``);
:func:`parse_request` turns that into one :class:`~musicgraph.errors.RequestError` line.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from musicgraph.audio_features import FEATURE_RANGES
from musicgraph.errors import RequestError

__all__ = [
    "FEATURE_RANGES",
    "Constraints",
    "Diversity",
    "EntityRef",
    "Kind",
    "Relation",
    "Request",
    "Seed",
    "Targets",
    "parse_request",
    "request_from_file",
]

Kind = Literal["song", "artist", "album", "playlist"]
SeedLabel = Literal["Artist", "Song", "Album", "Playlist", "Tag", "Genre", "Mood", "User"]
Range = tuple[float | None, float | None]

class Relation(StrEnum):
    """How a seed connects to the answers; each compiles to one graph operator (:mod:`~musicgraph.retrieval.operators`)."""

    #: the seed's listeners also play the answer (co-listening count over shared listeners, hub-damped)
    FANS_OF = "fans_of"
    #: sounds like / is like the seed: similar-artist edges where enrichment added them, else
    #: co-listening blended with shared tags
    SIMILAR_TO = "similar_to"
    #: performed by the seed artist (its own songs; for artist answers: the artist itself)
    PERFORMED_BY = "performed_by"
    #: members, bands and collaborators of the seed artist (MEMBER_OF edges, featured credits)
    MEMBER_OF = "member_of"
    #: on the same album as the seed song (or on the seed album)
    SAME_ALBUM = "same_album"
    #: appears in playlists together with the seed (or in the seed playlist)
    IN_PLAYLIST_WITH = "in_playlist_with"
    #: carries the seed tag (ranked by how many listeners gave it)
    TAGGED = "tagged"
    #: has the seed genre
    HAS_GENRE = "has_genre"
    #: has the seed mood
    HAS_MOOD = "has_mood"
    #: fits the seed user's listening (personalization; the user's known items are excluded)
    LISTENED_BY = "listened_by"
    #: any multi-hop connection (personalized PageRank from the seed)
    RELATED = "related"


#: The relation a seed gets when neither the request nor the text says one.
DEFAULT_RELATIONS: dict[str, Relation] = {
    "Artist": Relation.SIMILAR_TO,
    "Song": Relation.SIMILAR_TO,
    "Album": Relation.SIMILAR_TO,
    "Playlist": Relation.IN_PLAYLIST_WITH,
    "Tag": Relation.TAGGED,
    "Genre": Relation.HAS_GENRE,
    "Mood": Relation.HAS_MOOD,
    "User": Relation.LISTENED_BY,
}

#: Which seed labels each relation accepts.
RELATION_LABELS: dict[Relation, frozenset[str]] = {
    Relation.FANS_OF: frozenset({"Artist", "Song"}),
    Relation.SIMILAR_TO: frozenset({"Artist", "Song", "Album"}),
    Relation.PERFORMED_BY: frozenset({"Artist"}),
    Relation.MEMBER_OF: frozenset({"Artist"}),
    Relation.SAME_ALBUM: frozenset({"Song", "Album"}),
    Relation.IN_PLAYLIST_WITH: frozenset({"Song", "Artist", "Playlist"}),
    Relation.TAGGED: frozenset({"Tag", "Genre"}),
    Relation.HAS_GENRE: frozenset({"Genre", "Tag"}),
    Relation.HAS_MOOD: frozenset({"Mood"}),
    Relation.LISTENED_BY: frozenset({"User"}),
    Relation.RELATED: frozenset({"Artist", "Song", "Album", "Playlist", "Tag", "Genre", "Mood", "User"}),
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False, str_strip_whitespace=True)


class EntityRef(_Model):
    """A graph entity named by label and name (or key), e.g. an exclusion."""

    label: SeedLabel
    name: str = Field(min_length=1, max_length=500)
    #: the resolved node key (filled by resolution; give it to skip name matching)
    key: str | None = Field(default=None, max_length=1000)


class Seed(EntityRef):
    """A starting entity and how it relates to the answers.

    Attributes:
        relation: the relation to the answers (default by label: :data:`DEFAULT_RELATIONS`).
        weight: its share when several seeds combine.
        surface: the words of the request it was read from (parsers fill it).
        confidence: the linker's confidence (1 for exact names).
    """

    relation: Relation | None = None
    weight: float = Field(default=1.0, gt=0.0, le=100.0)
    surface: str | None = Field(default=None, max_length=500)
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _relation_fits_label(self) -> Seed:
        if self.relation is not None and self.label not in RELATION_LABELS[self.relation]:
            allowed = ", ".join(sorted(RELATION_LABELS[self.relation]))
            raise ValueError(f"relation {self.relation.value!r} does not apply to a {self.label} seed "
                             f"(it takes {allowed})")
        return self

    def effective_relation(self, kind: str) -> Relation:
        """The relation in force: the given one, else the label's default."""
        return self.relation or DEFAULT_RELATIONS[self.label]


def _check_range(name: str, rng: Range | None) -> Range | None:
    if rng is None:
        return None
    lo, hi = rng
    bounds = FEATURE_RANGES.get(name)
    for v in (lo, hi):
        if v is not None and not math.isfinite(v):
            raise ValueError(f"{name}: bounds must be finite numbers, got {v!r}")
        if v is not None and bounds is not None and not bounds.low <= v <= bounds.high:
            raise ValueError(f"{name}: {v:g} is outside {bounds.low:g}..{bounds.high:g}")
    if lo is None and hi is None:
        return None
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"{name}: minimum {lo:g} is above maximum {hi:g}")
    return (lo, hi)


#: The features a constraint or target may name: :data:`musicgraph.audio_features.CATALOG_FEATURES`
#: (``tests/test_audio_features.py`` checks), with the valid ranges of ``FEATURE_RANGES``.
FeatureName = Literal["danceability", "energy", "valence", "tempo", "acousticness", "instrumentalness",
                      "speechiness", "liveness", "loudness", "mode", "popularity", "year"]


def _check_feature_ranges(ranges: dict[str, Range]) -> dict[str, Range]:
    """Each range checked against its feature's bounds; empty ranges (no bound) left out."""
    out = {}
    for name, rng in ranges.items():
        checked = _check_range(name, rng)
        if checked is not None:
            out[name] = checked
    return out


class Constraints(_Model):
    """What every answer must satisfy (all of them; applied before the top-k, which stays exact).

    For song answers a tag or genre may sit on the song or on its main artist; for artist answers
    on the artist (or one of its songs, for genres); for albums and playlists on any of their songs.

    Attributes:
        tags: Last.fm tags (or genres of the same name), every one required.
        genres: genres (or tags of the same name), every one required.
        moods: mood labels (songs labelled with it; other kinds: any of their songs).
        years: release years, inclusive; either end open.
        features: audio-feature ranges (songs; other kinds: the mean of their songs).
        popularity: percentile band 0..100 of the answer's popularity among items of its kind
            (listeners for artists; Spotify popularity, else the artist's, for songs).
        explicit: False leaves out songs marked explicit; True keeps only those.
        exclude: entities never returned (an artist also excludes its songs).
        include_seeds: return the seeds themselves too (default: never).
        include_known: return items the seed user already knows (default: never).
    """

    tags: list[str] = Field(default_factory=list, max_length=20)
    genres: list[str] = Field(default_factory=list, max_length=20)
    moods: list[str] = Field(default_factory=list, max_length=10)
    years: Range | None = None
    features: dict[FeatureName, Range] = Field(default_factory=dict)
    popularity: Range | None = None
    explicit: bool | None = None
    exclude: list[EntityRef] = Field(default_factory=list, max_length=100)
    include_seeds: bool = False
    include_known: bool = False

    @field_validator("tags", "genres", "moods")
    @classmethod
    def _names(cls, v: list[str]) -> list[str]:
        out = []
        for name in v:
            name = name.strip()
            if not name:
                raise ValueError("names must not be empty")
            if len(name) > 200:
                raise ValueError(f"name too long ({len(name)} characters, at most 200)")
            if name.lower() not in (o.lower() for o in out):
                out.append(name)
        return out

    @field_validator("years")
    @classmethod
    def _years(cls, v: Range | None) -> Range | None:
        return _check_range("year", v)

    @field_validator("popularity")
    @classmethod
    def _popularity(cls, v: Range | None) -> Range | None:
        return _check_range("popularity", v)

    @field_validator("features")
    @classmethod
    def _features(cls, v: dict[str, Range]) -> dict[str, Range]:
        return _check_feature_ranges(v)

    def is_empty(self) -> bool:
        """True when nothing restricts the answers (exclusions and flags aside)."""
        return not (self.tags or self.genres or self.moods or self.years or self.features
                    or self.popularity or self.explicit is not None)


class Targets(_Model):
    """Soft preferences: they re-rank the candidates and exclude nothing.

    Attributes:
        moods: moods the answers should convey (emotion re-rank; also mood-node walks).
        valence, arousal: an explicit point on the valence/arousal plane (0..1).
        features: preferred audio-feature ranges (a song outside them is ranked lower, not dropped).
        avoid_moods: moods the answers should not convey.
    """

    moods: list[str] = Field(default_factory=list, max_length=10)
    valence: float | None = Field(default=None, ge=0.0, le=1.0)
    arousal: float | None = Field(default=None, ge=0.0, le=1.0)
    features: dict[FeatureName, Range] = Field(default_factory=dict)
    avoid_moods: list[str] = Field(default_factory=list, max_length=10)

    @field_validator("features")
    @classmethod
    def _features(cls, v: dict[str, Range]) -> dict[str, Range]:
        return _check_feature_ranges(v)

    def is_empty(self) -> bool:
        """Whether no mood, feature, avoided mood or valence target is set."""
        return not (self.moods or self.features or self.avoid_moods or self.valence is not None)


class Diversity(_Model):
    """How varied the list must be.

    Attributes:
        max_per_artist: at most this many answers by one main artist (songs, albums); None = no cap.
            The cap never returns fewer than ``k`` answers when enough distinct ones exist.
        mmr: relevance/diversity trade-off of maximal marginal relevance on embeddings (1 = off).
    """

    max_per_artist: int | None = Field(default=None, ge=1, le=1000)
    mmr: float = Field(default=1.0, ge=0.0, le=1.0)


class Request(_Model):
    """A music request: seeds with relations, conjunctive constraints, soft targets and the output.

    Attributes:
        text: the free text it came from (None for structured requests).
        seeds: starting entities; with several, ``combine`` says whether an answer must relate to
            ``all`` of them (conjunctive: "fans of both X and Y") or to ``any`` (a weighted blend).
        constraints: hard, conjunctive conditions (see :class:`Constraints`).
        targets: soft preferences (see :class:`Targets`).
        kind: what to return: songs, artists, albums or playlists.
        k: how many (1..1000).
        diversity: see :class:`Diversity`.
        terms: content words for text search (BM25); parsers fill them from the text.
        dense_text: the text to embed for dense search (default: ``text``).
        notes: remarks of the parser (what it could not use), carried into the results' evidence.
        parser: which parser built it (None: given structured).
    """

    text: str | None = Field(default=None, max_length=2000)
    seeds: list[Seed] = Field(default_factory=list, max_length=20)
    combine: Literal["any", "all"] = "any"
    constraints: Constraints = Field(default_factory=Constraints)
    targets: Targets = Field(default_factory=Targets)
    kind: Kind = "song"
    k: int = Field(default=10, ge=1, le=1000)
    diversity: Diversity = Field(default_factory=Diversity)
    terms: list[str] = Field(default_factory=list, max_length=200)
    dense_text: str | None = Field(default=None, max_length=2000)
    notes: list[str] = Field(default_factory=list)
    parser: str | None = None

    @property
    def user_seeds(self) -> list[Seed]:
        """The User seeds (personalization)."""
        return [s for s in self.seeds if s.label == "User"]

    def with_(self, **changes: Any) -> Request:
        """A validated copy with ``changes`` applied (``req.with_(k=20, kind="artist")``).

        Raises:
            RequestError: the changed request is invalid (one line naming the field).
        """
        data = self.model_dump()
        data.update({k: (v.model_dump() if isinstance(v, BaseModel) else v) for k, v in changes.items()})
        return parse_request(data)

    def describe(self) -> str:
        """One line for ``--explain``: ``artists; fans_of Artist:Eminem; tags rock; k 10``."""
        parts = [f"{self.kind}s"]
        for s in self.seeds:
            rel = s.effective_relation(self.kind).value
            parts.append(f"{rel} {s.label}:{s.name}" + (f" (from {s.surface!r})" if s.surface and s.surface.lower()
                                                         != s.name.lower() else ""))
        if len(self.seeds) > 1:
            parts.append(f"combine {self.combine}")
        c = self.constraints
        for name in ("tags", "genres", "moods"):
            if getattr(c, name):
                parts.append(f"{name} " + "+".join(getattr(c, name)))
        if c.years:
            parts.append(f"years {_fmt_range(c.years)}")
        for f, rng in c.features.items():
            parts.append(f"{f} {_fmt_range(rng)}")
        if c.popularity:
            parts.append(f"popularity percentile {_fmt_range(c.popularity)}")
        if c.explicit is not None:
            parts.append("explicit only" if c.explicit else "no explicit")
        if c.exclude:
            parts.append("not " + ", ".join(f"{e.label}:{e.name}" for e in c.exclude))
        t = self.targets
        if t.moods:
            parts.append("prefer " + "/".join(t.moods))
        if t.valence is not None and t.arousal is not None:
            parts.append(f"valence {t.valence:.2f} arousal {t.arousal:.2f}")
        for f, rng in t.features.items():
            parts.append(f"prefer {f} {_fmt_range(rng)}")
        if t.avoid_moods:
            parts.append("avoid " + "/".join(t.avoid_moods))
        if self.terms:
            parts.append("terms " + " ".join(self.terms))
        parts.append(f"k {self.k}")
        if self.diversity.max_per_artist:
            parts.append(f"max {self.diversity.max_per_artist} per artist")
        return "; ".join(parts)


def _fmt_range(rng: Range) -> str:
    lo, hi = rng
    if lo is not None and hi is not None:
        return f"{lo:g}..{hi:g}"
    return f">= {lo:g}" if lo is not None else f"<= {hi:g}"


def _error_line(exc: ValidationError) -> RequestError:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("__root__", "[key]"))
    msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    return RequestError(f"invalid request: {where + ': ' if where else ''}{msg}", field=where or None)


def parse_request(data: Request | Mapping[str, Any] | str) -> Request:
    """A validated :class:`Request` from a model, a mapping or a JSON string.

    Raises:
        RequestError: one line naming the first invalid field.
    """
    if isinstance(data, Request):
        return data
    try:
        if isinstance(data, str):
            return Request.model_validate_json(data)
        return Request.model_validate(dict(data))
    except ValidationError as exc:
        raise _error_line(exc) from None


def request_from_file(path: Path) -> Request:
    """Read a request from a JSON file (``--request FILE.json``).

    Raises:
        RequestError: unreadable file, invalid JSON (with line and column) or an invalid request.
    """
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise RequestError(f"cannot read request file {path}: {exc.strerror or exc}") from None
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise RequestError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    try:
        return parse_request(text)
    except RequestError as exc:
        raise RequestError(f"{path}: {exc}", field=exc.field) from None
