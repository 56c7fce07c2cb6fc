from __future__ import annotations

from pathlib import Path

import pytest

from musicgraph.loaders import hetrec
from musicgraph.loaders.base import DataNotFoundError
from musicgraph.loaders.records import (
    ArtistRecord,
    FriendRecord,
    ListenRecord,
    LoadReport,
    TagAssignment,
    TagRecord,
)


def test_artists(data_dir: Path) -> None:
    report = LoadReport("hetrec")
    artists = list(hetrec.iter_artists(data_dir, report))
    assert artists == [
        ArtistRecord("hetrec", "1", "The Example Band", "http://www.last.fm/music/The+Example+Band"),
        ArtistRecord("hetrec", "2", 'Über "Quoted" Trio', "http://www.last.fm/music/Uber"),
        ArtistRecord("hetrec", "6", "Spaced Name", "http://www.last.fm/music/Spaced"),
    ]
    assert report.rows == 3 and report.skipped == 4
    assert [(p.file, p.line) for p in report.problems] == [
        ("hetrec_lastfm2k/artists.dat", n) for n in (4, 5, 6, 8)
    ]
    reasons = [p.reason for p in report.problems]
    assert reasons[0] == "expected 4 columns, got 3"
    assert reasons[1] == "empty name"
    assert "not a numeric id" in reasons[2]
    assert reasons[3].startswith("bad encoding")


def test_tags_crlf(data_dir: Path) -> None:
    report = LoadReport("hetrec")
    assert list(hetrec.iter_tags(data_dir, report)) == [
        TagRecord("1", "metal"),
        TagRecord("2", "chill out"),
        TagRecord("4", "sad songs"),
    ]
    assert (report.rows, report.skipped, report.problems[0].line) == (3, 1, 4)


def test_listens(data_dir: Path) -> None:
    report = LoadReport("hetrec")
    listens = list(hetrec.iter_listens(data_dir, report))
    assert listens[0] == ListenRecord("2", "1", 120.0)
    assert [x.artist_id for x in listens] == ["1", "2", "6"]
    assert report.skipped == 1 and "weight" in report.problems[0].reason


def test_friends(data_dir: Path) -> None:
    report = LoadReport("hetrec")
    assert list(hetrec.iter_friends(data_dir, report)) == [
        FriendRecord("2", "3"),
        FriendRecord("3", "2"),
        FriendRecord("4", "2"),
    ]
    assert report.skipped == 1


def test_tag_assignments(data_dir: Path) -> None:
    report = LoadReport("hetrec")
    rows = list(hetrec.iter_tag_assignments(data_dir, report))
    assert rows == [
        TagAssignment("2", "1", "1", year=2009, month=4, day=1),
        TagAssignment("3", "2", "2", year=2008, month=11, day=30),
    ]
    assert [(p.line, p.reason) for p in report.problems] == [
        (3, "month: out of range: 13"),
        (4, "expected 6 columns, got 5"),
    ]


def test_report_optional(data_dir: Path) -> None:
    assert len(list(hetrec.iter_artists(data_dir))) == 3


def test_missing_dir_raises_at_call(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="MUSICGRAPH_DATA_DIR"):
        hetrec.iter_artists(tmp_path)
