"""Loaders for MoodyLyrics and MoodyLyrics4Q (folder ``mpd_emotion_playlists``), Cano & Morisio 2017.

* ``MoodyLyrics.csv``: Index, Artist, Song, Emotion (happy/angry/sad/relaxed), 2,595 rows.
* ``MoodyLyrics4Q.csv``: "Index","Artist","Title","Mood" (same four labels), 2,000 rows.

Titles and artists are stripped (172 MoodyLyrics titles end in spaces). Some names were stored as
UTF-8 mis-decoded as cp1252, once in MoodyLyrics ("MÃ¥negarm") and twice in MoodyLyrics4Q
("JosÃƒÂ©"): those are repaired with :func:`musicgraph.loaders.base.fix_mojibake`, which only
touches strings that round-trip as strict UTF-8. ``source_id`` is the file's Index ("ML1"...).

``MoodyLyrics_cleaned.csv`` is **not** used: it is the student project's de-duplicated copy of
MoodyLyrics.csv (2,509 rows, no Index column); the original keeps the published ids and the
duplicates are resolved later by entity resolution anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from musicgraph.loaders.base import (
    Row,
    RowError,
    SourceFile,
    emit,
    fix_mojibake,
    header_columns,
    new_report,
    read_rows,
    require,
    text,
)
from musicgraph.loaders.records import LoadReport, MoodLabel

log = logging.getLogger(__name__)

FOLDER = "mpd_emotion_playlists"
MOODS = frozenset({"happy", "angry", "sad", "relaxed"})


def _iter(
    data_dir: Path, report: LoadReport | None, name: str, source: str, title_col: str, mood_col: str
) -> Iterator[MoodLabel]:
    src = SourceFile(data_dir, f"{FOLDER}/{name}", new_report(report, source), log)
    col, width = header_columns(src, ("Index", "Artist", title_col, mood_col))

    def build(row: Row) -> MoodLabel:
        mood = require(row[col[mood_col]], mood_col).lower()
        if mood not in MOODS:
            raise RowError(f"{mood_col}: unknown label {mood!r}")
        return MoodLabel(
            source=source,
            artist=fix_mojibake(require(row[col["Artist"]], "Artist")),
            title=fix_mojibake(require(row[col[title_col]], title_col)),
            mood=mood,
            source_id=text(row[col["Index"]]),
        )

    return emit(src, read_rows(src, columns=width), build)


def iter_moodylyrics(data_dir: Path, report: LoadReport | None = None) -> Iterator[MoodLabel]:
    """``MoodyLyrics.csv`` (Index, Artist, Song, Emotion) -> :class:`MoodLabel` (source "moodylyrics")."""
    return _iter(data_dir, report, "MoodyLyrics.csv", "moodylyrics", "Song", "Emotion")


def iter_moodylyrics4q(data_dir: Path, report: LoadReport | None = None) -> Iterator[MoodLabel]:
    """``MoodyLyrics4Q.csv`` (Index, Artist, Title, Mood; all quoted) -> :class:`MoodLabel` ("moodylyrics4q")."""
    return _iter(data_dir, report, "MoodyLyrics4Q.csv", "moodylyrics4q", "Title", "Mood")
