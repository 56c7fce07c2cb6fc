from __future__ import annotations

import numpy as np
import pytest

from musicgraph.lm.rvq import ResidualVQ, code_stats, kmeans, nearest
from musicgraph.lm.semantic_ids import SemanticIds, add_collision_code, build_semantic_ids


def _data(n=600, d=12, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(8, d)) * 4
    return (centers[rng.integers(0, 8, n)] + rng.normal(size=(n, d))).astype(np.float32)


def test_kmeans_finds_the_clusters():
    x = _data()
    cent = kmeans(x, 8, seed=1)
    assert cent.shape == (8, 12)
    # every point is closer to its centroid than the data's spread
    d = ((x - cent[nearest(x, cent)]) ** 2).sum(1).mean()
    assert d < 0.2 * ((x - x.mean(0)) ** 2).sum(1).mean()


def test_more_levels_reconstruct_better(tmp_path):
    x = _data()
    errors = []
    for levels in (1, 2, 3):
        rvq = ResidualVQ(levels=levels, size=16, seed=0).fit(x)
        codes = rvq.encode(x)
        assert codes.shape == (len(x), levels) and codes.max() < 16
        errors.append(code_stats(codes, [16] * levels, x, rvq)["relative_reconstruction_error"])
    assert errors[0] > errors[1] > errors[2]
    rvq.save(tmp_path / "rvq.npz")
    again = ResidualVQ.load(tmp_path / "rvq.npz")
    assert (again.encode(x) == codes).all()
    with pytest.raises(ValueError, match="non-empty"):
        ResidualVQ().fit(np.zeros((0, 3), dtype=np.float32))


def test_collision_code_makes_ids_unique():
    codes = np.array([[1, 2, 3], [1, 2, 3], [4, 5, 6], [1, 2, 3]])
    full = add_collision_code(codes)
    assert full[:, 3].tolist() == [0, 1, 0, 2]
    assert len({tuple(r) for r in full.tolist()}) == 4
    stats = code_stats(codes, [8, 8, 8])
    assert stats["collision_rate"] == 0.75 and stats["largest_group"] == 3 and stats["distinct_ids"] == 2


def test_semantic_ids_round_trip(tmp_path):
    x = _data(300)
    keys = [f"song{i}" for i in range(len(x))]
    ids, _ = build_semantic_ids(keys, x, levels=3, size=8, seed=0)
    assert ids.stats["collision_rate_with_fourth_code"] == 0.0
    assert ids.sizes[:3] == [8, 8, 8] and ids.sizes[3] == ids.stats["fourth_code_size"]
    for k in keys[:20]:
        assert ids.key_of(ids.code_of(k)) == k
    assert ids.token_string((1, 2, 3, 0)) == "<a1><b2><c3><d0>"
    trie = ids.trie(keys[:5])
    assert len(trie) == 5 and all(ids.code_of(k) in trie for k in keys[:5])
    ids.save(tmp_path)
    again = SemanticIds.load(tmp_path)
    assert again.keys == keys and (again.codes == ids.codes).all() and again.offsets() == [0, 8, 16, 24]
