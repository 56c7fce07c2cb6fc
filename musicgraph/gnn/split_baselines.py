"""Classic non-neural baselines on a :class:`~musicgraph.gnn.splits.Split`: MostPop and ItemKNN.

* MostPop scores every item by its number of training interactions.
* ItemKNN (cosine) scores item ``j`` for user ``u`` as ``sum_{i in train(u)} sim(i, j)`` with item-item
  cosine similarity over training users, each item keeping its ``k`` nearest neighbours (RecBole's
  ItemKNN with ``shrink`` = 0).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from musicgraph.gnn.full_sort import full_sort_metrics
from musicgraph.gnn.splits import Split


def mostpop_scores(train: sp.csr_matrix) -> np.ndarray:
    """Item popularity (training interactions per item)."""
    return np.asarray(train.sum(axis=0)).ravel().astype(np.float32)


def itemknn_similarity(train: sp.csr_matrix, k: int = 100, shrink: float = 0.0) -> sp.csr_matrix:
    """Item x item cosine similarity, top ``k`` per item (column-normalized co-occurrence)."""
    x = sp.csc_matrix(train, dtype=np.float32)
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0)).ravel())
    sim = (x.T @ x).tocsr().astype(np.float32)
    sim.setdiag(0)
    sim.eliminate_zeros()
    coo = sim.tocoo()
    denom = norms[coo.row] * norms[coo.col] + shrink + 1e-12
    vals = coo.data / denom
    # keep the k largest per row, vectorized: sort by (row, -value)
    order = np.lexsort((-vals, coo.row))
    rows, cols, vals = coo.row[order], coo.col[order], vals[order]
    first = np.searchsorted(rows, rows, side="left")
    keep = (np.arange(len(rows)) - first) < k
    n = train.shape[1]
    return sp.csr_matrix((vals[keep], (rows[keep], cols[keep])), shape=(n, n))


def evaluate_baseline(name: str, split: Split, part: str = "test", k: int = 100) -> dict[str, float]:
    """Full-sort metrics of ``mostpop`` or ``itemknn`` on ``part``.

    Args:
        name: ``mostpop`` (items by training popularity) or ``itemknn`` (item-item cosine over the
            training interactions, ``k`` neighbours per item).
        split: the train / valid / test split; the baseline is fit on its training part.
        part: ``valid`` or ``test``; the items known before it are masked.
        k: neighbours per item of ``itemknn``.

    Returns:
        ``recall@K``, ``ndcg@K`` and ``hit@K`` for K = 10 and 20, and ``users`` (the count evaluated),
        from :func:`~musicgraph.gnn.full_sort.full_sort_metrics`.

    Raises:
        ValueError: an unknown baseline.
    """
    import torch

    train = split.matrix("train")
    known = split.known_before(part)
    if name == "mostpop":
        pop = torch.as_tensor(mostpop_scores(train))
        return full_sort_metrics(lambda u: pop.expand(len(u), -1), known, split.matrix(part))
    if name == "itemknn":
        sim = itemknn_similarity(train, k=k)
        hist = split.matrix("train") if part == "valid" else known

        def score(u: torch.Tensor) -> torch.Tensor:
            return torch.as_tensor((hist[u.numpy()] @ sim).toarray())

        return full_sort_metrics(score, known, split.matrix(part))
    raise ValueError(f"unknown baseline {name!r}; expected mostpop or itemknn")
