from __future__ import annotations

import numpy as np
import pytest

from musicgraph.retrieval.catalog import FEATURES
from musicgraph.retrieval.fusion import (
    artist_cap,
    emotion_match,
    feature_match,
    minmax,
    mmr,
    rerank,
    rrf,
    weighted_linear,
)


def test_rrf_rewards_agreement() -> None:
    fused = rrf({"a": [1, 2, 3], "b": [2, 4, 1]}, k=60)
    assert max(fused, key=fused.get) == 2  # ranked 2nd and 1st beats 1st and 3rd
    assert fused[1] == pytest.approx(1 / 61 + 1 / 63)
    assert rrf({"a": [1], "b": [2]}, k=60, weights={"a": 0.0, "b": 1.0}) == {2: pytest.approx(1 / 61)}
    with pytest.raises(ValueError):
        rrf({"a": [1]}, k=0)


def test_weighted_linear_normalizes_each_component() -> None:
    fused = weighted_linear({"bm25": {1: 10.0, 2: 5.0, 3: 0.0}, "dense": {3: 0.9, 2: 0.8, 1: 0.1}},
                            {"bm25": 1.0, "dense": 2.0})
    assert fused[3] == pytest.approx(2.0)
    assert fused[1] == pytest.approx(1.0)
    assert minmax({1: 3.0, 2: 3.0}) == {1: 1.0, 2: 1.0}


def test_feature_match_inside_outside_unknown() -> None:
    feats = np.full((3, len(FEATURES)), np.nan, dtype=np.float32)
    e = FEATURES.index("energy")
    feats[0, e], feats[1, e] = 0.9, 0.3
    score, ev = feature_match(feats, {"energy": (0.7, None)})
    assert score[0] == 1.0 and score[1] == 0.0 and score[2] == 0.5
    assert ev[0] == ["energy=0.90"] and ev[1] == []


def test_emotion_match_prefers_target_and_penalizes_excluded() -> None:
    v = np.array([0.1, 0.9, np.nan])
    a = np.array([0.3, 0.7, np.nan])
    m = emotion_match((0.15, 0.3), [(v, a, 1.0)])
    assert m[0] > 0.9 > m[1] and m[2] == 0.5
    ex = emotion_match(None, [(v, a, 1.0)], exclude_quadrants=[(0.15, 0.3)])
    assert ex[0] < ex[1]


def test_rerank_can_reorder_close_candidates() -> None:
    fused = {1: 1.0, 2: 0.95, 3: 0.0}
    out = rerank(fused, emotion={1: 0.0, 2: 1.0, 3: 0.5}, emotion_weight=0.5)
    assert out[2] > out[1]


def test_artist_cap_and_mmr() -> None:
    assert artist_cap([0, 1, 2, 3], ["x", "x", "x", "y"], 2) == [0, 1, 3]
    assert artist_cap([0, 1], ["x", "x"], 0) == [0, 1]
    vecs = np.array([[1, 0], [1, 0], [0, 1]], dtype=np.float32)
    assert mmr([0, 1, 2], {0: 1.0, 1: 0.99, 2: 0.9}, vecs, k=2, lam=0.5) == [0, 2]
    assert mmr([0, 1, 2], {0: 1.0, 1: 0.99, 2: 0.9}, vecs, k=2, lam=1.0) == [0, 1]


def test_artist_cap_limit_is_a_prefix_of_the_full_cap() -> None:
    from musicgraph.retrieval.fusion import artist_cap

    artists = ["a", "a", "b", "a", "c", "b", "b", "d", "c", "e"]
    order = [9, 0, 1, 3, 2, 5, 6, 4, 8, 7]
    full = artist_cap(order, artists, 2)
    assert full == [9, 0, 1, 2, 5, 4, 8, 7]
    for limit in range(1, 10):
        assert artist_cap(order, artists, 2, limit=limit) == full[:limit]
    assert artist_cap(order, artists, 0, limit=3) == order[:3]
