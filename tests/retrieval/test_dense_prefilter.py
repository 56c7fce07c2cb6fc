"""DenseIndex's certified 8-bit prefilter: the same top-k as exact search (random invented vectors)."""

from __future__ import annotations

import numpy as np

from musicgraph.retrieval.dense import DenseIndex


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def exact(vectors: np.ndarray, q: np.ndarray, k: int, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows = np.flatnonzero(allowed)
    sims = vectors[rows] @ q
    order = np.lexsort((rows, -sims))[:k]
    return sims[order], rows[order]


def make(n: int = 3000, d: int = 32, seed: int = 0) -> tuple[DenseIndex, np.ndarray]:
    rng = np.random.default_rng(seed)
    vecs = unit(rng.normal(size=(n, d)))
    idx = DenseIndex(kind="flat", use_gpu=False).build(vecs)
    idx.prefilter_min = 100
    idx.brute_force_below = 0  # always through FAISS (the prefilter), never the small-mask brute force
    return idx, vecs


def test_prefilter_returns_the_exact_top_k_with_masks() -> None:
    idx, vecs = make()
    rng = np.random.default_rng(1)
    mask = rng.random(len(vecs)) > 0.2
    for i in range(30):
        q = unit(vecs[i : i + 1] + rng.normal(0, 0.3, (1, vecs.shape[1])))[0]
        for m in (None, mask):
            scores, rows = idx.search(q[None], k=25, mask=m)
            want_s, want_r = exact(vecs, q, 25, np.ones(len(vecs), bool) if m is None else m)
            assert rows[0].tolist() == want_r.tolist()
            np.testing.assert_allclose(scores[0], want_s, rtol=1e-5, atol=1e-6)
    assert idx.prefilter_stats["certified"] == 60 and idx.prefilter_stats["fallback"] == 0


def test_prefilter_follows_upserts_and_removals() -> None:
    idx, vecs = make(seed=2)
    q = vecs[5]
    idx.search(q[None], k=10)  # builds the 8-bit copy
    new = unit(np.random.default_rng(3).normal(size=(2, vecs.shape[1])))
    new[0] = q  # row 7 now equals the query
    idx.upsert(np.array([7, len(vecs)]), new)
    idx.remove(np.array([5]))
    vecs2 = np.vstack([vecs, new[1:]])
    vecs2[7] = new[0]
    allowed = np.ones(len(vecs2), bool)
    allowed[5] = False
    scores, rows = idx.search(q[None], k=10)
    assert rows[0].tolist() == exact(vecs2, q, 10, allowed)[1].tolist() and rows[0][0] == 7
    assert idx.prefilter_stats["certified"] == 2


def test_uncertifiable_cut_falls_back_to_exact_search() -> None:
    # many vectors within the quantization error of each other: the bound cannot separate the k-th one
    rng = np.random.default_rng(4)
    base = unit(rng.normal(size=(1, 16)))
    vecs = unit(base + rng.normal(0, 1e-3, (2000, 16)))
    idx = DenseIndex(kind="flat", use_gpu=False).build(vecs)
    idx.prefilter_min, idx.brute_force_below = 100, 0
    q = base[0]
    scores, rows = idx.search(q[None], k=5)
    assert idx.prefilter_stats == {"certified": 0, "fallback": 1}
    # the plain exact search answered (FAISS's float rounding may order near-ties differently from numpy)
    np.testing.assert_allclose(scores[0], exact(vecs, q, 5, np.ones(len(vecs), bool))[0], atol=1e-6)


def test_small_indexes_and_other_kinds_do_not_use_it() -> None:
    idx, vecs = make(n=300)
    idx.prefilter_min = 1000
    idx.search(vecs[:1], k=5)
    hnsw = DenseIndex(kind="hnsw", use_gpu=False).build(vecs)
    hnsw.prefilter_min = 1
    hnsw.search(vecs[:1], k=5)
    assert idx.prefilter_stats["certified"] == hnsw.prefilter_stats["certified"] == 0 and idx._sq is None
