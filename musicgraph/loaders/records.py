"""Typed records that the dataset loaders yield.

Loaders know file formats and nothing about the graph; :mod:`musicgraph.graph.ingest` turns these
records into nodes and relationships. Every record names its ``source`` (a short dataset id such as
``"hetrec"``) so the graph can keep provenance and source ids.

Audio features are always on Spotify's 0..1 scales (tempo in BPM, loudness in dB, key 0..11,
mode 0/1, popularity 0..100); loaders convert other scales (top10s uses 0..100) on the way in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from musicgraph.audio_features import AUDIO_FEATURES


@dataclass(frozen=True, slots=True)
class AudioFeatures:
    """Spotify-style audio features; any may be missing (None). The fields are
    :data:`~musicgraph.audio_features.AUDIO_FEATURES`, in order (``tests/test_audio_features.py`` checks)."""

    danceability: float | None = None
    energy: float | None = None
    valence: float | None = None
    tempo: float | None = None
    acousticness: float | None = None
    instrumentalness: float | None = None
    speechiness: float | None = None
    liveness: float | None = None
    loudness: float | None = None
    key: int | None = None
    mode: int | None = None

    def as_dict(self) -> dict[str, float | int]:
        """The features that are present."""
        return {name: getattr(self, name) for name in AUDIO_FEATURES if getattr(self, name) is not None}


@dataclass(frozen=True, slots=True)
class ArtistRecord:
    """An artist as a source lists it (HetRec artists.dat)."""

    source: str
    source_id: str
    name: str
    url: str | None = None


@dataclass(frozen=True, slots=True)
class SongRecord:
    """A song (recording) with whatever a source knows about it."""

    source: str
    title: str
    artist: str
    source_id: str | None = None
    featured: tuple[str, ...] = ()
    album: str | None = None
    year: int | None = None
    release_date: str | None = None
    genres: tuple[str, ...] = ()
    features: AudioFeatures | None = None
    popularity: float | None = None
    explicit: bool | None = None
    duration_ms: int | None = None
    spotify_id: str | None = None
    msd_track_id: str | None = None
    msd_song_id: str | None = None
    lyrics: str | None = None
    songwriters: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MoodLabel:
    """A mood label attached to a song by a source (data_moods, MoodyLyrics, MoodyLyrics4Q...)."""

    source: str
    artist: str
    title: str
    mood: str
    confidence: float = 1.0
    source_id: str | None = None


@dataclass(frozen=True, slots=True)
class ListenRecord:
    """HetRec user_artists.dat: a user listened to an artist ``weight`` times."""

    user_id: str
    artist_id: str
    weight: float


@dataclass(frozen=True, slots=True)
class FriendRecord:
    """HetRec user_friends.dat: a (directed, as listed) friendship row."""

    user_id: str
    friend_id: str


@dataclass(frozen=True, slots=True)
class TagRecord:
    """HetRec tags.dat: a tag id and its text."""

    tag_id: str
    name: str


@dataclass(frozen=True, slots=True)
class TagAssignment:
    """HetRec user_taggedartists: a user put a tag on an artist on a date."""

    user_id: str
    artist_id: str
    tag_id: str
    year: int | None = None
    month: int | None = None
    day: int | None = None


@dataclass(frozen=True, slots=True)
class PlaylistTrack:
    """A track at a position in a playlist."""

    source: str
    playlist_id: str
    playlist_name: str
    position: int
    artist: str
    title: str
    album: str | None = None
    spotify_id: str | None = None
    spotify_artist_id: str | None = None


@dataclass(frozen=True, slots=True)
class PlaylistMood:
    """A gold mood label for a playlist (MPD emotion playlists)."""

    source: str
    playlist_id: str
    mood: str


@dataclass(frozen=True, slots=True)
class ArtistGenres:
    """Spotify genres of an artist, by name."""

    source: str
    artist: str
    genres: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class JamendoTrack:
    """MTG-Jamendo mood/theme annotations (ids only: the dataset ships no names here)."""

    track_id: str
    artist_id: str
    album_id: str
    duration: float | None
    moods: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LyricsRecord:
    """Lyrics text for a song, from a lyrics set."""

    source: str
    artist: str
    title: str
    text: str
    source_path: str | None = None


@dataclass(slots=True)
class Problem:
    """One malformed row: where and why."""

    file: str
    line: int
    reason: str


@dataclass(slots=True)
class LoadReport:
    """What a loader read: rows yielded and rows skipped, with file and line for every skip."""

    dataset: str
    rows: int = 0
    skipped: int = 0
    problems: list[Problem] = field(default_factory=list)

    def add_problem(self, file: str, line: int, reason: str) -> None:
        """Count a skipped row and keep its ``file:line: reason`` (the first 500 are kept)."""
        self.skipped += 1
        # Keep the first few hundred in memory; the count stays exact.
        if len(self.problems) < 500:
            self.problems.append(Problem(file, line, reason))
