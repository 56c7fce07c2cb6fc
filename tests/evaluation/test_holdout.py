"""Task 3's held-out view of the indexes: no trace of the hidden mood labels in the estimated audio
features, and a re-encoding cache keyed by the split (all content invented)."""

from __future__ import annotations

import numpy as np
import pytest

from musicgraph.evaluation.tasks.evalsets import holdout_bundle, split_digest
from musicgraph.graph import EmbeddedStore
from musicgraph.graph.features import estimate, write_estimates
from musicgraph.retrieval.catalog import FEATURES
from musicgraph.retrieval.encoder import HashingEncoder
from musicgraph.retrieval.index import build_indexes

LOUD = {"energy": 0.9, "valence": 0.8, "danceability": 0.7, "acousticness": 0.1, "tempo": 150.0,
        "instrumentalness": 0.0, "speechiness": 0.05, "liveness": 0.1, "loudness": -4.0}
SOFT = {"energy": 0.1, "valence": 0.3, "danceability": 0.2, "acousticness": 0.9, "tempo": 70.0,
        "instrumentalness": 0.6, "speechiness": 0.03, "liveness": 0.1, "loudness": -18.0}


@pytest.fixture
def store(tmp_path):
    """Energetic and calm songs with measured features; three songs without features, linked to the
    rest only by their mood label ("solo|h", "duo|v": energetic; "trio|c": calm), with estimates written."""
    s = EmbeddedStore(tmp_path / "store")
    artists = ["band", "quiet", "solo", "duo", "trio"]
    s.upsert_nodes("Artist", [(a, {"name": a.title()}) for a in artists])
    s.upsert_nodes("Mood", [("energetic", {"name": "energetic"}), ("calm", {"name": "calm"})])
    songs = [(f"band|e{i}", {"title": f"Run {i}", "artist": "Band", "has_features": True, **LOUD}) for i in range(4)]
    songs += [(f"quiet|c{i}", {"title": f"Rest {i}", "artist": "Quiet", "has_features": True, **SOFT}) for i in range(4)]
    songs += [("solo|h", {"title": "Hidden Song", "artist": "Solo"}), ("duo|v", {"title": "Visible Song", "artist": "Duo"}),
              ("trio|c", {"title": "Calm Song", "artist": "Trio"})]
    s.upsert_nodes("Song", songs)
    s.upsert_edges("PERFORMED_BY", "Song", "Artist", [(k, k.split("|")[0], {"role": "main"}) for k, _ in songs])
    moods = [(k, "energetic") for k, _ in songs if k.startswith(("band", "solo", "duo"))]
    moods += [(k, "calm") for k, _ in songs if k.startswith(("quiet", "trio"))]
    s.upsert_edges("HAS_MOOD", "Song", "Mood", [(k, m, {"sources": ["invented"]}) for k, m in moods])
    assert write_estimates(s, estimate(s)) == 3
    yield s
    s.close()


def _row(cat, key: str) -> np.ndarray:
    return cat.features[cat.keys.index(key)]


def test_estimated_features_carry_no_hidden_mood(store, tmp_path, fixture_data_dir):
    bundle = build_indexes(store, tmp_path / "idx", dense=False, data_dir=fixture_data_dir, progress=False)
    energy = FEATURES.index("energy")
    # what the store holds: the hidden song got the energetic songs' features through its mood label
    assert _row(bundle.catalog, "solo|h")[energy] == pytest.approx(0.9)
    assert bool(bundle.catalog.estimated_flags()[bundle.catalog.keys.index("solo|h")])
    version = store.version()

    held, _ = holdout_bundle(store, bundle, {"solo|h", "trio|c"})
    cat = held.catalog
    # without their labels nothing reaches the hidden songs: no estimate at all
    for key in ("solo|h", "trio|c"):
        row = _row(cat, key)
        assert np.isnan(row[[FEATURES.index(f) for f in LOUD]]).all(), key
    # a visible song keeps the estimate its own label gives it; measured features are untouched
    assert _row(cat, "duo|v")[energy] == pytest.approx(0.9)
    assert _row(cat, "band|e0")[energy] == pytest.approx(0.9) and _row(cat, "quiet|c1")[energy] == pytest.approx(0.1)
    assert store.version() == version  # the store itself is not changed


class _Counting(HashingEncoder):
    def __init__(self) -> None:
        super().__init__(dim=32)
        self.texts: list[str] = []

    def encode(self, texts, batch_size=64, progress=False):
        self.texts += list(texts)
        return super().encode(texts, batch_size, progress)


def test_reencoding_cache_is_keyed_by_the_split(store, tmp_path, fixture_data_dir):
    bundle = build_indexes(store, tmp_path / "idx", dense=True, encoder=HashingEncoder(dim=32),
                           data_dir=fixture_data_dir, progress=False)
    cache = tmp_path / "cache"
    cache.mkdir()
    # a file keyed by count only, as an older writer left it for another split: never to be read
    for n in range(1, 6):
        np.save(cache / f"holdout_vectors_{n}.npy", np.full((n, 32), 7.0, dtype=np.float32))

    def run(hidden: set[str]) -> tuple[np.ndarray, _Counting]:
        enc = _Counting()
        held, reason = holdout_bundle(store, bundle, hidden, cache, encoder=enc)
        assert reason is None
        return np.asarray(held.dense.vectors), enc

    a = {"solo|h"}
    vecs_a, enc = run(a)
    assert enc.texts, "the hidden song's text changed and is re-encoded"
    assert (vecs_a < 7.0).all()  # not the stale count-keyed file
    files = sorted(p.name for p in cache.glob(f"holdout_vectors_{split_digest(a)}_*.npy"))
    assert len(files) == 1
    again, enc2 = run(a)
    assert not enc2.texts and np.array_equal(again, vecs_a)  # same split, same texts: read from the cache

    b = {"duo|v"}  # another split of the same size: re-encoded, its own file
    vecs_b, enc3 = run(b)
    assert enc3.texts and not np.array_equal(vecs_b, vecs_a)
    assert split_digest(b) != split_digest(a)
    assert len(list(cache.glob(f"holdout_vectors_{split_digest(b)}_*.npy"))) == 1
    row = bundle.catalog.keys.index("duo|v")
    assert np.allclose(vecs_b[row], HashingEncoder(dim=32).encode([enc3.texts[enc3.texts.index(
        next(t for t in enc3.texts if "Visible Song" in t))]])[0])
