"""Loaders for HetRec 2011 Last.fm 2K (folder ``hetrec_lastfm2k``).

The ``.dat`` files are TAB-separated UTF-8 with a header line (some with CRLF endings); quotes are
literal characters there, so they are read with ``QUOTE_NONE``. ``user_taggedartists.csv`` is the
same data as the original ``user_taggedartists.dat`` converted to comma-separated
``userID,artistID,tagID,day,month,year``. Ids are kept as strings (they are source ids). Tag
assignments that name artist ids absent from ``artists.dat`` (1,538 in the release) are yielded:
resolving them is the ingest's business.
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
    parse_int,
    read_rows,
    require,
    text,
)
from musicgraph.loaders.records import (
    ArtistRecord,
    FriendRecord,
    ListenRecord,
    LoadReport,
    TagAssignment,
    TagRecord,
)

log = logging.getLogger(__name__)

FOLDER = "hetrec_lastfm2k"
SOURCE = "hetrec"


def _src(data_dir: Path, name: str, report: LoadReport | None) -> SourceFile:
    return SourceFile(data_dir, f"{FOLDER}/{name}", new_report(report, SOURCE), log)


def _dat_rows(src: SourceFile, columns: int) -> Iterator[Row]:
    return read_rows(src, delimiter="\t", quoting=csv.QUOTE_NONE, columns=columns)


def _id(value: str, field: str) -> str:
    raw = require(value, field)
    if not raw.isdigit():
        raise RowError(f"{field}: not a numeric id: {raw!r}")
    return raw


def iter_artists(data_dir: Path, report: LoadReport | None = None) -> Iterator[ArtistRecord]:
    """``artists.dat`` (id, name, url, pictureURL; TSV) -> :class:`ArtistRecord` (source "hetrec")."""
    src = _src(data_dir, "artists.dat", report)

    def build(row: Row) -> ArtistRecord:
        return ArtistRecord(SOURCE, _id(row[0], "id"), require(row[1], "name"), text(row[2]))

    return emit(src, _dat_rows(src, 4), build)


def iter_tags(data_dir: Path, report: LoadReport | None = None) -> Iterator[TagRecord]:
    """``tags.dat`` (tagID, tagValue; TSV, CRLF) -> :class:`TagRecord`."""
    src = _src(data_dir, "tags.dat", report)

    def build(row: Row) -> TagRecord:
        return TagRecord(_id(row[0], "tagID"), require(row[1], "tagValue"))

    return emit(src, _dat_rows(src, 2), build)


def iter_listens(data_dir: Path, report: LoadReport | None = None) -> Iterator[ListenRecord]:
    """``user_artists.dat`` (userID, artistID, weight; TSV, CRLF) -> :class:`ListenRecord`."""
    src = _src(data_dir, "user_artists.dat", report)

    def build(row: Row) -> ListenRecord:
        weight = parse_float(row[2], "weight", required=True)
        assert weight is not None
        if weight < 0:
            raise RowError(f"weight: negative: {weight}")
        return ListenRecord(_id(row[0], "userID"), _id(row[1], "artistID"), weight)

    return emit(src, _dat_rows(src, 3), build)


def iter_friends(data_dir: Path, report: LoadReport | None = None) -> Iterator[FriendRecord]:
    """``user_friends.dat`` (userID, friendID; TSV, CRLF) -> :class:`FriendRecord`, one per row as listed."""
    src = _src(data_dir, "user_friends.dat", report)

    def build(row: Row) -> FriendRecord:
        return FriendRecord(_id(row[0], "userID"), _id(row[1], "friendID"))

    return emit(src, _dat_rows(src, 2), build)


def iter_tag_assignments(data_dir: Path, report: LoadReport | None = None) -> Iterator[TagAssignment]:
    """``user_taggedartists.csv`` (userID,artistID,tagID,day,month,year; CSV) -> :class:`TagAssignment`."""
    src = _src(data_dir, "user_taggedartists.csv", report)

    def build(row: Row) -> TagAssignment:
        day = parse_int(row[3], "day")
        month = parse_int(row[4], "month")
        year = parse_int(row[5], "year")
        if day is not None and not 1 <= day <= 31:
            raise RowError(f"day: out of range: {day}")
        if month is not None and not 1 <= month <= 12:
            raise RowError(f"month: out of range: {month}")
        return TagAssignment(
            _id(row[0], "userID"),
            _id(row[1], "artistID"),
            _id(row[2], "tagID"),
            year=year,
            month=month,
            day=day,
        )

    return emit(src, read_rows(src, columns=6), build)
