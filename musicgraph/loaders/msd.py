"""Loader for the Million Song Dataset 10k-subset track list (folder ``msd_subset``).

``subset_unique_tracks.txt``: ``trackID<SEP>songID<SEP>artist<SEP>title`` with a header line
(``Id<SEP>id2<SEP>ArtistName<SEP>SongTitle``) added by the uploader. Bytes are mixed: each line is
decoded as UTF-8, falling back to Latin-1. Titles may contain anything but ``<SEP>``, so a line
must split into exactly four fields. One row of the real file has an empty title and is reported.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

from musicgraph.loaders.base import RowError, SourceFile, new_report, require
from musicgraph.loaders.records import LoadReport, SongRecord

log = logging.getLogger(__name__)

RELPATH = "msd_subset/subset_unique_tracks.txt"
SEP = "<SEP>"
_TRACK_ID = re.compile(r"^TR[A-Z0-9]{16}$")
_SONG_ID = re.compile(r"^SO[A-Z0-9]{16}$")


def iter_tracks(data_dir: Path, report: LoadReport | None = None) -> Iterator[SongRecord]:
    """``subset_unique_tracks.txt`` (``<SEP>``-delimited, header, UTF-8/Latin-1) -> :class:`SongRecord` "msd"."""
    src = SourceFile(data_dir, RELPATH, new_report(report, "msd"), log)
    return _iter(src)


def _iter(src: SourceFile) -> Iterator[SongRecord]:
    try:
        with src.path.open("rb") as fh:
            for number, raw in enumerate(fh, start=1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    line = raw.decode("latin-1")
                line = line.rstrip("\r\n")
                if number == 1 and line.lstrip("\ufeff").startswith("Id" + SEP):
                    continue
                if not line.strip():
                    continue
                fields = line.split(SEP)
                if len(fields) != 4:
                    src.problem(number, f"expected 4 '<SEP>' fields, got {len(fields)}")
                    continue
                try:
                    track_id = require(fields[0], "track id")
                    song_id = require(fields[1], "song id")
                    if not _TRACK_ID.match(track_id):
                        raise RowError(f"track id: not an MSD track id: {track_id!r}")
                    if not _SONG_ID.match(song_id):
                        raise RowError(f"song id: not an MSD song id: {song_id!r}")
                    record = SongRecord(
                        source="msd",
                        source_id=track_id,
                        msd_track_id=track_id,
                        msd_song_id=song_id,
                        artist=require(fields[2], "artist"),
                        title=require(fields[3], "title"),
                    )
                except RowError as exc:
                    src.problem(number, str(exc))
                    continue
                src.report.rows += 1
                yield record
    finally:
        src.finish()
