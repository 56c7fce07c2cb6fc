"""Baselines on tiny fixtures with known answers; bootstrap and paired-test behaviour."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from musicgraph.evaluation import baselines as B
from musicgraph.evaluation import stats as S

# 4 rows x 5 items. Items 0 and 1 always co-occur; item 4 is the most popular.
X = sp.csr_matrix(
    np.array(
        [
            [1, 1, 0, 0, 1],
            [1, 1, 0, 0, 1],
            [1, 0, 0, 1, 1],  # row 2 lacks item 1, which co-occurs with item 0
            [0, 0, 1, 0, 1],
        ],
        dtype=float,
    )
)


def test_mostpop_ranks_by_count_and_masks_known():
    model = B.MostPop().fit(X)
    top = model.recommend(np.array([3]), 2)
    # row 3 knows items 2 and 4; remaining popularity: item0=3, item1=2, item3=1
    np.testing.assert_array_equal(top[0], [0, 1])


def test_itemknn_recovers_co_occurring_item():
    model = B.ItemKNN(k=10).fit(X)
    top = model.recommend(np.array([2]), 1)
    assert top[0, 0] == 1
    # cosine(0, 1) = 2 / sqrt(3 * 2)
    assert model._sim[0, 1] == pytest.approx(2 / np.sqrt(6))


def test_userknn_uses_similar_rows():
    model = B.UserKNN(k=1).fit(X)
    # row 2's nearest row is 0 or 1 (3 shared-ish items), which hold item 1
    top = model.recommend(np.array([2]), 1)
    assert top[0, 0] == 1


def test_ease_closed_form_matches_definition():
    lam = 1.0
    model = B.EASE(lam=lam).fit(X)
    g = X.T @ X + lam * np.eye(5)
    p = np.linalg.inv(np.asarray(g))
    b = np.eye(5) - p / np.diag(p)[None, :]
    np.testing.assert_allclose(model._b, b, atol=1e-10)
    assert np.allclose(np.diag(model._b), 0.0)
    assert model.recommend(np.array([2]), 1)[0, 0] == 1


def test_ease_restricted_to_popular_items():
    model = B.EASE(lam=1.0, max_items=2).fit(X)
    assert set(model._items.tolist()) == {0, 4}
    s = model.score(np.array([0]))
    assert s[0, 2] == 0.0 and s[0, 3] == 0.0


@pytest.mark.parametrize("name", ["bpr", "als"])
def test_factorization_learns_block_structure(name):
    # two blocks of rows with disjoint item sets; each row misses one item of its block
    rng = np.random.default_rng(0)
    rows = []
    for r in range(40):
        block = r % 2
        items = np.arange(block * 10, block * 10 + 10)
        rows.append(np.isin(np.arange(20), np.delete(items, rng.integers(0, 10))).astype(float))
    x = sp.csr_matrix(np.array(rows))
    extra = {"iterations": 60} if name == "bpr" else {"iterations": 15, "alpha": 1.0}
    model = B.make_baseline(name, seed=1, factors=8, **extra).fit(x)
    top = model.recommend(np.arange(40), 1)[:, 0]
    in_block = (top // 10) == (np.arange(40) % 2)
    assert in_block.mean() >= 0.9


def test_numpy_bpr_fallback_learns():
    rows = [[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]] * 20
    x = sp.csr_matrix(np.array(rows, dtype=float))
    u, v = B._bpr_numpy(x, factors=4, epochs=30, lr=0.1, reg=0.001, seed=0)
    s = u @ v.T
    assert (s[0, :3].mean() > s[0, 3:].mean()) and (s[1, 3:].mean() > s[1, :3].mean())


def test_random_is_seeded_and_errors():
    a = B.make_baseline("random", seed=3).fit(X).recommend(np.arange(4), 1)
    b = B.make_baseline("random", seed=3).fit(X).recommend(np.arange(4), 1)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="unknown baseline"):
        B.make_baseline("nope")
    with pytest.raises(RuntimeError, match="fit"):
        B.MostPop().score(np.array([0]))


def test_bootstrap_ci_contains_mean_and_shrinks():
    rng = np.random.default_rng(0)
    small = S.bootstrap_ci(rng.random(50), seed=1)
    large = S.bootstrap_ci(rng.random(5000), seed=1)
    assert small.lo <= small.mean <= small.hi
    assert (large.hi - large.lo) < (small.hi - small.lo)
    assert S.bootstrap_ci([1.0, 1.0], seed=0).lo == 1.0
    with pytest.raises(ValueError, match="NaN"):
        S.bootstrap_ci([np.nan])


def test_paired_test_detects_difference():
    rng = np.random.default_rng(0)
    base = rng.random(300)
    better = S.paired_test(base + 0.05, base, seed=0)
    assert better.p_randomization < 0.01 and better.ci_lo > 0
    same = S.paired_test(base, base + rng.normal(0, 0.01, 300), seed=0)
    assert same.p_randomization > 0.01
    with pytest.raises(ValueError, match="same queries"):
        S.paired_test([1.0, 2.0], [1.0])
    assert S.over_seeds([1.0, 3.0]) == pytest.approx((2.0, np.sqrt(2)))
