"""The cold-start protocol of ``bench_inductive.py``: users and items held out of training, then folded in.

:func:`make_holdout` draws cold users and items and the split without them; :func:`drop_nodes` takes them
out of the graph tables; :func:`train_on_graph` trains on that view; :func:`cold_user_metrics` and
:func:`cold_item_metrics` score the fold-in vectors (:mod:`musicgraph.gnn.inductive`) of the cold nodes.
Benchmark code, not part of the package (``tests/gnn/test_inductive.py`` checks the protocol).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from musicgraph.gnn.inductive import EdgeType, _reverse

if TYPE_CHECKING:
    from musicgraph.gnn.data import TrainGraph
    from musicgraph.gnn.splits import Split

@dataclass(slots=True)
class HoldOut:
    """Users and items kept out of training entirely, and the split the model trains on.

    Attributes:
        full: the complete split (every user and item).
        users: indices (into ``full.user_keys``) of the cold users.
        items: indices (into ``full.item_keys``) of the cold items.
        kept: ``full`` without the cold users and items (re-indexed; train/valid/test pairs that
            touch a cold user or item are dropped).
    """

    full: Split
    users: np.ndarray
    items: np.ndarray
    kept: Split

    @property
    def user_keys(self) -> list[str]:
        return [str(self.full.user_keys[u]) for u in self.users]

    @property
    def item_keys(self) -> list[str]:
        return [str(self.full.item_keys[i]) for i in self.items]


def make_holdout(
    split: Split, user_frac: float = 0.1, item_frac: float = 0.0, seed: int = 0, min_item_users: int = 1
) -> HoldOut:
    """Draw cold users (a random ``user_frac``) and cold items (``item_frac`` of the items with at
    least ``min_item_users`` training users) and the split without them."""
    from musicgraph.gnn.splits import Split as SplitCls

    rng = np.random.default_rng(seed)
    n_u = int(round(user_frac * split.num_users))
    users = np.sort(rng.choice(split.num_users, n_u, replace=False)) if n_u else np.zeros(0, np.int64)
    pop = np.bincount(split.train_item, minlength=split.num_items)
    eligible = np.flatnonzero(pop >= min_item_users)
    n_i = int(round(item_frac * len(eligible)))
    items = np.sort(rng.choice(eligible, n_i, replace=False)) if n_i else np.zeros(0, np.int64)
    keep_u = np.ones(split.num_users, bool)
    keep_u[users] = False
    keep_i = np.ones(split.num_items, bool)
    keep_i[items] = False
    umap = np.cumsum(keep_u) - 1
    imap = np.cumsum(keep_i) - 1
    parts = {}
    for part in ("train", "valid", "test"):
        u, i = getattr(split, part)
        m = keep_u[u] & keep_i[i]
        parts[part] = (umap[u[m]], imap[i[m]], m)
    kept = SplitCls(
        user_keys=split.user_keys[keep_u], item_keys=split.item_keys[keep_i],
        train_user=parts["train"][0], train_item=parts["train"][1],
        valid_user=parts["valid"][0], valid_item=parts["valid"][1],
        test_user=parts["test"][0], test_item=parts["test"][1],
        train_weight=split.train_weight[parts["train"][2]] if len(split.train_weight) == len(split.train_user)
        else np.zeros(0, np.float32),
        seed=split.seed,
    )
    return HoldOut(full=split, users=users.astype(np.int64), items=items.astype(np.int64), kept=kept)


def drop_nodes(tables: Any, drop: Mapping[str, Iterable[str]]) -> Any:
    """:class:`~musicgraph.gnn.data.GraphTables` without the given nodes (``{type: keys}``) and their edges."""
    from musicgraph.gnn.data import GraphTables

    keep: dict[str, np.ndarray] = {}
    remap: dict[str, np.ndarray] = {}
    for t, keys in tables.keys.items():
        gone = {str(k) for k in drop.get(t, ())}
        mask = np.array([str(k) not in gone for k in keys], dtype=bool)
        keep[t] = mask
        remap[t] = np.cumsum(mask) - 1
    edges = {}
    for (s, r, d), (si, di, w) in tables.edges.items():
        m = keep[s][si] & keep[d][di]
        edges[(s, r, d)] = (remap[s][si[m]], remap[d][di[m]], w[m])
    feats = {t: f[keep[t]] for t, f in tables.features.items()}
    return GraphTables(keys={t: k[keep[t]] for t, k in tables.keys.items()}, edges=edges, features=feats)


def neighbour_lists(tables: Any, et: EdgeType, keys: Iterable[str]) -> dict[str, list[str]]:
    """``{key: neighbour keys}`` along ``et`` (forward, or the reverse of a stored type) for ``keys``."""
    want = {str(k) for k in keys}
    out: dict[str, list[str]] = {k: [] for k in want}
    if et in tables.edges:
        si, di, _ = tables.edges[et]
        src_keys, dst_keys = tables.keys[et[0]], tables.keys[et[2]]
    elif _reverse(et) in tables.edges:
        di, si, _ = tables.edges[_reverse(et)]
        src_keys, dst_keys = tables.keys[et[0]], tables.keys[et[2]]
    else:
        return out
    for a, b in zip(si.tolist(), di.tolist(), strict=True):
        k = str(src_keys[a])
        if k in want:
            out[k].append(str(dst_keys[b]))
    return out


def train_on_graph(cfg: Any, graph: TrainGraph, split: Split) -> dict[str, Any]:
    """Run :func:`musicgraph.gnn.train.train` with ``cfg`` on a given training view and split
    (e.g. the graph without cold nodes) instead of the one ``cfg`` would load."""
    from musicgraph.gnn import train as tr

    original = tr.load_graph
    tr.load_graph = lambda _cfg, _seed: (graph, split)  # type: ignore[assignment]
    try:
        return tr.train(cfg)
    finally:
        tr.load_graph = original  # type: ignore[assignment]


def _eval_scores(score_fn: Any, rows: np.ndarray, known: Any, target: Any) -> dict[str, float]:
    import scipy.sparse as sp

    from musicgraph.gnn.full_sort import full_sort_metrics

    known = sp.csr_matrix(known)[rows]
    target = sp.csr_matrix(target)[rows]
    return full_sort_metrics(score_fn, known, target, ks=(10, 20))


def cold_user_metrics(
    holdout: HoldOut,
    user_vecs: np.ndarray,
    item_vecs: np.ndarray,
) -> dict[str, float]:
    """Recall/NDCG/Hit@10,20 of cold users' test items among the kept items.

    ``user_vecs``: one row per cold user (order of ``holdout.users``); ``item_vecs``: one row per
    kept item (order of ``holdout.kept.item_keys``). Training and validation items are masked.
    """
    import torch

    full = holdout.full
    kept_items = np.flatnonzero(~np.isin(np.arange(full.num_items), holdout.items))
    known = full.known_before("test")[holdout.users][:, kept_items]
    target = full.matrix("test")[holdout.users][:, kept_items]
    u = torch.as_tensor(user_vecs, dtype=torch.float32)
    it = torch.as_tensor(item_vecs, dtype=torch.float32)
    return _eval_scores(lambda r: u[r] @ it.T, np.arange(len(holdout.users)), known, target)


def cold_item_metrics(holdout: HoldOut, user_vecs: np.ndarray, item_vecs: np.ndarray) -> dict[str, float]:
    """Item-centric Recall/NDCG/Hit@10,20 of the cold items: for each cold item, the kept users are
    ranked by score and the target is the users with that item in test (users who have it in
    training or validation are masked; items with no test user are left out).

    Per-item ranking does not depend on the item vector's norm, so a fold-in cannot score by
    pushing cold items above every warm one. ``user_vecs``: one row per kept user (order of
    ``holdout.kept.user_keys``); ``item_vecs``: one row per cold item (order of ``holdout.items``).
    """
    import torch

    full = holdout.full
    kept_users = np.flatnonzero(~np.isin(np.arange(full.num_users), holdout.users))
    known = full.known_before("test")[kept_users][:, holdout.items].T.tocsr()
    target = full.matrix("test")[kept_users][:, holdout.items].T.tocsr()
    u = torch.as_tensor(user_vecs, dtype=torch.float32)
    it = torch.as_tensor(item_vecs, dtype=torch.float32)
    return _eval_scores(lambda r: it[r] @ u.T, np.arange(len(holdout.items)), known, target)
