"""Task 1: user -> artist recommendation on HetRec Last.fm 2K.

Protocol ``hetrec-rs811`` (version 1): the per-user random 80/10/10 split of
:func:`musicgraph.gnn.splits.hetrec_split` (RecBole ``RS [0.8, 0.1, 0.1]``, ``order: RO``,
``group_by: user``; split seed 2020), items are HetRec artist ids from ``user_artists.dat`` with
binary relevance; every user with a test item is ranked over **all** artists with train and
validation items masked (RecBole full ranking), K in {5, 10, 20}. This is the protocol of the
RecBole / RecBole-GNN HetRec tables, so R@10 / NDCG@10 compare with them (their hyper-parameter
searches differ from ours). A cold-ish slice keeps users with fewer than 40 training artists (HetRec
lists a user's top 50 artists, so these are the users with short histories).

Systems: the classic baselines of :mod:`musicgraph.evaluation.baselines` (seeded ones over the
training seeds), and the graph recommender (personalized PageRank of
:class:`musicgraph.graph.multihop.MultiHopScorer`) when an ingested store is available: the store's
projection is copied with every validation and test ``LISTENED_TO`` edge removed, so the walk never
sees held-out listening. GNN systems (when torch is installed): the best presets of
:mod:`musicgraph.gnn.presets` (:data:`GNN_SYSTEMS`: the softmax over all artists on cosine scores at
128 dimensions, the settings of the README's GNN table) trained by :func:`musicgraph.gnn.train.train`
on the same split (the split seed is shared; the training seeds vary the initialization): LightGCN,
and in the full run also GraphSAGE over the knowledge graph (tags, friends; the held-out pairs' tag
assignments hidden). Each run's final embeddings rank the same users as every other system (cosine
runs store normalized vectors, so their dot product is the trained score). ``--quick`` trains
LightGCN only, on a time budget of :data:`QUICK_GNN_MINUTES` minutes.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from musicgraph.evaluation import metrics as M
from musicgraph.evaluation.baselines import SEEDED, make_baseline
from musicgraph.evaluation.tasks import EvalConfig, SystemResult, TaskResult, run_seeds

log = logging.getLogger(__name__)

PROTOCOL = "hetrec-rs811"
PROTOCOL_VERSION = 1
KS: tuple[int, ...] = (5, 10, 20)
COLD_MAX_TRAIN = 40
QUICK_GRAPH_USERS = 200
#: GNN systems -> preset name (musicgraph.gnn.presets): the best settings of docs/gnn.md ("Results":
#: cosine softmax, dim 128). The full run trains all, --quick the first.
GNN_SYSTEMS: dict[str, str] = {
    "lightgcn": "LightGCN + cosine softmax, dim 128",
    "graphsage-kg": "GraphSAGE + KG (tags, friends) + cosine softmax, dim 128",
}
QUICK_GNN_MINUTES = 1.5
#: Wall-clock budget per training run of the full run: the cosine-softmax presets at 128 dimensions
#: need about 3 CPU minutes (GraphSAGE + KG, docs/gnn.md), several times that in wall time on a shared
#: machine; each run's stop reason is recorded (``params["runs"]``), so a cut run is visible.
FULL_GNN_MINUTES = 45.0

#: Baselines and hyper-parameters (chosen on the validation part; see docs/evaluation.md).
FULL_BASELINES: dict[str, dict[str, Any]] = {
    "random": {},
    "mostpop": {},
    "itemknn": {"k": 100},
    "userknn": {"k": 50},
    "ease": {"lam": 200.0, "max_items": 8000},
    "bpr": {"factors": 64, "iterations": 300, "learning_rate": 0.05},
    "als": {"factors": 64, "iterations": 20, "alpha": 5.0},
}
QUICK_BASELINES: dict[str, dict[str, Any]] = {
    "random": {},
    "mostpop": {},
    "itemknn": {"k": 100},
    "userknn": {"k": 50},
    "ease": {"lam": 200.0, "max_items": 3000},
    "bpr": {"factors": 64, "iterations": 100, "learning_rate": 0.05},
    "als": {"factors": 64, "iterations": 15, "alpha": 5.0},
}


def _metrics(ranked: np.ndarray, target: sp.csr_matrix) -> dict[str, np.ndarray]:
    hits, n_rel = M.hit_matrix(ranked, target)
    return M.evaluate_hits(hits, n_rel, KS, with_rprec=False)


def _beyond(
    ranked: np.ndarray, n_items: int, pop: np.ndarray, n_users: int, vecs: np.ndarray
) -> dict[str, float]:
    return {
        "coverage@10": M.coverage(ranked, n_items, 10),
        "novelty@10": float(M.novelty(ranked, pop, n_users, 10).mean()),
        "ild@10": float(M.intra_list_diversity(ranked, vecs, 10).mean()),
        # RecBole's popularity-bias conventions (popularity = training interactions)
        "avg_popularity@10": float(M.average_popularity(ranked, pop, 10).mean()),
        "gini@10": M.gini_index(ranked, n_items, 10),
        "tail_share@10": float(M.tail_share(ranked, M.long_tail_items(pop, 0.2), 10).mean()),
        "hub_share@10": float(M.hub_share(ranked, M.top_items(pop, 10), 10).mean()),
    }


def _item_vectors(train: sp.csr_matrix, dim: int = 32) -> np.ndarray:
    """Items in the ``dim``-d truncated-SVD space of the training matrix (for intra-list diversity)."""
    from scipy.sparse.linalg import svds

    u, s, vt = svds(train.astype(np.float64), k=min(dim, min(train.shape) - 1), random_state=0)
    return (vt.T * s).astype(np.float64)


def graph_ranking(
    store: Any, split: Any, users: np.ndarray, k: int, data_dir: Any = None, batch: int = 128
) -> np.ndarray | None:
    """Top-k artists (split item indices) per user from PPR over the store minus held-out listening.

    Returns None when the store has no HetRec users. HetRec artist ids are mapped to graph artist
    keys with :func:`musicgraph.graph.resolve.artist_key` of their ``artists.dat`` name.
    """
    from musicgraph.graph.multihop import MultiHopScorer

    proj = store.projection()
    u0, u1 = proj.label_ranges["User"]
    a0, a1 = proj.label_ranges["Artist"]
    listened = proj.matrices.get("LISTENED_TO")
    if listened is None or listened.nnz == 0:
        return None
    # split user key "hetrec:<id>" = graph user key; split item key "hetrec:<artist id>" -> graph artist
    item_to_node = _item_nodes(split, proj, data_dir)
    user_nodes = np.array(
        [_or_minus_one(proj.index("User", str(key))) for key in split.user_keys], dtype=np.int64
    )
    # Hide held-out listening AND the users' own tag assignments on held-out artists: HetRec tags
    # are (user, artist, tag) triples, and USED_TAG/TAGGED would otherwise lead to the answers.
    held = (split.matrix("valid") + split.matrix("test")).tocoo()
    pairs = [
        (str(proj.keys[user_nodes[u]]), str(proj.keys[item_to_node[i]]))
        for u, i in zip(held.row.tolist(), held.col.tolist(), strict=True)
        if user_nodes[u] >= 0 and item_to_node[i] >= 0
    ]
    from musicgraph.graph.heldout import heldout_projection

    masked = heldout_projection(proj, pairs, data_dir if data_dir is not None and Path(data_dir).is_dir() else None)
    scorer = MultiHopScorer(masked)
    known = split.known_before("test")
    n_items = split.num_items
    valid_item = item_to_node >= 0
    out = np.full((len(users), k), -1, dtype=np.int64)
    for start in range(0, len(users), batch):
        bu = users[start : start + batch]
        nodes = user_nodes[bu]
        seeds = sp.csr_matrix(
            (np.ones(len(bu)), (nodes.clip(min=0), np.arange(len(bu)))), shape=(proj.num_nodes, len(bu))
        )
        r = scorer.ppr_many(seeds)  # nodes x batch
        scores = np.full((len(bu), n_items), -np.inf)
        node_scores = r[item_to_node[valid_item]].T  # batch x mapped items
        deg = np.maximum(scorer.degree[item_to_node[valid_item]], 1e-12)
        scores[:, valid_item] = node_scores / np.power(deg, 0.3)[None, :]
        scores[nodes < 0] = -np.inf
        top = M.top_k_from_scores(scores, k, known[bu])  # fewer than k columns on a tiny catalog
        out[start : start + len(bu), : top.shape[1]] = top
    return out


def _or_minus_one(idx: int | None) -> int:
    return -1 if idx is None else int(idx)


def _item_nodes(split: Any, proj: Any, data_dir: Any = None) -> np.ndarray:
    """Projection node index of each split item (``hetrec:<artist id>``), -1 when not in the graph."""
    from musicgraph.graph.resolve import artist_key, hetrec_key
    from musicgraph.loaders.hetrec import iter_artists

    names: dict[str, str] = {}
    if data_dir is not None:
        names = {hetrec_key(a.source_id): a.name for a in iter_artists(data_dir)}
    out = np.full(split.num_items, -1, dtype=np.int64)
    for i, key in enumerate(split.item_keys):
        key = str(key)
        graph_key = artist_key(names[key]) if key in names else key
        idx = proj.index("Artist", graph_key)
        if idx is not None:
            out[i] = idx
    return out


def run(cfg: EvalConfig) -> TaskResult:
    """Run task 1 (see the module docstring)."""
    from musicgraph.gnn.splits import hetrec_split

    t0 = time.perf_counter()
    split = hetrec_split(cfg.data_dir, seed=cfg.split_seed)
    train = split.matrix("train")
    known = split.known_before("test")
    test = split.matrix("test")
    users = np.flatnonzero(np.diff(test.indptr) > 0)
    target = test[users]
    train_counts = np.diff(train.indptr)[users]
    cold = np.flatnonzero(train_counts < COLD_MAX_TRAIN)
    seeds = list(cfg.training_seeds())
    baselines = QUICK_BASELINES if cfg.quick else FULL_BASELINES
    pop = np.asarray(train.sum(axis=0)).ravel()
    vecs = _item_vectors(train)
    result = TaskResult(
        task="recommendation",
        protocol={
            "name": PROTOCOL,
            "version": PROTOCOL_VERSION,
            "dataset": "HetRec 2011 Last.fm 2K user_artists.dat (binary)",
            "split": "per-user random 80/10/10, RecBole RS [0.8,0.1,0.1] order RO group_by user (musicgraph.gnn.splits)",
            "split_seed": cfg.split_seed,
            "ranking": f"full ranking over all {split.num_items} artists; train+valid items masked",
            "ks": list(KS),
            "eval_users": int(len(users)),
            "training_seeds": seeds,
            "cold_slice": f"users with < {COLD_MAX_TRAIN} training artists ({len(cold)} users)",
            "map": "AP@K divided by the number of test items (TREC/ranx)",
            "bootstrap": {"n": cfg.n_boot, "seed": cfg.boot_seed, "alpha": 0.05, "unit": "user"},
            "quick": cfg.quick,
        },
        main_metrics=["recall@10", "ndcg@10", "recall@20", "ndcg@20", "hit@10", "map@10"],
    )
    if cfg.out_dir is not None:
        from musicgraph.evaluation.split_files import write_split_tsv

        split_dir = cfg.out_dir / "splits"
        write_split_tsv(split, split_dir / "hetrec_split.tsv")
        split.to_recbole(split_dir, "hetrec")
        result.extra["split_files"] = ["splits/hetrec_split.tsv", "splits/hetrec/"]

    def add(name: str, sysres: SystemResult, ranked_seed0: np.ndarray) -> None:
        sysres.extra = _beyond(ranked_seed0, split.num_items, pop, split.num_users, vecs)
        result.add_system(name, sysres, {"cold": cold}, cfg.boot_seed, cfg.n_boot)
        log.info(
            "recommendation: %s R@10 %.4f NDCG@10 %.4f (%.1fs)",
            name,
            sysres.mean("recall@10"),
            sysres.mean("ndcg@10"),
            sysres.seconds,
        )

    for name, params in baselines.items():
        ranked_first: dict[str, np.ndarray] = {}

        def one(
            seed: int, name: str = name, params: dict[str, Any] = params, ranked_first=ranked_first
        ) -> dict[str, np.ndarray]:
            model = make_baseline(name, seed=seed, **params).fit(train)
            ranked = model.recommend(users, max(KS), known)
            ranked_first.setdefault("r", ranked)
            return _metrics(ranked, target)

        try:
            sysres = run_seeds(name, seeds if name in SEEDED else [0], one, params)
        except ImportError as exc:  # an optional library (implicit) is not installed: documented, not a failure
            result.missing[name] = str(exc)
            continue
        add(name, sysres, ranked_first["r"])

    store = cfg.open_store()
    if store is None:
        result.missing["graph"] = f"no ingested store at {cfg.store_dir} (run `musicgraph ingest`)"
    else:
        start = time.perf_counter()
        # PPR for all 1.9k users takes minutes on 2 cores: --quick scores a fixed sample of users and
        # reports every system on that sample as the slice "quick_sample" (not in the main table).
        sample = (
            np.sort(
                np.random.default_rng(cfg.split_seed).choice(len(users), QUICK_GRAPH_USERS, replace=False)
            )
            if cfg.quick and len(users) > QUICK_GRAPH_USERS
            else np.arange(len(users))
        )
        ranked = graph_ranking(store, split, users[sample], max(KS), data_dir=cfg.data_dir)
        if ranked is None:
            result.missing["graph"] = "the store has no LISTENED_TO relationships"
        else:
            per_query = _metrics(ranked, target[sample])
            sysres = SystemResult(
                "graph",
                per_query,
                {m: [float(v.mean())] for m, v in per_query.items()},
                [0],
                {"walk": "PPR restart 0.25, popularity damping 0.3"},
            )
            sysres.seconds = time.perf_counter() - start
            if len(sample) == len(users):
                add("graph", sysres, ranked)
            else:
                sliced = {
                    n: SystemResult(n, {m: v[sample] for m, v in s.per_query.items()}, {}, s.seeds, s.params)
                    for n, s in result.systems.items()
                }
                sliced["graph"] = sysres
                result.slices["quick_sample"] = {
                    n: s.finalize(cfg.boot_seed, cfg.n_boot) for n, s in sliced.items()
                }
                result.notes.append(
                    f"--quick: the graph system was scored on {len(sample)} sampled users (slice quick_sample)."
                )
        store.close()
    _gnn_systems(cfg, split, users, target, seeds, add, result)

    best = result.best("ndcg@10")
    project = [s for s in ("graph", *GNN_SYSTEMS) if s in result.systems]
    baseline_best = result.best("ndcg@10", exclude=project)
    if project and baseline_best:
        top_project = max(project, key=lambda s: result.systems[s].mean("ndcg@10"))
        result.add_paired("ndcg@10", top_project, baseline_best, cfg.boot_seed)
    elif best:
        second = result.best("ndcg@10", exclude=[best])
        if second:
            result.add_paired("ndcg@10", best, second, cfg.boot_seed)
    result.seconds = time.perf_counter() - t0
    return result


def _gnn_systems(cfg: EvalConfig, split: Any, users: np.ndarray, target: sp.csr_matrix, seeds: list[int],
                 add: Any, result: TaskResult) -> None:
    """Train the GNN presets on the task's split and score their embeddings' rankings."""
    try:
        import torch  # noqa: F401

        from musicgraph.gnn.presets import PRESETS, preset_args, slug
        from musicgraph.gnn.train import train
    except ImportError as exc:
        for name in GNN_SYSTEMS:
            result.missing[name] = f"the gnn extra is not installed ({exc}); pip install 'musicgraph[gnn]'"
        return
    import tempfile

    names = list(GNN_SYSTEMS)[:1] if cfg.quick else list(GNN_SYSTEMS)
    minutes = QUICK_GNN_MINUTES if cfg.quick else FULL_GNN_MINUTES
    known = split.known_before("test")
    base = Path(cfg.out_dir) / "gnn" if cfg.out_dir is not None else Path(tempfile.mkdtemp(prefix="musicgraph-gnn-"))
    for name in names:
        preset = GNN_SYSTEMS[name]
        ranked_first: dict[str, np.ndarray] = {}
        runs: dict[str, dict[str, Any]] = {}

        def one(seed: int, name: str = name, preset: str = preset, ranked_first=ranked_first,
                runs: dict[str, dict[str, Any]] = runs) -> dict[str, np.ndarray]:
            out = base / f"{slug(preset)}-s{seed}"
            summary = train(replace(PRESETS[preset], source="hetrec", data_dir=str(cfg.data_dir), seed=seed,
                                    split_seed=cfg.split_seed, epochs=400, out=str(out), progress=False, threads=1,
                                    max_minutes=float(minutes), device="auto"))
            ranked = embedding_ranking(out / "embeddings.pt", split, users, known, max(KS))
            ranked_first.setdefault("r", ranked)
            log.info("recommendation: %s seed %d trained %d epochs (%s)", name, seed, summary.get("epochs_run", 0),
                     summary.get("stop_reason", ""))
            runs[str(seed)] = {k: summary.get(k) for k in ("epochs_run", "best_epoch", "stop_reason", "train_s", "cpu_s")}
            return _metrics(ranked, target)

        params = {"preset": preset, "args": " ".join(preset_args(preset)), "max_minutes": minutes, "runs": runs}
        sysres = run_seeds(name, seeds, one, params)  # a training failure is a bug, not a missing system
        add(name, sysres, ranked_first["r"])
    if cfg.quick:
        for name in list(GNN_SYSTEMS)[1:]:
            result.missing[name] = "full run only (minutes of training per seed on CPU)"


def embedding_ranking(path: Path, split: Any, users: np.ndarray, known: sp.csr_matrix, k: int) -> np.ndarray:
    """Top-``k`` items per user by dot product of a training run's saved user and item embeddings.

    ``path`` is the ``embeddings.pt`` of :func:`musicgraph.gnn.train.save_embeddings`; its user and
    item key lists must be the split's (same data, same split seed), else ``ValueError``. Runs with
    the ``cos`` predictor store L2-normalized vectors, so the dot product is their score too; ``mlp``
    runs cannot be ranked from embeddings alone (``ValueError``).
    """
    import torch

    blob = torch.load(path, map_location="cpu", weights_only=False)
    if blob.get("predictor", "dot") not in ("dot", "cos"):
        raise ValueError(f"{path}: predictor {blob.get('predictor')!r}; only dot-product or cosine embeddings rank here")
    want_u = [str(x) for x in split.user_keys]
    want_i = [str(x) for x in split.item_keys]
    found: dict[str, np.ndarray] = {}
    for keys, vec in blob["embeddings"].values():
        if list(keys) == want_u:
            found["user"] = vec.numpy()
        elif list(keys) == want_i:
            found["item"] = vec.numpy()
    if len(found) != 2:
        raise ValueError(f"{path}: no user/item embeddings keyed like the evaluation split")
    k = min(k, len(want_i))
    scores = found["user"][users].astype(np.float32) @ found["item"].T.astype(np.float32)
    kn = known[users].tocoo()
    scores[kn.row, kn.col] = -np.inf
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(scores, top, axis=1).argsort(axis=1)[:, ::-1]
    return np.take_along_axis(top, order, axis=1)
