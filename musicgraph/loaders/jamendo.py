"""Loader for the MTG-Jamendo mood/theme split (folder ``mtg_jamendo_moods``).

``autotagging_moodtheme.tsv``: TAB-separated, CRLF, header ``TRACK_ID ARTIST_ID ALBUM_ID PATH
DURATION TAGS``; from the sixth column on, one tag per column (``mood/theme---happy``). Only
``mood/theme---`` tags are kept, as the part after ``---``; ids stay as in the file
("track_0000948"). Ids only: the names are in raw.meta.tsv, which is not part of the data dir.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator
from pathlib import Path

from musicgraph.loaders.base import (
    Row,
    RowError,
    SourceFile,
    emit,
    new_report,
    parse_float,
    read_rows,
    require,
)
from musicgraph.loaders.records import JamendoTrack, LoadReport

log = logging.getLogger(__name__)

RELPATH = "mtg_jamendo_moods/autotagging_moodtheme.tsv"
TAG_PREFIX = "mood/theme---"


def iter_tracks(data_dir: Path, report: LoadReport | None = None) -> Iterator[JamendoTrack]:
    """``autotagging_moodtheme.tsv`` (TSV, tags from column 6) -> :class:`JamendoTrack`."""
    src = SourceFile(data_dir, RELPATH, new_report(report, "mtg_jamendo"), log)

    def build(row: Row) -> JamendoTrack:
        moods: list[str] = []
        for tag in row.fields[5:]:
            tag = tag.strip()
            if not tag:
                continue
            if not tag.startswith(TAG_PREFIX) or not tag[len(TAG_PREFIX) :].strip():
                raise RowError(f"not a mood/theme tag: {tag!r}")
            mood = tag[len(TAG_PREFIX) :].strip()
            if mood not in moods:
                moods.append(mood)
        if not moods:
            raise RowError("no mood/theme tags")
        return JamendoTrack(
            track_id=require(row[0], "TRACK_ID"),
            artist_id=require(row[1], "ARTIST_ID"),
            album_id=require(row[2], "ALBUM_ID"),
            duration=parse_float(row[4], "DURATION"),
            moods=tuple(moods),
        )

    return emit(src, read_rows(src, delimiter="\t", quoting=csv.QUOTE_NONE, min_columns=6), build)
