from __future__ import annotations

from pathlib import Path

from musicgraph.loaders import msd
from musicgraph.loaders.records import LoadReport


def test_tracks_mixed_encoding(data_dir: Path) -> None:
    report = LoadReport("msd")
    tracks = list(msd.iter_tracks(data_dir, report))
    assert [(t.artist, t.title) for t in tracks] == [
        ("Invented Singer", "First Song"),
        ("Café Band", "Crème"),  # Latin-1 line
        ("Café Band", "Utf Eight"),  # UTF-8 line
    ]
    first = tracks[0]
    assert first.source == "msd" and first.msd_track_id == "TRAAAAA128F0000001" == first.source_id
    assert first.msd_song_id == "SOAAAAA12A8C000001"
    assert [(p.line, p.reason) for p in report.problems] == [
        (5, "empty title"),
        (6, "expected 4 '<SEP>' fields, got 3"),
        (7, "track id: not an MSD track id: 'BADID'"),
    ]
    assert report.rows == 3
