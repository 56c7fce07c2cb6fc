from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from musicgraph.gnn.full_sort import metrics_from_scores


def test_metrics_by_hand():
    # user 0: held-out {1, 3}; ranking after masking item 0: 1, 2, 3 -> hits at ranks 1 and 3
    # user 1: held-out {0}; ranking 2, 3, 1, 0 -> miss at K=2
    scores = np.array([[9.0, 5.0, 4.0, 3.0], [1.0, 2.0, 4.0, 3.0]], dtype=np.float32)
    known = sp.csr_matrix(np.array([[1, 0, 0, 0], [0, 0, 0, 0]]))
    target = sp.csr_matrix(np.array([[0, 1, 0, 1], [1, 0, 0, 0]]))
    m = metrics_from_scores(scores, known, target, ks=(2, 3))
    assert m["recall@2"] == (0.5 + 0.0) / 2
    assert m["hit@2"] == 0.5
    assert m["recall@3"] == (1.0 + 0.0) / 2
    idcg = 1 + 1 / math.log2(3)
    assert math.isclose(m["ndcg@3"], ((1 + 1 / math.log2(4)) / idcg) / 2)
    assert math.isclose(m["ndcg@2"], (1 / idcg) / 2)
    assert m["users"] == 2


def test_users_without_targets_are_skipped_and_masked_items_never_count():
    scores = np.array([[5.0, 1.0], [5.0, 1.0], [1.0, 0.0]], dtype=np.float32)
    known = sp.csr_matrix(np.array([[1, 0], [0, 0], [0, 0]]))
    target = sp.csr_matrix(np.array([[0, 1], [0, 0], [1, 0]]))
    m = metrics_from_scores(scores, known, target, ks=(1,))
    assert m["users"] == 2
    assert m["hit@1"] == 1.0  # user 0's top item is masked, so item 1 ranks first; user 2 ranks item 0 first
