"""Vectorized full-sort ranking metrics: Recall@K, NDCG@K, Hit@K (RecBole's definitions).

For each evaluated user, every item is scored, the items already known (train, and validation
when testing) are masked out, and the top ``max(K)`` items are compared with the held-out items:

* Recall@K = hits in top K / number of held-out items;
* NDCG@K = DCG of the hits / ideal DCG of ``min(#held-out, K)`` hits (binary relevance);
* Hit@K = 1 if any held-out item is in the top K.

Metrics are averaged over users with at least one held-out item. Scoring runs in user batches on
whatever device the scores live on (one ``topk`` per batch, no Python loop over users).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:
    import torch

ScoreFn = Callable[["torch.Tensor"], "torch.Tensor"]


def _csr_rows_to_dense(mat: sp.csr_matrix, rows: np.ndarray, device: torch.device) -> torch.Tensor:
    import torch

    sub = mat[rows].tocoo()
    out = torch.zeros(len(rows), mat.shape[1], dtype=torch.bool, device=device)
    if sub.nnz:
        out[torch.as_tensor(sub.row, device=device), torch.as_tensor(sub.col, device=device)] = True
    return out


def full_sort_metrics(
    score_fn: ScoreFn,
    known: sp.csr_matrix,
    target: sp.csr_matrix,
    ks: Sequence[int] = (10, 20),
    batch_size: int = 1024,
    device: torch.device | str | None = None,
) -> dict[str, float]:
    """Full-sort Recall/NDCG/Hit at each K.

    Args:
        score_fn: maps a LongTensor of user indices to a ``(batch, num_items)`` score tensor.
        known: users x items CSR of items to mask (train; train + valid for test).
        target: users x items CSR of held-out items.
        ks: cut-offs.
        batch_size: users per scoring batch.
        device: where masks are built (default: where the scores are).
    Returns:
        ``{"recall@10": ..., "ndcg@10": ..., "hit@10": ..., ...}`` plus ``"users"`` (count evaluated).
    """
    import torch

    if known.shape != target.shape:
        raise ValueError(f"known {known.shape} and target {target.shape} matrices differ in shape")
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise ValueError(f"cut-offs must be positive integers, got {ks}")
    kmax = min(ks[-1], target.shape[1])
    known = sp.csr_matrix(known)
    target = sp.csr_matrix(target)
    n_pos_all = np.diff(target.indptr)
    users = np.flatnonzero(n_pos_all > 0)
    sums = {f"{m}@{k}": 0.0 for k in ks for m in ("recall", "ndcg", "hit")}
    discount = 1.0 / np.log2(np.arange(2, kmax + 2))
    idcg_table = np.concatenate([[0.0], np.cumsum(discount)])  # idcg_table[n] = IDCG with n hits
    for start in range(0, len(users), batch_size):
        rows = users[start : start + batch_size]
        with torch.no_grad():
            scores = score_fn(torch.as_tensor(rows, dtype=torch.long)).float()
        dev = scores.device if device is None else torch.device(device)
        scores = scores.to(dev)
        mask = _csr_rows_to_dense(known, rows, dev)
        scores = scores.masked_fill(mask, float("-inf"))
        top = torch.topk(scores, kmax, dim=1).indices
        pos = _csr_rows_to_dense(target, rows, dev)
        hits = torch.gather(pos, 1, top).cpu().numpy().astype(np.float64)  # (B, kmax)
        n_pos = n_pos_all[rows].astype(np.float64)
        cum_hits = np.cumsum(hits, axis=1)
        dcg = np.cumsum(hits * discount[None, :], axis=1)
        for k in ks:
            kk = min(k, kmax)
            h = cum_hits[:, kk - 1]
            sums[f"recall@{k}"] += float((h / n_pos).sum())
            sums[f"hit@{k}"] += float((h > 0).sum())
            idcg = idcg_table[np.minimum(n_pos, kk).astype(np.int64)]
            sums[f"ndcg@{k}"] += float((dcg[:, kk - 1] / idcg).sum())
    n = max(len(users), 1)
    out = {name: value / n for name, value in sums.items()}
    out["users"] = float(len(users))
    return out


def metrics_from_scores(
    scores: np.ndarray, known: sp.csr_matrix, target: sp.csr_matrix, ks: Sequence[int] = (10, 20)
) -> dict[str, float]:
    """:func:`full_sort_metrics` for a dense ``users x items`` numpy score matrix (baselines, tests)."""
    import torch

    t = torch.as_tensor(np.asarray(scores, dtype=np.float32))
    return full_sort_metrics(lambda u: t[u], known, target, ks=ks)


def format_metrics(metrics: dict[str, float], keys: Sequence[str] = ("recall@10", "ndcg@10", "hit@10")) -> str:
    """``recall@10 0.1234  ndcg@10 ...`` for logs."""
    return "  ".join(f"{k} {metrics[k]:.4f}" for k in keys if k in metrics and not math.isnan(metrics[k]))
