from __future__ import annotations

from pathlib import Path

from musicgraph.loaders import jamendo
from musicgraph.loaders.records import JamendoTrack, LoadReport


def test_tracks(data_dir: Path) -> None:
    report = LoadReport("mtg_jamendo")
    tracks = list(jamendo.iter_tracks(data_dir, report))
    assert tracks == [
        JamendoTrack("track_0000001", "artist_000001", "album_000001", 212.7, ("happy",)),
        JamendoTrack("track_0000002", "artist_000001", "album_000001", 99.0, ("sad", "film")),
    ]
    assert [p.line for p in report.problems] == [4, 5, 6]
    assert "genre---rock" in report.problems[0].reason
