"""Every loader on the real shared data (``get_settings().data_dir``), with exact counts.

Counts come from the folders' PROVENANCE.txt and README where they state them, otherwise they were
measured. Without the data these tests fail (set MUSICGRAPH_SKIP_INTEGRATION=1 to skip them).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from musicgraph.config import get_settings
from musicgraph.loaders import hetrec, jamendo, lexicons, lyrics, moodylyrics, msd, playlists, spotify
from musicgraph.loaders.records import LoadReport

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def real_dir() -> Path:
    if os.environ.get("MUSICGRAPH_SKIP_INTEGRATION") == "1":
        pytest.skip("MUSICGRAPH_SKIP_INTEGRATION=1")
    path = Path(get_settings().data_dir)
    if not (path / "hetrec_lastfm2k").is_dir():
        pytest.fail(
            f"real data not found in {path}: set MUSICGRAPH_DATA_DIR to the shared data directory "
            "(the one holding hetrec_lastfm2k/, spotify_features/, ...) or MUSICGRAPH_SKIP_INTEGRATION=1",
            pytrace=False,
        )
    return path


# (loader, records yielded, rows skipped)
CASES: list[tuple[Callable[..., Iterator[object]], int, int]] = [
    (hetrec.iter_artists, 17_632, 0),
    (hetrec.iter_tags, 11_946, 0),
    (hetrec.iter_listens, 92_834, 0),
    (hetrec.iter_friends, 25_434, 0),
    (hetrec.iter_tag_assignments, 186_479, 0),
    (spotify.iter_top_hits, 1_994, 0),
    (spotify.iter_top10s, 603, 0),
    (spotify.iter_mood_songs, 686, 0),
    (spotify.iter_mood_labels, 686, 0),
    (spotify.iter_artist_genres, 18_976, 0),  # 32,539 artists less 13,563 with no genres
    (playlists.iter_spotify300, 18_835, 0),
    (playlists.iter_mpd_tracks, 2_081, 0),
    (playlists.iter_mpd_moods, 40, 0),
    (playlists.iter_mpd_lyrics, 428, 8),  # 436 files: 7 licensing placeholders, 1 "Instrumental"
    (moodylyrics.iter_moodylyrics, 2_595, 0),
    (moodylyrics.iter_moodylyrics4q, 2_000, 0),
    (lyrics.iter_poplyrics, 1_000, 0),
    (lyrics.iter_metallica, 49, 0),
    (msd.iter_tracks, 9_999, 1),  # 10,000 rows: line 6765 has an empty title
    (jamendo.iter_tracks, 18_486, 0),
]


@pytest.mark.parametrize(
    ("loader", "rows", "skipped"),
    CASES,
    ids=[f"{f.__module__.rsplit('.', 1)[-1]}.{f.__name__}" for f, _, _ in CASES],
)
def test_counts(real_dir: Path, loader: Callable[..., Iterator[object]], rows: int, skipped: int) -> None:
    report = LoadReport(loader.__name__)
    n = sum(1 for _ in loader(real_dir, report))
    assert (n, report.rows, report.skipped) == (rows, rows, skipped), report.problems[:10]


def test_known_skips(real_dir: Path) -> None:
    report = LoadReport("msd")
    list(msd.iter_tracks(real_dir, report))
    assert [(p.file, p.line, p.reason) for p in report.problems] == [
        ("msd_subset/subset_unique_tracks.txt", 6765, "empty title")
    ]
    report = LoadReport("mpd")
    list(playlists.iter_mpd_lyrics(real_dir, report))
    reasons = sorted(p.reason for p in report.problems)
    assert reasons == ["no lyrics: instrumental"] + ["no lyrics: lyrics-site licensing placeholder"] * 7


def test_real_details(real_dir: Path) -> None:
    artist_ids = {a.source_id for a in hetrec.iter_artists(real_dir)}
    orphans = sum(1 for t in hetrec.iter_tag_assignments(real_dir) if t.artist_id not in artist_ids)
    assert orphans == 1_538  # as documented in PROVENANCE.txt
    assert len({u.user_id for u in hetrec.iter_listens(real_dir)}) == 1_892
    assert len(list(spotify.iter_artist_genres(real_dir, include_empty=True))) == 32_539
    assert len({t.playlist_id for t in playlists.iter_spotify300(real_dir)}) == 300
    assert len({t.playlist_id for t in playlists.iter_mpd_tracks(real_dir)}) == 40
    assert sum(1 for t in spotify.iter_top10s(real_dir) if t.features is None) == 1
    assert {m.mood for m in spotify.iter_mood_labels(real_dir)} == {"happy", "sad", "energetic", "calm"}
    assert len({m for t in jamendo.iter_tracks(real_dir) for m in t.moods}) == 59
    assert len({t.artist_id for t in jamendo.iter_tracks(real_dir)}) == 1_533
    assert len({s.artist for s in lyrics.iter_poplyrics(real_dir)}) == 128
    four_q = list(moodylyrics.iter_moodylyrics4q(real_dir))
    assert not [m for m in four_q if "Ã" in m.artist + m.title]  # mojibake repaired


def test_lexicons(real_dir: Path) -> None:
    assert len(lexicons.load_nrc_vad(real_dir)) == 20_007
    assert len(lexicons.load_nrc_emotions(real_dir, prefer_package=False)) == 6_468
    assert lexicons.load_nrc_emotions(real_dir) == lexicons.load_nrc_emotions(real_dir, prefer_package=False)
    report = LoadReport("vader")
    assert len(lexicons.load_vader(real_dir, report)) == 7_506  # 7,520 lines, 14 tokens listed twice
    assert (report.rows, report.skipped) == (7_520, 0)
    assert len(lexicons.load_afinn(real_dir)) == 3_382
