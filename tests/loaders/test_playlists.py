from __future__ import annotations

from pathlib import Path

import pytest

from musicgraph.loaders import playlists
from musicgraph.loaders.base import RowError
from musicgraph.loaders.records import LoadReport, PlaylistMood


def test_spotify300(data_dir: Path) -> None:
    report = LoadReport("spotify300")
    tracks = list(playlists.iter_spotify300(data_dir, report))
    assert [(t.playlist_id, t.position, t.title) for t in tracks] == [
        ("sunny-days-mix", 0, "Sun Song"),
        ("sunny-days-mix", 1, "Beach Walk"),
        ("rainy-evening", 0, "Rain Drops"),
        ("rainy-evening", 1, "Late Bus"),
        ("sunny-days-mix", 2, "Ice Cream"),
    ]
    assert tracks[0].playlist_name == "Sunny Day's Mix" and tracks[0].album == "Summer Album"
    assert tracks[2].album is None and tracks[0].source == "spotify300"
    assert [(p.line, p.reason) for p in report.problems] == [(4, "empty song_name")]


def test_mpd_tracks(data_dir: Path) -> None:
    report = LoadReport("mpd")
    tracks = list(playlists.iter_mpd_tracks(data_dir, report))
    assert [(t.playlist_id, t.position, t.title) for t in tracks] == [
        ("1001", 0, "Tear Drop"),
        ("1001", 1, "My_Title"),
        ("1002", 0, "Jump Up"),
        ("1003", 0, "Shout"),
        ("1004", 0, "Lullaby"),
        ("1004", 1, "Drift"),
    ]
    first = tracks[0]
    assert first.source == "mpd" and first.playlist_name == "MPD 1001 (crying)"
    assert (
        first.spotify_id == "1111111111111111111111" and first.spotify_artist_id == "a111111111111111111111"
    )
    assert first.album == "Blue"
    assert tracks[-1].spotify_artist_id is None and tracks[-1].album is None
    assert [(p.file.rsplit("/", 2)[-2:], p.line) for p in report.problems] == [
        (["crying", "1001.csv"], 4),
        (["party", "1002.csv"], 3),
    ]


def test_mpd_moods_gold(data_dir: Path) -> None:
    report = LoadReport("mpd")
    moods = list(playlists.iter_mpd_moods(data_dir, report))
    assert moods == [
        PlaylistMood("mpd", "1001", "sad"),
        PlaylistMood("mpd", "1002", "happy"),
        PlaylistMood("mpd", "1003", "angry"),
        PlaylistMood("mpd", "1004", "relaxed"),
    ]
    assert [p.line for p in report.problems] == [6, 7]
    # the folders agree with the gold labels
    folder_moods = {
        t.playlist_id: t.playlist_name.split("(")[1].rstrip(")") for t in playlists.iter_mpd_tracks(data_dir)
    }
    assert {m.playlist_id: m.mood for m in moods} == {
        pid: playlists.FOLDER_MOODS[f] for pid, f in folder_moods.items()
    }


def test_mpd_lyrics(data_dir: Path) -> None:
    report = LoadReport("mpd")
    lyrics = list(playlists.iter_mpd_lyrics(data_dir, report))
    assert [(x.artist, x.title) for x in lyrics] == [
        ("The Invented Band", "Tear Drop"),
        ("Under_Score Crew", "My_Title"),
    ]
    assert lyrics[0].text == "First invented line\nSecond invented line"
    assert lyrics[0].source == "mpd" and lyrics[0].source_path is not None
    assert lyrics[0].source_path.endswith("lyrics/1001_The Invented Band_Tear Drop.txt")
    reasons = {p.file.rsplit("/", 1)[-1]: p.reason for p in report.problems}
    assert report.skipped == 6 and report.rows == 2
    assert reasons["1002_Foo_Bar_Baz.txt"].startswith("ambiguous")
    assert "placeholder" in reasons["1003_Angry Men_Shout.txt"]
    assert reasons["1004_Soft Voice_Drift.txt"] == "no lyrics: instrumental"
    assert reasons["1004_Soft Voice_Empty.txt"] == "no lyrics: empty file"
    assert reasons["1004_Soft Voice_Lullaby.txt"].startswith("bad encoding")
    assert "pid" in reasons["nopid_Artist_Title.txt"]


def test_split_lyrics_name() -> None:
    assert playlists.split_lyrics_name("12_Band_Song") == ("12", "Band", "Song")
    known = {"12": {"a_b"}, "": {"a_b"}}
    assert playlists.split_lyrics_name("12_A_B_Some_Title", known) == ("12", "A_B", "Some_Title")
    with pytest.raises(RowError):
        playlists.split_lyrics_name("12_X_Y_Z", known)
    with pytest.raises(RowError):
        playlists.split_lyrics_name("12_NoSplit")
