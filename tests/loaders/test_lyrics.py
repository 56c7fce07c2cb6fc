from __future__ import annotations

from pathlib import Path

from musicgraph.loaders import lyrics
from musicgraph.loaders.records import LoadReport


def test_poplyrics(data_dir: Path) -> None:
    report = LoadReport("poplyrics1k")
    songs = list(lyrics.iter_poplyrics(data_dir, report))
    assert [s.title for s in songs] == ["Made Up Hit", "Old Tune", "Year Only"]
    hit = songs[0]
    assert hit.source == "poplyrics1k" and hit.artist == "Invented Singer" and hit.album == "Made Up Album"
    assert (hit.release_date, hit.year, hit.duration_ms, hit.popularity) == ("2020-05-01", 2020, 205000, 88.0)
    assert hit.songwriters == ("Writer One", "Writer Two")
    assert hit.genres == ("dance pop", "pop") and hit.featured == ("Guest Star",)
    assert hit.lyrics == "[Verse 1]\ninvented words here\n\n[Chorus]\nla la la"
    old = songs[1]
    assert (old.release_date, old.year, old.duration_ms, old.popularity) == ("2016-08-04", 2016, None, None)
    assert songs[2].release_date == "2015" and songs[2].year == 2015
    # physical line numbers count the lines inside multi-line lyrics
    assert [(p.line, p.reason.split(":")[0]) for p in report.problems] == [(9, "genre"), (10, "release_date")]


def test_metallica(data_dir: Path) -> None:
    report = LoadReport("metallica")
    songs = list(lyrics.iter_metallica(data_dir, report))
    assert [(s.title, s.album, s.year, s.release_date) for s in songs] == [
        ("Loud Song", "Loud Album", 1991, "1991-08-12"),
        ("Other Song", "Other Album", 1986, "1986-03-03"),
    ]
    assert songs[0].source == "metallica" and songs[0].lyrics == "invented lower case lyric line"
    assert report.skipped == 1 and report.problems[0].line == 4
