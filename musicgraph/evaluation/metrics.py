"""Ranking metrics, vectorized over queries with numpy.

Every metric works on a **hit matrix**: ``hits[q, i]`` is 1 when the item at rank ``i`` (0-based) of
query ``q``'s ranked list is relevant, plus ``n_relevant[q]``, the number of relevant items of ``q``
(the size of its held-out set, whether or not the list holds them). :func:`hit_matrix` builds it from
ranked item ids and relevant sets. Lists shorter than ``k`` are padded with ``-1`` (never relevant).

Definitions (binary relevance; each returns one value per query, average with ``.mean()``):

* Hit@K = 1 if any relevant item is in the top K.
* Precision@K = hits in top K / K (always K, also for short lists).
* Recall@K = hits in top K / R.
* MAP@K: AP@K = sum_{i<=K, rel_i} Precision@i / R (the TREC/ranx definition: divided by R).
* NDCG@K = DCG@K / IDCG@K with DCG = sum rel_i / log2(i + 1) and the ideal list of min(R, K) hits
  (binary gains; the RecBole and ranx ``ndcg`` definition).
* MRR@K = 1 / rank of the first relevant item in the top K (0 if none).
* R-precision = hits in the top R / R (RecSys Challenge 2018).

Queries with R = 0 score 0 on every metric (as in ranx); callers normally drop them first.
These definitions are cross-checked against ``ranx`` in ``tests/evaluation/test_metrics.py``.

Beyond accuracy: :func:`coverage` (catalog coverage of the union of top-K lists),
:func:`intra_list_diversity` (mean pairwise cosine distance inside each list, from item vectors) and
:func:`novelty` (mean self-information ``-log2 p(item)`` of recommended items, ``p`` = share of users
who interacted with the item in training). RecBole's popularity-bias metrics (its ``ItemCoverage``,
``AveragePopularity``, ``GiniIndex`` and ``TailPercentage``): :func:`coverage`,
:func:`average_popularity` (per list), :func:`gini_index` (of how often each item is recommended),
:func:`long_tail_items` with :func:`tail_share` (per list: the share of the list outside the most
popular items), and :func:`hub_share` (per list: the share made of a fixed set of global hubs, such
as the ten most popular items).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence

import numpy as np
import scipy.sparse as sp

log = logging.getLogger(__name__)

#: Accuracy metrics computed by :func:`evaluate_hits`, in report order.
ACCURACY_METRICS: tuple[str, ...] = ("hit", "precision", "recall", "map", "ndcg", "mrr")


def _check(hits: np.ndarray, n_relevant: np.ndarray, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    hits = np.asarray(hits, dtype=np.float64)
    if hits.ndim != 2:
        raise ValueError(f"hits must be a 2-d (queries x ranks) array, got shape {hits.shape}")
    n_relevant = np.asarray(n_relevant, dtype=np.float64)
    if n_relevant.shape != (hits.shape[0],):
        raise ValueError(f"n_relevant must have shape ({hits.shape[0]},), got {n_relevant.shape}")
    if k is not None and k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if np.any(hits.sum(axis=1) > n_relevant + 1e-9):
        bad = int(np.argmax(hits.sum(axis=1) > n_relevant + 1e-9))
        raise ValueError(f"query {bad}: more hits ({hits[bad].sum():.0f}) than relevant items ({n_relevant[bad]:.0f})")
    return hits, n_relevant


def _topk(hits: np.ndarray, k: int) -> np.ndarray:
    """The first ``k`` columns, zero-padded when the lists are shorter than ``k``."""
    if hits.shape[1] >= k:
        return hits[:, :k]
    pad = np.zeros((hits.shape[0], k - hits.shape[1]), dtype=hits.dtype)
    return np.hstack([hits, pad])


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.zeros_like(num, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def hit_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """1.0 where any of the top ``k`` is relevant."""
    hits, n_relevant = _check(hits, n_relevant, k)
    return (_topk(hits, k).sum(axis=1) > 0).astype(np.float64)


def precision_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Relevant items in the top ``k`` divided by ``k``."""
    hits, n_relevant = _check(hits, n_relevant, k)
    return _topk(hits, k).sum(axis=1) / k


def recall_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Relevant items in the top ``k`` divided by the number of relevant items."""
    hits, n_relevant = _check(hits, n_relevant, k)
    return _safe_div(_topk(hits, k).sum(axis=1), n_relevant)


def map_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Average precision over the top ``k``, divided by the number of relevant items (TREC/ranx)."""
    hits, n_relevant = _check(hits, n_relevant, k)
    top = _topk(hits, k)
    prec = np.cumsum(top, axis=1) / np.arange(1, k + 1)
    return _safe_div((prec * top).sum(axis=1), n_relevant)


def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2))


def ndcg_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Binary NDCG@k: DCG of the list over the DCG of min(R, k) hits at the top."""
    hits, n_relevant = _check(hits, n_relevant, k)
    disc = _discounts(k)
    dcg = _topk(hits, k) @ disc
    ideal_cum = np.concatenate([[0.0], np.cumsum(disc)])
    idcg = ideal_cum[np.minimum(n_relevant, k).astype(np.int64)]
    return _safe_div(dcg, idcg)


def mrr_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Reciprocal rank of the first relevant item in the top ``k`` (0 when there is none)."""
    hits, n_relevant = _check(hits, n_relevant, k)
    top = _topk(hits, k) > 0
    first = np.argmax(top, axis=1)
    found = top.any(axis=1)
    return np.where(found, 1.0 / (first + 1.0), 0.0)


def r_precision(hits: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    """Relevant items among the top R, divided by R (R = number of relevant items of the query)."""
    hits, n_relevant = _check(hits, n_relevant)
    width = hits.shape[1]
    ranks = np.arange(width)[None, :]
    within = ranks < n_relevant[:, None]
    return _safe_div((hits * within).sum(axis=1), n_relevant)


def hit_matrix(ranked: np.ndarray | Sequence[Sequence[int]], relevant: sp.spmatrix | Sequence[Collection[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Build ``(hits, n_relevant)`` from ranked item ids and relevant items.

    Args:
        ranked: ``(queries, L)`` integer item ids, best first; ``-1`` pads short lists. A ragged
            list of lists is padded here.
        relevant: a ``(queries, items)`` sparse matrix whose non-zeros are the relevant items, or one
            collection of relevant ids per query.
    """
    ranked = pad_ranked(ranked)
    n = ranked.shape[0]
    if sp.issparse(relevant):
        rel = sp.csr_matrix(relevant)
        if rel.shape[0] != n:
            raise ValueError(f"relevant has {rel.shape[0]} rows but ranked has {n} queries")
        rel.eliminate_zeros()
        n_rel = np.diff(rel.indptr).astype(np.float64)
        valid = ranked >= 0
        safe = np.where(valid, ranked, 0)
        if safe.size and safe.max() >= rel.shape[1]:
            raise ValueError(f"ranked item id {int(safe.max())} >= number of items {rel.shape[1]}")
        rows = np.repeat(np.arange(n), ranked.shape[1])
        vals = np.asarray(rel[rows, safe.ravel()]).reshape(ranked.shape)
        hits = (vals != 0) & valid
        return hits.astype(np.float64), n_rel
    if len(relevant) != n:
        raise ValueError(f"{len(relevant)} relevant sets but ranked has {n} queries")
    hits = np.zeros(ranked.shape, dtype=np.float64)
    n_rel = np.zeros(n, dtype=np.float64)
    for q, items in enumerate(relevant):
        items_arr = np.fromiter((int(i) for i in items), dtype=np.int64)
        n_rel[q] = len(set(items_arr.tolist()))
        if items_arr.size:
            hits[q] = np.isin(ranked[q], items_arr) & (ranked[q] >= 0)
    return hits, n_rel


def pad_ranked(ranked: np.ndarray | Sequence[Sequence[int]]) -> np.ndarray:
    """A 2-d int64 array of ranked ids, ragged input padded with ``-1``; duplicates are an error."""
    if isinstance(ranked, np.ndarray):
        arr = ranked.astype(np.int64, copy=False)
        if arr.ndim != 2:
            raise ValueError(f"ranked must be 2-d, got shape {arr.shape}")
    else:
        rows = [list(r) for r in ranked]
        width = max((len(r) for r in rows), default=0)
        arr = np.full((len(rows), width), -1, dtype=np.int64)
        for i, r in enumerate(rows):
            arr[i, : len(r)] = r
    if arr.shape[1] > 1:
        srt = np.sort(arr, axis=1)
        dup = (srt[:, 1:] == srt[:, :-1]) & (srt[:, 1:] >= 0)
        if dup.any():
            q = int(np.argmax(dup.any(axis=1)))
            raise ValueError(f"query {q}: ranked list repeats an item")
    return arr


def evaluate_hits(
    hits: np.ndarray, n_relevant: np.ndarray, ks: Sequence[int] = (5, 10, 20), with_rprec: bool = True
) -> dict[str, np.ndarray]:
    """Per-query values of every accuracy metric at every ``k``: keys like ``"ndcg@10"``."""
    out: dict[str, np.ndarray] = {}
    fns = {
        "hit": hit_at_k,
        "precision": precision_at_k,
        "recall": recall_at_k,
        "map": map_at_k,
        "ndcg": ndcg_at_k,
        "mrr": mrr_at_k,
    }
    for k in ks:
        for name in ACCURACY_METRICS:
            out[f"{name}@{k}"] = fns[name](hits, n_relevant, k)
    if with_rprec:
        out["r_precision"] = r_precision(hits, n_relevant)
    return out


def coverage(ranked: np.ndarray, n_items: int, k: int) -> float:
    """Share of the catalog (``n_items``) that appears in at least one top-``k`` list."""
    if n_items <= 0:
        raise ValueError("n_items must be positive")
    top = pad_ranked(ranked)[:, :k]
    return float(np.unique(top[top >= 0]).size / n_items)


def intra_list_diversity(ranked: np.ndarray, item_vectors: np.ndarray, k: int) -> np.ndarray:
    """Per list: mean pairwise cosine distance (1 - cos) between its top-``k`` items.

    Items with an all-zero vector count as distance 1 from everything; lists with fewer than two
    items score 0.
    """
    top = pad_ranked(ranked)[:, :k]
    vecs = np.asarray(item_vectors, dtype=np.float64)
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    unit = np.divide(vecs, norms, out=np.zeros_like(vecs), where=norms > 0)
    valid = top >= 0
    emb = unit[np.where(valid, top, 0)] * valid[..., None]  # (q, k, d)
    gram = np.einsum("qkd,qjd->qkj", emb, emb)
    m = valid.sum(axis=1).astype(np.float64)
    pairs = m * (m - 1)
    off_sim = gram.sum(axis=(1, 2)) - np.einsum("qkk->q", gram)
    return np.where(pairs > 0, 1.0 - _safe_div(off_sim, pairs), 0.0)


def novelty(ranked: np.ndarray, item_popularity: np.ndarray, n_users: int, k: int) -> np.ndarray:
    """Per list: mean ``-log2((pop + 1) / (n_users + 1))`` of its top-``k`` items (smoothed self-information)."""
    top = pad_ranked(ranked)[:, :k]
    pop = np.asarray(item_popularity, dtype=np.float64)
    info = -np.log2((pop + 1.0) / (float(n_users) + 1.0))
    valid = top >= 0
    vals = np.where(valid, info[np.where(valid, top, 0)], 0.0)
    return _safe_div(vals.sum(axis=1), valid.sum(axis=1).astype(np.float64))


def top_k_from_scores(scores: np.ndarray, k: int, exclude: sp.spmatrix | None = None) -> np.ndarray:
    """Top-``k`` item ids per row of a dense score matrix, best first; ``exclude`` non-zeros are masked.

    Within the selected top ``k``, ties are ordered by item id, so results are deterministic.
    """
    s = np.array(scores, dtype=np.float64, copy=True)
    if exclude is not None:
        ex = sp.csr_matrix(exclude)
        if ex.shape != s.shape:
            raise ValueError(f"exclude shape {ex.shape} != scores shape {s.shape}")
        r, c = ex.nonzero()
        s[r, c] = -np.inf
    k = min(k, s.shape[1])
    part = np.argpartition(-s, k - 1, axis=1)[:, :k]
    part_scores = np.take_along_axis(s, part, axis=1)
    order = np.lexsort((part, -part_scores), axis=1)
    top = np.take_along_axis(part, order, axis=1)
    top_scores = np.take_along_axis(part_scores, order, axis=1)
    return np.where(np.isfinite(top_scores), top, -1)


def _valid_top(ranked: np.ndarray | Sequence[Sequence[int]], k: int) -> tuple[np.ndarray, np.ndarray]:
    top = pad_ranked(ranked)[:, :k]
    return top, top >= 0


def average_popularity(ranked: np.ndarray | Sequence[Sequence[int]], item_popularity: np.ndarray, k: int) -> np.ndarray:
    """Per list: the mean popularity (e.g. training interactions) of its top-``k`` items.

    RecBole's ``AveragePopularity`` before its mean over users; an empty list scores 0.
    """
    top, valid = _valid_top(ranked, k)
    pop = np.asarray(item_popularity, dtype=np.float64)
    vals = np.where(valid, pop[np.where(valid, top, 0)], 0.0)
    return _safe_div(vals.sum(axis=1), valid.sum(axis=1).astype(np.float64))


def gini_index(ranked: np.ndarray | Sequence[Sequence[int]], n_items: int, k: int) -> float:
    """Gini index of how often each of ``n_items`` items appears in the top-``k`` lists (RecBole's ``GiniIndex``).

    ``sum_i (2 i - n - 1) c_(i) / (n sum_i c_i)`` over the recommendation counts ``c`` sorted
    ascending (items never recommended count 0): 0 when every item is recommended equally often,
    ``1 - 1/n`` when a single item fills every list.
    """
    if n_items <= 0:
        raise ValueError("n_items must be positive")
    top, valid = _valid_top(ranked, k)
    items = top[valid]
    if items.size == 0:
        return 0.0
    if items.max() >= n_items:
        raise ValueError(f"ranked item id {int(items.max())} >= n_items {n_items}")
    counts = np.sort(np.bincount(items, minlength=n_items).astype(np.float64))
    idx = np.arange(1, n_items + 1, dtype=np.float64)
    return float(np.sum((2 * idx - n_items - 1) * counts) / (n_items * counts.sum()))


def long_tail_items(item_popularity: np.ndarray, head_share: float = 0.2) -> np.ndarray:
    """Boolean mask of the long-tail items: all but the ``head_share`` most popular.

    The head is the ``ceil(head_share * n)`` items with the highest popularity (ties: lower id
    first), as RecBole's popularity split of its ``TailPercentage``.
    """
    if not 0.0 <= head_share <= 1.0:
        raise ValueError(f"head_share must be in [0, 1], got {head_share}")
    pop = np.asarray(item_popularity, dtype=np.float64)
    n_head = int(np.ceil(head_share * len(pop)))
    order = np.lexsort((np.arange(len(pop)), -pop))
    tail = np.ones(len(pop), dtype=bool)
    tail[order[:n_head]] = False
    return tail


def tail_share(ranked: np.ndarray | Sequence[Sequence[int]], is_tail: np.ndarray, k: int) -> np.ndarray:
    """Per list: the share of its top-``k`` items that are long-tail items (:func:`long_tail_items`).

    RecBole's ``TailPercentage``, divided by the list's length (an empty list scores 0).
    """
    top, valid = _valid_top(ranked, k)
    tail = np.asarray(is_tail, dtype=bool)
    vals = valid & tail[np.where(valid, top, 0)]
    return _safe_div(vals.sum(axis=1).astype(np.float64), valid.sum(axis=1).astype(np.float64))


def hub_share(ranked: np.ndarray | Sequence[Sequence[int]], hubs: Collection[int], k: int) -> np.ndarray:
    """Per list: the share of its top-``k`` items that are among ``hubs`` (e.g. the 10 most popular items)."""
    top, valid = _valid_top(ranked, k)
    hub_arr = np.fromiter((int(h) for h in hubs), dtype=np.int64)
    vals = valid & np.isin(top, hub_arr)
    return _safe_div(vals.sum(axis=1).astype(np.float64), valid.sum(axis=1).astype(np.float64))


def top_items(item_popularity: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` most popular item ids (ties: lower id first)."""
    pop = np.asarray(item_popularity, dtype=np.float64)
    return np.lexsort((np.arange(len(pop)), -pop))[:n]
