"""Loaders for the Spotify audio-feature sets (folder ``spotify_features``).

* ``songs_normalize.csv`` (Kaggle "Top Hits Spotify from 2000-2019"): UTF-8 CSV, Spotify 0..1 scales;
  ``genre`` is a comma list ("pop, R&B"), ``set()`` means none. The 53 exact duplicate rows of the
  file are yielded as they are (dedup is entity resolution's job).
* ``top10s.csv`` (Kaggle "Top Spotify songs 2010-2019 BY YEAR"): 0-100 scales, converted to Spotify's
  0..1 scales. The file is Windows-1252 (a superset of the printable Latin-1 range: its curly quotes
  are bytes 0x92-0x94), decoded per line as cp1252 with a Latin-1 fallback. One row (Adele,
  "Million Years Ago") has every feature 0 and dB -60, i.e. no analysis: its ``features`` is None.
* ``data_moods.csv``: 686 tracks with Spotify id, features and a mood (Happy/Sad/Energetic/Calm).
* ``artist_genres_data_w_genres.csv``: artist name -> Python-list string of genres, parsed with
  :func:`ast.literal_eval`. By default artists with an empty list (13,563 of 32,539) are not yielded:
  an empty genre list adds nothing to the graph. Pass ``include_empty=True`` to get them too.
"""

from __future__ import annotations

import ast
import logging
from collections.abc import Iterator
from pathlib import Path

from musicgraph.loaders.base import (
    Row,
    RowError,
    SourceFile,
    emit,
    header_columns,
    new_report,
    parse_bool,
    parse_date,
    parse_float,
    parse_int,
    read_rows,
    require,
    split_list,
    text,
)
from musicgraph.loaders.records import ArtistGenres, AudioFeatures, LoadReport, MoodLabel, SongRecord

log = logging.getLogger(__name__)

FOLDER = "spotify_features"

MOODS = {"happy", "sad", "energetic", "calm"}


def _features(row: Row, col: dict[str, int]) -> AudioFeatures:
    def f(name: str) -> float | None:
        return parse_float(row[col[name]], name) if name in col else None

    def i(name: str) -> int | None:
        return parse_int(row[col[name]], name) if name in col else None

    return AudioFeatures(
        danceability=f("danceability"),
        energy=f("energy"),
        valence=f("valence"),
        tempo=f("tempo"),
        acousticness=f("acousticness"),
        instrumentalness=f("instrumentalness"),
        speechiness=f("speechiness"),
        liveness=f("liveness"),
        loudness=f("loudness"),
        key=i("key"),
        mode=i("mode"),
    )


_TOP_HITS_COLUMNS = (
    "artist",
    "song",
    "duration_ms",
    "explicit",
    "year",
    "popularity",
    "danceability",
    "energy",
    "key",
    "loudness",
    "mode",
    "speechiness",
    "acousticness",
    "instrumentalness",
    "liveness",
    "valence",
    "tempo",
    "genre",
)


def iter_top_hits(data_dir: Path, report: LoadReport | None = None) -> Iterator[SongRecord]:
    """``songs_normalize.csv`` (Top Hits 2000-2019; CSV, 18 columns) -> :class:`SongRecord` "spotify_tophits"."""
    src = SourceFile(data_dir, f"{FOLDER}/songs_normalize.csv", new_report(report, "spotify_tophits"), log)
    col, width = header_columns(src, _TOP_HITS_COLUMNS)

    def build(row: Row) -> SongRecord:
        genre = text(row[col["genre"]])
        genres = () if genre in (None, "set()") else split_list(genre)
        return SongRecord(
            source="spotify_tophits",
            title=require(row[col["song"]], "song"),
            artist=require(row[col["artist"]], "artist"),
            year=parse_int(row[col["year"]], "year"),
            genres=genres,
            features=_features(row, col),
            popularity=parse_float(row[col["popularity"]], "popularity"),
            explicit=parse_bool(row[col["explicit"]], "explicit"),
            duration_ms=parse_int(row[col["duration_ms"]], "duration_ms"),
        )

    return emit(src, read_rows(src, columns=width), build)


_TOP10S_COLUMNS = (
    "title",
    "artist",
    "top.genre",
    "year",
    "bpm",
    "nrgy",
    "dnce",
    "dB",
    "live",
    "val",
    "dur",
    "acous",
    "spch",
    "pop",
)


def iter_top10s(data_dir: Path, report: LoadReport | None = None) -> Iterator[SongRecord]:
    """``top10s.csv`` (Top 2010-2019; cp1252/Latin-1 CSV, 0-100 scales) -> :class:`SongRecord` "spotify_top10s".

    nrgy/dnce/val/acous/spch/live are divided by 100; bpm -> tempo, dB -> loudness, dur (s) -> duration_ms,
    pop -> popularity, top.genre -> genres. The first (unnamed) column is the source row id -> source_id.
    """
    src = SourceFile(data_dir, f"{FOLDER}/top10s.csv", new_report(report, "spotify_top10s"), log)
    col, width = header_columns(src, _TOP10S_COLUMNS, encoding="cp1252")

    def pct(row: Row, name: str) -> float | None:
        value = parse_float(row[col[name]], name)
        if value is None:
            return None
        if not 0 <= value <= 100:
            raise RowError(f"{name}: outside 0-100: {value}")
        return value / 100.0

    def build(row: Row) -> SongRecord:
        title = require(row[col["title"]], "title")
        artist = require(row[col["artist"]], "artist")
        tempo = parse_float(row[col["bpm"]], "bpm")
        loudness = parse_float(row[col["dB"]], "dB")
        features: AudioFeatures | None = AudioFeatures(
            energy=pct(row, "nrgy"),
            danceability=pct(row, "dnce"),
            valence=pct(row, "val"),
            acousticness=pct(row, "acous"),
            speechiness=pct(row, "spch"),
            liveness=pct(row, "live"),
            tempo=tempo,
            loudness=loudness,
        )
        if tempo == 0:  # no audio analysis: all zeros and -60 dB
            features = None
        dur = parse_float(row[col["dur"]], "dur")
        genre = text(row[col["top.genre"]])
        return SongRecord(
            source="spotify_top10s",
            source_id=text(row[0]) if "" in col else None,
            title=title,
            artist=artist,
            year=parse_int(row[col["year"]], "year"),
            genres=(genre,) if genre else (),
            features=features,
            popularity=parse_float(row[col["pop"]], "pop"),
            duration_ms=int(round(dur * 1000)) if dur is not None else None,
        )

    return emit(src, read_rows(src, encodings=("cp1252", "latin-1"), columns=width), build)


_MOODS_COLUMNS = (
    "name",
    "album",
    "artist",
    "id",
    "release_date",
    "popularity",
    "length",
    "danceability",
    "acousticness",
    "energy",
    "instrumentalness",
    "liveness",
    "valence",
    "loudness",
    "speechiness",
    "tempo",
    "key",
    "mood",
)


def _spotify_id(value: str) -> str:
    raw = require(value, "id")
    if len(raw) != 22 or not raw.isalnum():
        raise RowError(f"id: not a Spotify id: {raw!r}")
    return raw


def iter_mood_songs(data_dir: Path, report: LoadReport | None = None) -> Iterator[SongRecord]:
    """``data_moods.csv`` (CSV, Spotify id + features + mood) -> :class:`SongRecord` "spotify_moods"."""
    src = SourceFile(data_dir, f"{FOLDER}/data_moods.csv", new_report(report, "spotify_moods"), log)
    col, width = header_columns(src, _MOODS_COLUMNS)

    def build(row: Row) -> SongRecord:
        spotify_id = _spotify_id(row[col["id"]])
        release_date, year = parse_date(row[col["release_date"]], "release_date")
        return SongRecord(
            source="spotify_moods",
            source_id=spotify_id,
            spotify_id=spotify_id,
            title=require(row[col["name"]], "name"),
            artist=require(row[col["artist"]], "artist"),
            album=text(row[col["album"]]),
            release_date=release_date,
            year=year,
            features=_features(row, col),
            popularity=parse_float(row[col["popularity"]], "popularity"),
            duration_ms=parse_int(row[col["length"]], "length"),
        )

    return emit(src, read_rows(src, columns=width), build)


def iter_mood_labels(data_dir: Path, report: LoadReport | None = None) -> Iterator[MoodLabel]:
    """``data_moods.csv`` -> :class:`MoodLabel` (mood lower-cased: happy/sad/energetic/calm; source_id = Spotify id)."""
    src = SourceFile(data_dir, f"{FOLDER}/data_moods.csv", new_report(report, "spotify_moods"), log)
    col, width = header_columns(src, _MOODS_COLUMNS)

    def build(row: Row) -> MoodLabel:
        mood = require(row[col["mood"]], "mood").lower()
        if mood not in MOODS:
            raise RowError(f"mood: unknown label {mood!r}")
        return MoodLabel(
            source="spotify_moods",
            artist=require(row[col["artist"]], "artist"),
            title=require(row[col["name"]], "name"),
            mood=mood,
            source_id=_spotify_id(row[col["id"]]),
        )

    return emit(src, read_rows(src, columns=width), build)


def iter_artist_genres(
    data_dir: Path, report: LoadReport | None = None, *, include_empty: bool = False
) -> Iterator[ArtistGenres]:
    """``artist_genres_data_w_genres.csv`` (artists, genres as a Python-list string) -> :class:`ArtistGenres`.

    Artists whose list is empty are not yielded unless ``include_empty`` (they are not problems either).
    """
    src = SourceFile(
        data_dir,
        f"{FOLDER}/artist_genres_data_w_genres.csv",
        new_report(report, "spotify_artist_genres"),
        log,
    )
    col, width = header_columns(src, ("artists", "genres"))

    def build(row: Row) -> ArtistGenres | None:
        artist = require(row[col["artists"]], "artists")
        raw = text(row[col["genres"]]) or "[]"
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise RowError(f"genres: not a Python list literal: {raw[:60]!r}") from None
        if not isinstance(value, list | tuple) or not all(isinstance(g, str) for g in value):
            raise RowError(f"genres: not a list of strings: {raw[:60]!r}")
        genres = tuple(g.strip() for g in value if g.strip())
        if not genres and not include_empty:
            return None
        return ArtistGenres(source="spotify_artist_genres", artist=artist, genres=genres)

    return emit(src, read_rows(src, columns=width), build)
