"""Metrics: cross-check against ranx on random runs (to 1e-6) and hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from musicgraph.evaluation import metrics as M

ranx = pytest.importorskip("ranx")


def _random_case(seed: int, n_queries: int = 60, n_items: int = 200, width: int = 40):
    rng = np.random.default_rng(seed)
    ranked = np.stack([rng.permutation(n_items)[:width] for _ in range(n_queries)])
    relevant = []
    for q in range(n_queries):
        r = int(rng.integers(1, 25))  # R <= width - so R-precision is defined on the list
        # bias relevant items towards the top half of the list so the metrics are not all ~0
        pool = np.concatenate([ranked[q, : width // 2], rng.permutation(n_items)[:50]])
        relevant.append(set(rng.choice(np.unique(pool), size=r, replace=False).tolist()))
    return ranked, relevant


def _to_ranx(ranked, relevant):
    qrels = {f"q{q:04d}": {f"d{i}": 1 for i in rel} for q, rel in enumerate(relevant)}
    run = {
        f"q{q:04d}": {f"d{int(i)}": float(len(row) - j) for j, i in enumerate(row)} for q, row in enumerate(ranked)
    }
    return ranx.Qrels(qrels), ranx.Run(run)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_match_ranx(seed):
    ranked, relevant = _random_case(seed)
    hits, n_rel = M.hit_matrix(ranked, relevant)
    qrels, run = _to_ranx(ranked, relevant)
    ours = M.evaluate_hits(hits, n_rel, ks=(1, 5, 10, 20))
    names = {"hit": "hit_rate", "precision": "precision", "recall": "recall", "map": "map", "ndcg": "ndcg", "mrr": "mrr"}
    for k in (1, 5, 10, 20):
        for ours_name, ranx_name in names.items():
            expected = ranx.evaluate(qrels, run, f"{ranx_name}@{k}", return_mean=False)
            np.testing.assert_allclose(ours[f"{ours_name}@{k}"], expected, atol=1e-6, err_msg=f"{ours_name}@{k}")
    expected = ranx.evaluate(qrels, run, "r-precision", return_mean=False)
    np.testing.assert_allclose(ours["r_precision"], expected, atol=1e-6)


def test_sparse_and_set_inputs_agree():
    ranked, relevant = _random_case(5, n_queries=20)
    rows = [q for q, rel in enumerate(relevant) for _ in rel]
    cols = [i for rel in relevant for i in rel]
    mat = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(20, 200))
    h1, r1 = M.hit_matrix(ranked, relevant)
    h2, r2 = M.hit_matrix(ranked, mat)
    np.testing.assert_array_equal(h1, h2)
    np.testing.assert_array_equal(r1, r2)


def test_hand_computed_values():
    # list: [rel, non, rel, non], R = 3
    hits = np.array([[1.0, 0.0, 1.0, 0.0]])
    n = np.array([3.0])
    assert M.precision_at_k(hits, n, 4)[0] == pytest.approx(0.5)
    assert M.recall_at_k(hits, n, 4)[0] == pytest.approx(2 / 3)
    assert M.map_at_k(hits, n, 4)[0] == pytest.approx((1 + 2 / 3) / 3)
    dcg = 1 + 1 / np.log2(4)
    idcg = 1 + 1 / np.log2(3) + 1 / np.log2(4)
    assert M.ndcg_at_k(hits, n, 4)[0] == pytest.approx(dcg / idcg)
    assert M.mrr_at_k(np.array([[0.0, 0.0, 1.0]]), np.array([1.0]), 3)[0] == pytest.approx(1 / 3)
    assert M.r_precision(hits, n)[0] == pytest.approx(2 / 3)
    # k beyond the list: padded, precision still divides by k
    assert M.precision_at_k(hits, n, 8)[0] == pytest.approx(2 / 8)


def test_padding_and_errors():
    hits, n = M.hit_matrix([[3, 1], [2]], [{1}, {5}])
    np.testing.assert_array_equal(hits, [[0, 1], [0, 0]])
    with pytest.raises(ValueError, match="repeats"):
        M.pad_ranked([[1, 1]])
    with pytest.raises(ValueError, match="more hits"):
        M.recall_at_k(np.array([[1.0, 1.0]]), np.array([1.0]), 2)
    assert M.recall_at_k(np.array([[0.0]]), np.array([0.0]), 1)[0] == 0.0


def test_beyond_accuracy():
    ranked = np.array([[0, 1], [0, 2]])
    assert M.coverage(ranked, 4, 2) == pytest.approx(3 / 4)
    vecs = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    ild = M.intra_list_diversity(ranked, vecs, 2)
    np.testing.assert_allclose(ild, [0.0, 1.0])
    pop = np.array([9.0, 0.0, 4.0])
    nov = M.novelty(ranked, pop, 9, 2)
    np.testing.assert_allclose(nov, [(-np.log2(1.0) - np.log2(0.1)) / 2, (-np.log2(1.0) - np.log2(0.5)) / 2])


def test_top_k_from_scores_masks_and_orders():
    scores = np.array([[0.1, 0.9, 0.5, 0.9], [1.0, 0.0, 0.0, 0.0]])
    exclude = sp.csr_matrix(np.array([[0, 0, 0, 1], [1, 0, 0, 0]]))
    top = M.top_k_from_scores(scores, 2, exclude)
    np.testing.assert_array_equal(top[0], [1, 2])
    assert top[1, 0] in (1, 2, 3) and 0 not in top[1]
    # everything excluded -> padded with -1
    all_ex = M.top_k_from_scores(np.zeros((1, 2)), 2, sp.csr_matrix(np.ones((1, 2))))
    np.testing.assert_array_equal(all_ex, [[-1, -1]])


def test_popularity_bias_metrics_hand_computed():
    # 3 lists over 6 items; item popularity 10, 8, 6, 4, 2, 0 (item 0 most popular)
    ranked = [[0, 1, 2], [0, 3, -1], [5, 4, 0]]
    pop = np.array([10.0, 8.0, 6.0, 4.0, 2.0, 0.0])
    assert M.average_popularity(ranked, pop, k=3).tolist() == pytest.approx([8.0, 7.0, 4.0])
    assert M.average_popularity(ranked, pop, k=1).tolist() == pytest.approx([10.0, 10.0, 0.0])
    # head = ceil(0.2 * 6) = 2 most popular items (0, 1); the rest is the long tail
    tail = M.long_tail_items(pop, 0.2)
    assert tail.tolist() == [False, False, True, True, True, True]
    assert M.tail_share(ranked, tail, k=3).tolist() == pytest.approx([1 / 3, 1 / 2, 2 / 3])
    assert M.hub_share(ranked, [0], k=3).tolist() == pytest.approx([1 / 3, 1 / 2, 1 / 3])
    assert M.hub_share(ranked, M.top_items(pop, 2), k=3).tolist() == pytest.approx([2 / 3, 1 / 2, 1 / 3])
    # item counts: 0 x3, 1,2,3,4,5 x1 -> sorted [1,1,1,1,1,3], n=6, total 8
    # sum (2i - 7) c_i = (-5 -3 -1 +1 +3)*1 + 5*3 = 10; gini = 10 / (6 * 8)
    assert M.gini_index(ranked, 6, k=3) == pytest.approx(10 / 48)
    assert M.coverage(np.array([[0, 1, 2], [0, 3, -1], [5, 4, 0]]), 6, 3) == 1.0
    assert M.coverage(np.array([[0, 1, 2], [0, 3, -1], [5, 4, 0]]), 6, 1) == pytest.approx(2 / 6)


def test_gini_extremes_and_errors():
    # every item recommended equally often: 0; one item in every list: 1 - 1/n
    assert M.gini_index([[0, 1], [2, 3]], 4, k=2) == pytest.approx(0.0)
    assert M.gini_index([[2], [2], [2]], 5, k=1) == pytest.approx(1 - 1 / 5)
    assert M.gini_index([[-1]], 5, k=1) == 0.0
    with pytest.raises(ValueError):
        M.gini_index([[7]], 5, k=1)
    with pytest.raises(ValueError):
        M.long_tail_items(np.ones(3), 1.5)
    # ties in popularity: the lower id is in the head
    assert M.long_tail_items(np.array([1.0, 1.0, 1.0, 1.0, 1.0]), 0.2).tolist() == [False, True, True, True, True]
