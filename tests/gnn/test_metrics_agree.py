"""The GNN's torch full-sort metrics and the evaluation's numpy metrics are one definition.

``musicgraph.gnn.full_sort`` (RecBole's Recall/NDCG/Hit@K, known items masked, on the scores' device)
and ``musicgraph.evaluation.metrics`` (per-query metrics over ranked lists) must give the same numbers
for the same scores, masks and held-out items; likewise the GNN table's MostPop/ItemKNN scores and the
evaluation baselines'.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

pytest.importorskip("torch")

from musicgraph.evaluation.baselines import ItemKNN, MostPop  # noqa: E402
from musicgraph.evaluation.metrics import evaluate_hits, hit_matrix, top_k_from_scores  # noqa: E402
from musicgraph.gnn.full_sort import metrics_from_scores  # noqa: E402
from musicgraph.gnn.split_baselines import itemknn_similarity, mostpop_scores  # noqa: E402


def _random_split(seed: int, users: int = 60, items: int = 40) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    rng = np.random.default_rng(seed)
    dense = rng.random((users, items))
    known = sp.csr_matrix((dense < 0.25).astype(np.float32))
    target = sp.csr_matrix(((dense >= 0.25) & (dense < 0.35)).astype(np.float32))
    return known, target


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_full_sort_metrics_equal_evaluation_metrics(seed: int) -> None:
    known, target = _random_split(seed)
    scores = np.random.default_rng(100 + seed).permutation(known.shape[0] * known.shape[1]).reshape(known.shape)
    scores = scores.astype(np.float32)  # distinct scores: no tie decides a rank
    ks = (5, 10, 20)
    gnn = metrics_from_scores(scores, known, target, ks=ks)

    users = np.flatnonzero(np.diff(target.indptr) > 0)
    ranked = top_k_from_scores(scores[users], max(ks), known[users])
    hits, n_rel = hit_matrix(ranked, target[users])
    ev = evaluate_hits(hits, n_rel, ks=ks, with_rprec=False)
    assert gnn["users"] == len(users) > 0
    for k in ks:
        for name in ("recall", "ndcg", "hit"):
            assert gnn[f"{name}@{k}"] == pytest.approx(float(ev[f"{name}@{k}"].mean()), abs=1e-9), f"{name}@{k}"


def test_gnn_table_baselines_score_like_the_evaluation_baselines() -> None:
    known, _ = _random_split(3)
    assert np.array_equal(mostpop_scores(known), MostPop().fit(known).score(np.arange(3))[0])
    n = known.shape[1]
    # every neighbour kept: the same cosine similarities (float32 here, float64 there)
    np.testing.assert_allclose(itemknn_similarity(known, k=n).toarray(), ItemKNN(k=n).fit(known)._sim.toarray(),
                               rtol=1e-5, atol=1e-7)
    # top 10 per item: the same similarity values; which of two equal neighbours is kept may differ
    # (ties at float32 precision are broken by position here and by item id there)
    sim, ref = itemknn_similarity(known, k=10).toarray(), ItemKNN(k=10).fit(known)._sim.toarray()
    for row in range(n):
        np.testing.assert_allclose(np.sort(sim[row][sim[row] > 0]), np.sort(ref[row][ref[row] > 0]), rtol=1e-5)
