"""Loaders for the lyrics sets (folder ``lyrics``). The lyrics are copyrighted: read, never copy.

* ``poplyric-1k.csv``: track_name, album, release_date, song_length ("m:ss"), popularity, songwriters,
  artist, lyrics (multi-line, quoted), genre, featured_artist; list columns are JSON-encoded.
  ``release_date`` is "YYYY-MM-DD", "YYYY" or "Aug. 4, 2016" (made ISO here).
* ``metallica_lyrics_cristobalvch.csv``: artist, title, album, decade, year, date, lyric (lower-cased,
  one line).
"""

from __future__ import annotations

import json
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
    parse_date,
    parse_float,
    parse_int,
    read_rows,
    require,
    text,
)
from musicgraph.loaders.records import LoadReport, SongRecord

log = logging.getLogger(__name__)

FOLDER = "lyrics"


def _json_list(value: str, field: str) -> tuple[str, ...]:
    raw = text(value)
    if raw is None:
        return ()
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError:
        raise RowError(f"{field}: not JSON: {raw[:60]!r}") from None
    if parsed is None:
        return ()
    if not isinstance(parsed, list) or not all(isinstance(v, str) for v in parsed):
        raise RowError(f"{field}: not a JSON list of strings: {raw[:60]!r}")
    return tuple(v.strip() for v in parsed if v.strip())


def _duration_ms(value: str, field: str) -> int | None:
    raw = text(value)
    if raw is None:
        return None
    parts = raw.split(":")
    if not 2 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        raise RowError(f"{field}: not m:ss: {raw!r}")
    seconds = 0
    for p in parts:
        seconds = seconds * 60 + int(p)
    return seconds * 1000


def iter_poplyrics(data_dir: Path, report: LoadReport | None = None) -> Iterator[SongRecord]:
    """``poplyric-1k.csv`` (CSV with multi-line lyrics, JSON list columns) -> :class:`SongRecord` "poplyrics1k"."""
    src = SourceFile(data_dir, f"{FOLDER}/poplyric-1k.csv", new_report(report, "poplyrics1k"), log)
    col, width = header_columns(
        src,
        (
            "track_name",
            "album",
            "release_date",
            "song_length",
            "popularity",
            "songwriters",
            "artist",
            "lyrics",
            "genre",
            "featured_artist",
        ),
    )

    def build(row: Row) -> SongRecord:
        release_date, year = parse_date(row[col["release_date"]], "release_date")
        lyrics = row[col["lyrics"]].replace("\r\n", "\n").strip() or None
        return SongRecord(
            source="poplyrics1k",
            title=require(row[col["track_name"]], "track_name"),
            artist=require(row[col["artist"]], "artist"),
            album=text(row[col["album"]]),
            release_date=release_date,
            year=year,
            duration_ms=_duration_ms(row[col["song_length"]], "song_length"),
            popularity=parse_float(row[col["popularity"]], "popularity"),
            songwriters=_json_list(row[col["songwriters"]], "songwriters"),
            genres=_json_list(row[col["genre"]], "genre"),
            featured=_json_list(row[col["featured_artist"]], "featured_artist"),
            lyrics=lyrics,
        )

    return emit(src, read_rows(src, columns=width), build)


def iter_metallica(data_dir: Path, report: LoadReport | None = None) -> Iterator[SongRecord]:
    """``metallica_lyrics_cristobalvch.csv`` (artist,title,album,decade,year,date,lyric) -> :class:`SongRecord`."""
    src = SourceFile(
        data_dir, f"{FOLDER}/metallica_lyrics_cristobalvch.csv", new_report(report, "metallica"), log
    )
    col, width = header_columns(src, ("artist", "title", "album", "year", "date", "lyric"))

    def build(row: Row) -> SongRecord:
        release_date, date_year = parse_date(row[col["date"]], "date")
        year = parse_int(row[col["year"]], "year")
        return SongRecord(
            source="metallica",
            title=require(row[col["title"]], "title"),
            artist=require(row[col["artist"]], "artist"),
            album=text(row[col["album"]]),
            year=year if year is not None else date_year,
            release_date=release_date,
            lyrics=text(row[col["lyric"]]),
        )

    return emit(src, read_rows(src, columns=width), build)
