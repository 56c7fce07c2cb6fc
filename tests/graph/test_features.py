from __future__ import annotations

import numpy as np
import pytest

from musicgraph.graph import EmbeddedStore
from musicgraph.graph.features import estimate, evaluate, propagate, write_estimates


@pytest.fixture
def store(tmp_path):
    """Two artists with distinct sounds; each has songs with features and one without."""
    s = EmbeddedStore(tmp_path / "f")
    s.upsert_nodes("Artist", [("calm", {"name": "Calm"}), ("loud", {"name": "Loud"}), ("lonely", {"name": "Lonely"})])
    songs = []
    for i in range(6):
        songs.append((f"calm|c{i}", {"title": f"c{i}", "has_features": True, "energy": 0.1 + 0.01 * i,
                                     "acousticness": 0.9, "danceability": 0.3, "valence": 0.2, "tempo": 80.0,
                                     "instrumentalness": 0.5, "speechiness": 0.03, "liveness": 0.1, "loudness": -15.0}))
        songs.append((f"loud|l{i}", {"title": f"l{i}", "has_features": True, "energy": 0.9 - 0.01 * i,
                                     "acousticness": 0.05, "danceability": 0.8, "valence": 0.7, "tempo": 140.0,
                                     "instrumentalness": 0.0, "speechiness": 0.1, "liveness": 0.2, "loudness": -4.0}))
    songs += [("calm|new", {"title": "new"}), ("loud|new", {"title": "new"}), ("lonely|x", {"title": "x"})]
    s.upsert_nodes("Song", songs)
    s.upsert_edges("PERFORMED_BY", "Song", "Artist", [(k, k.split("|")[0], {"role": "main"}) for k, _ in songs])
    yield s
    s.close()


def test_estimates_follow_the_artist(store):
    est = estimate(store)
    got = dict(zip(est.keys, est.values, strict=True))
    assert set(got) == {"calm|new", "loud|new"}  # "lonely|x" has no neighbour with features
    e = est.features.index("energy")
    assert got["calm|new"][e] == pytest.approx(0.125, abs=1e-6)
    assert got["loud|new"][e] == pytest.approx(0.875, abs=1e-6)
    assert write_estimates(store, est) == 2
    node = store.get_node("Song", "calm|new")
    assert node.props["features_estimated"] is True and 0 < node.props["features_confidence"] <= 1
    assert store.get_node("Song", "calm|c0").props.get("features_estimated") is None  # real values untouched


def test_evaluate_beats_the_mean(store):
    rep = evaluate(store, holdout=0.34, seed=1)
    assert rep.n_heldout == 4 and rep.coverage == 1.0
    assert rep.mae["energy"] < rep.mae_mean_baseline["energy"] / 5


def test_propagation_reaches_two_hops():
    import scipy.sparse as sp

    # 0 (known) — 1 — 2 : node 2 only gets a value on the second iteration
    a = sp.csr_matrix(np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=float))
    vals = np.array([[1.0], [0.0], [0.0]])
    est, support = propagate(a, vals, np.array([True, False, False]), iterations=1)
    assert np.isnan(est[2, 0]) and est[1, 0] == 1.0
    est, support = propagate(a, vals, np.array([True, False, False]), iterations=2)
    assert est[2, 0] == 1.0 and support[2] > 0


@pytest.mark.integration
def test_real_data_estimates_beat_the_mean(real_store):
    rep = evaluate(real_store, holdout=0.2, seed=0)
    assert rep.coverage > 0.85
    for f in ("energy", "acousticness", "instrumentalness", "loudness", "danceability", "valence"):
        assert rep.mae[f] < rep.mae_mean_baseline[f], f
