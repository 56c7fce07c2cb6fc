from __future__ import annotations

from pathlib import Path

import pytest

from musicgraph.loaders import spotify
from musicgraph.loaders.records import ArtistGenres, LoadReport, MoodLabel


def test_top_hits(data_dir: Path) -> None:
    report = LoadReport("spotify_tophits")
    songs = list(spotify.iter_top_hits(data_dir, report))
    assert [s.title for s in songs] == ["First Song", "Song, With Comma", "Quiet One"]
    first, second, third = songs
    assert first.source == "spotify_tophits" and first.artist == "Invented Singer"
    assert first.genres == ("pop",) and first.explicit is False and first.year == 2001
    assert first.duration_ms == 200000 and first.popularity == 70.0
    assert first.features is not None
    assert first.features.as_dict() == {
        "danceability": 0.5,
        "energy": 0.6,
        "valence": 0.7,
        "tempo": 120.0,
        "acousticness": 0.1,
        "instrumentalness": 0.0,
        "speechiness": 0.05,
        "liveness": 0.1,
        "loudness": -5.0,
        "key": 1,
        "mode": 1,
    }
    assert second.genres == ("hip hop", "pop", "R&B") and second.explicit is True
    assert second.features is not None and second.features.instrumentalness == pytest.approx(1.2e-05)
    assert third.genres == ()
    assert [(p.line, p.reason) for p in report.problems] == [
        (5, "danceability: not a number: 'zero'"),
        (6, "empty artist"),
    ]


def test_top10s_scales_and_cp1252(data_dir: Path) -> None:
    report = LoadReport("spotify_top10s")
    songs = list(spotify.iter_top10s(data_dir, report))
    assert [s.title for s in songs] == ["Don\u2019t Stop, Café", "Silent Track", "Plain Title"]
    hit = songs[0]
    assert hit.source == "spotify_top10s" and hit.source_id == "1" and hit.genres == ("dance pop",)
    assert hit.duration_ms == 210000 and hit.popularity == 75.0 and hit.year == 2012
    f = hit.features
    assert f is not None
    assert (f.energy, f.danceability, f.valence, f.acousticness, f.speechiness, f.liveness) == pytest.approx(
        (0.80, 0.70, 0.60, 0.05, 0.04, 0.10)
    )
    assert (f.tempo, f.loudness) == (128.0, -5.0)
    assert songs[1].features is None  # all-zero row: no analysis
    assert report.skipped == 1 and report.problems[0].line == 4 and "0-100" in report.problems[0].reason


def test_mood_songs(data_dir: Path) -> None:
    report = LoadReport("spotify_moods")
    songs = list(spotify.iter_mood_songs(data_dir, report))
    assert [s.spotify_id for s in songs] == [
        "0aaaaaaaaaaaaaaaaaaaa1",
        "0aaaaaaaaaaaaaaaaaaaa2",
        "0aaaaaaaaaaaaaaaaaaaa3",
        "0aaaaaaaaaaaaaaaaaaaa5",
    ]
    assert songs[0].release_date == "2001-02-03" and songs[0].year == 2001 and songs[0].album == "Dawn"
    assert songs[1].release_date == "1999" and songs[1].year == 1999
    assert songs[0].source_id == songs[0].spotify_id and songs[0].duration_ms == 200000
    assert songs[0].features is not None and songs[0].features.key == 5
    assert report.skipped == 1 and report.problems[0].line == 5


def test_mood_labels(data_dir: Path) -> None:
    report = LoadReport("spotify_moods")
    labels = list(spotify.iter_mood_labels(data_dir, report))
    assert labels[0] == MoodLabel(
        "spotify_moods", "Invented Singer", "Morning Light", "happy", source_id="0aaaaaaaaaaaaaaaaaaaa1"
    )
    assert [x.mood for x in labels] == ["happy", "sad", "energetic"]
    assert [p.line for p in report.problems] == [4, 5]


def test_artist_genres(data_dir: Path) -> None:
    report = LoadReport("spotify_artist_genres")
    rows = list(spotify.iter_artist_genres(data_dir, report))
    assert rows == [
        ArtistGenres("spotify_artist_genres", "Invented Singer", ("dance pop", "pop")),
        ArtistGenres("spotify_artist_genres", "Spaced Artist", ("indie folk",)),
    ]
    assert [p.line for p in report.problems] == [4, 5]
    with_empty = list(spotify.iter_artist_genres(data_dir, include_empty=True))
    assert ArtistGenres("spotify_artist_genres", "Nobody Known", ()) in with_empty
    assert len(with_empty) == 3
