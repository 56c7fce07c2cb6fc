"""The music graph's fixed schema: node labels, relationship types and their endpoints.

Labels and relationship types are never taken from input: every store checks names against
this module, which is what lets the Neo4j backend put them into Cypher text safely.

Node keys are strings unique within a label:

========  ==============================================  ==========================
label     key                                             example
========  ==============================================  ==========================
Artist    normalized name (:func:`resolve.artist_key`)    ``radiohead``
Song      ``<artist key>|<normalized title>``             ``radiohead|karma police``
Album     ``<artist key>|<normalized album>``             ``radiohead|ok computer``
Genre     normalized genre                                ``alternative rock``
Mood      lower-case mood word                            ``sad``
Tag       normalized tag text                             ``melancholic``
User      ``<source>:<id>`` (:func:`resolve.user_key`)       ``hetrec:2``, ``me:alice``
Playlist  ``<source>:<id>``                               ``spotify300:all-out-80s``
========  ==============================================  ==========================

Relationships (``(src)-[TYPE]->(dst)``), all directed as written and traversed both ways by the
projection:

* ``(Song)-[PERFORMED_BY {role: "main"|"featured"}]->(Artist)``
* ``(Song)-[ON_ALBUM]->(Album)`` and ``(Album)-[ALBUM_BY]->(Artist)``
* ``(Song|Artist)-[HAS_GENRE]->(Genre)``
* ``(Song|Playlist)-[HAS_MOOD {sources, confidence}]->(Mood)``
* ``(Artist)-[TAGGED {weight: number of users}]->(Tag)``
* ``(User)-[LISTENED_TO {weight: play count}]->(Artist|Song)`` (HetRec users: artists only; an imported
  personal history (``me:<name>``) also songs, with ``plays``/``skips``/``short_plays`` and a weight of
  0 for what was only skipped: known, no preference)
* ``(User)-[USED_TAG {weight: number of uses}]->(Tag)``
* ``(User)-[FRIEND_OF]->(User)`` (rows as listed by HetRec: both directions)
* ``(Song)-[IN_PLAYLIST {position}]->(Playlist)``
* ``(Artist)-[SIMILAR_TO {weight}]->(Artist)`` and ``(Artist)-[MEMBER_OF]->(Artist)`` (API enrichment)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

# The Song's numeric properties and their ranges are defined once, below the loaders; the schema re-exports them.
from musicgraph.audio_features import FEATURE_RANGES as FEATURE_RANGES
from musicgraph.audio_features import SONG_FEATURES as SONG_FEATURES
from musicgraph.audio_features import FeatureRange as FeatureRange
from musicgraph.errors import MusicgraphError


class Label(StrEnum):
    """The node labels of the graph; a store accepts no other."""
    SONG = "Song"
    ARTIST = "Artist"
    ALBUM = "Album"
    GENRE = "Genre"
    MOOD = "Mood"
    TAG = "Tag"
    USER = "User"
    PLAYLIST = "Playlist"


class Rel(StrEnum):
    """The relationship types of the graph; :data:`ENDPOINTS` lists the labels each may join."""
    PERFORMED_BY = "PERFORMED_BY"
    ON_ALBUM = "ON_ALBUM"
    ALBUM_BY = "ALBUM_BY"
    HAS_GENRE = "HAS_GENRE"
    HAS_MOOD = "HAS_MOOD"
    TAGGED = "TAGGED"
    LISTENED_TO = "LISTENED_TO"
    USED_TAG = "USED_TAG"
    FRIEND_OF = "FRIEND_OF"
    IN_PLAYLIST = "IN_PLAYLIST"
    SIMILAR_TO = "SIMILAR_TO"
    MEMBER_OF = "MEMBER_OF"


LABELS: tuple[str, ...] = tuple(label.value for label in Label)
REL_TYPES: tuple[str, ...] = tuple(rel.value for rel in Rel)

#: Allowed (source label, target label) pairs per relationship type.
ENDPOINTS: dict[str, frozenset[tuple[str, str]]] = {
    Rel.PERFORMED_BY: frozenset({(Label.SONG, Label.ARTIST)}),
    Rel.ON_ALBUM: frozenset({(Label.SONG, Label.ALBUM)}),
    Rel.ALBUM_BY: frozenset({(Label.ALBUM, Label.ARTIST)}),
    Rel.HAS_GENRE: frozenset({(Label.SONG, Label.GENRE), (Label.ARTIST, Label.GENRE)}),
    Rel.HAS_MOOD: frozenset({(Label.SONG, Label.MOOD), (Label.PLAYLIST, Label.MOOD)}),
    Rel.TAGGED: frozenset({(Label.ARTIST, Label.TAG), (Label.SONG, Label.TAG)}),
    Rel.LISTENED_TO: frozenset({(Label.USER, Label.ARTIST), (Label.USER, Label.SONG)}),
    Rel.USED_TAG: frozenset({(Label.USER, Label.TAG)}),
    Rel.FRIEND_OF: frozenset({(Label.USER, Label.USER)}),
    Rel.IN_PLAYLIST: frozenset({(Label.SONG, Label.PLAYLIST)}),
    Rel.SIMILAR_TO: frozenset({(Label.ARTIST, Label.ARTIST)}),
    Rel.MEMBER_OF: frozenset({(Label.ARTIST, Label.ARTIST)}),
}

#: Human-readable verbs for explanation paths, forward and backward.
REL_PHRASES: dict[str, tuple[str, str]] = {
    Rel.PERFORMED_BY: ("performed by", "performs"),
    Rel.ON_ALBUM: ("on album", "contains"),
    Rel.ALBUM_BY: ("album by", "released"),
    Rel.HAS_GENRE: ("has genre", "genre of"),
    Rel.HAS_MOOD: ("has mood", "mood of"),
    Rel.TAGGED: ("tagged", "tag of"),
    Rel.LISTENED_TO: ("listened to", "listened to by"),
    Rel.USED_TAG: ("used tag", "tag used by"),
    Rel.FRIEND_OF: ("friend of", "friend of"),
    Rel.IN_PLAYLIST: ("in playlist", "includes"),
    Rel.SIMILAR_TO: ("similar to", "similar to"),
    Rel.MEMBER_OF: ("member of", "has member"),
}

#: Valid relationship weights (play counts, tag counts, similarity): finite, not negative.
WEIGHT_RANGE = FeatureRange(0.0, 1e12)

#: Longest artist name, song title, album or playlist name, and user/source id (characters).
MAX_NAME_LENGTH = 500
#: Longest tag, genre or mood (characters).
MAX_TAG_LENGTH = 200
#: Largest lyrics text (characters; the longest lyric of the shared data has about 5,800).
MAX_LYRICS_LENGTH = 100_000
#: Most genres, tags, moods, aliases or featured artists on one record.
MAX_LIST_ITEMS = 200


def check_number(name: str, value: object, rng: FeatureRange | None = None) -> float | int:
    """``value`` as a number inside the range of ``name`` (:data:`FEATURE_RANGES`), else ValueError.

    Accepts ints, floats and numeric strings (CSV); rejects booleans, NaN, infinities and out-of-range values.
    """
    rng = rng or FEATURE_RANGES[name]
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{name} must be {rng.describe()}, got {type(value).__name__} {_short(value)}")
    try:
        num = float(value)
    except ValueError:
        raise ValueError(f"{name} must be {rng.describe()}, got {_short(value)}") from None
    if not math.isfinite(num) or not rng.low <= num <= rng.high:
        raise ValueError(f"{name} must be {rng.describe()}, got {_short(value)}")
    if rng.integer:
        if not num.is_integer():
            raise ValueError(f"{name} must be {rng.describe()}, got {_short(value)}")
        return int(num)
    return num


def check_text(name: str, value: object, max_length: int = MAX_NAME_LENGTH) -> str:
    """``value`` as a stripped string of at most ``max_length`` characters, else ValueError."""
    if not isinstance(value, str):
        raise ValueError(f"{name} must be text, got {type(value).__name__} {_short(value)}")
    text = value.strip()
    if len(text) > max_length:
        raise ValueError(f"{name} is {len(text):,} characters long; the limit is {max_length:,}")
    if "\x00" in text:
        raise ValueError(f"{name} contains a NUL character")
    return text


def _short(value: object, n: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= n else text[: n - 3] + "..."


class SchemaError(MusicgraphError, ValueError):
    """A label, relationship type or endpoint pair that the schema does not have."""


def check_label(label: str) -> str:
    """Return ``label`` if the schema has it, else raise :class:`SchemaError`."""
    if label not in LABELS:
        raise SchemaError(f"unknown node label {label!r}; expected one of {', '.join(LABELS)}")
    return str(label)


def check_rel(rel_type: str, src_label: str | None = None, dst_label: str | None = None) -> str:
    """Return ``rel_type`` if the schema has it (and the endpoint pair, when given)."""
    if rel_type not in REL_TYPES:
        raise SchemaError(f"unknown relationship type {rel_type!r}; expected one of {', '.join(REL_TYPES)}")
    if src_label is not None and dst_label is not None:
        if (src_label, dst_label) not in ENDPOINTS[rel_type]:
            raise SchemaError(f"({src_label})-[{rel_type}]->({dst_label}) is not in the schema")
    return str(rel_type)


@dataclass(frozen=True, slots=True)
class NodeRef:
    """A node's identity: label and key."""

    label: str
    key: str

    def __str__(self) -> str:
        return f"{self.label}:{self.key}"
