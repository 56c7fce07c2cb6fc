"""Foundation benchmarks on the real shared data (run: ``python benchmarks/bench_graph.py``).

1. Full ingest of the shared data into a fresh embedded store (time, rows/s).
2. ``recommend()`` latency p50/p95 on the real graph (warm, 200 queries over artists, users, tags).
3. Personalized PageRank: musicgraph's vectorized scipy power iteration vs networkx ``pagerank``
   with the same personalization and L1 tolerance on the same weighted graph, and vs networkx's power
   iteration with its matrix built once (``nx.pagerank`` rebuilds it on every call): same top-20,
   speed ratios.

``--store DIR`` uses an ingested store instead of ingesting (section 1 is then skipped);
``--skip-recommend`` leaves out section 2. Prints a JSON summary (also written to ``--out``) with
the machine it ran on and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path

import networkx as nx
import numpy as np
import scipy.sparse as sp

from musicgraph.config import get_settings
from musicgraph.graph import EmbeddedStore
from musicgraph.graph.ingest import ingest
from musicgraph.graph.multihop import MultiHopScorer, recommend


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def bench_ingest(data_dir: Path) -> tuple[EmbeddedStore, dict]:
    path = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    store = EmbeddedStore(path)
    t0 = time.perf_counter()
    report = ingest(store, data_dir, progress=False)
    seconds = time.perf_counter() - t0
    records = sum(s.records for s in report.stages)
    written = sum(s.nodes_written + s.edges_written for s in report.stages)
    return store, {
        "seconds": round(seconds, 2),
        "source_records": records,
        "rows_written": written,
        "rows_per_second": round(written / seconds),
        "nodes": sum(store.count_nodes().values()),
        "relationships": sum(store.count_edges().values()),
    }


def bench_recommend(store: EmbeddedStore, n: int = 200, seed: int = 0) -> dict:
    rng = random.Random(seed)
    t0 = time.perf_counter()
    store.projection()
    recommend(store, artists=["Radiohead"], k=10)  # builds and caches the scorer
    warmup = time.perf_counter() - t0
    artists = [a.props["name"] for a in store.iter_nodes("Artist") if a.props.get("hetrec_ids")]
    users = [u.key for u in store.iter_nodes("User")]
    tags = [t.key for t in store.iter_nodes("Tag")]
    queries = []
    for i in range(n):
        kind = ("song", "artist")[i % 2]
        pick = i % 3
        if pick == 0:
            queries.append({"artists": [rng.choice(artists)], "kind": kind})
        elif pick == 1:
            queries.append({"user": rng.choice(users), "kind": kind})
        else:
            queries.append({"tags": [rng.choice(tags)], "kind": kind})
    times = []
    for q in queries:
        t = time.perf_counter()
        recommend(store, k=10, **q)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return {
        "queries": n,
        "first_call_seconds": round(warmup, 2),
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[int(0.95 * (n - 1))], 1),
        "max_ms": round(times[-1], 1),
    }


def _networkx_power_iteration(A, p: np.ndarray, alpha: float, tol_l1: float, max_iter: int) -> tuple[np.ndarray, int]:
    """networkx's own PageRank power iteration (``_pagerank_scipy``'s loop, dangling mass to ``p``) on a
    row-stochastic matrix ``A`` built beforehand, started from ``p``; stops when the L1 change < ``tol_l1``."""
    is_dangling = np.flatnonzero(np.asarray(A.sum(axis=1)).ravel() == 0)
    x = p.copy()
    for it in range(1, max_iter + 1):
        xlast = x
        x = alpha * (x @ A + x[is_dangling].sum() * p) + (1 - alpha) * p
        if np.absolute(x - xlast).sum() < tol_l1:
            return x, it
    raise nx.PowerIterationFailedConvergence(max_iter)


def bench_ppr_vs_networkx(store: EmbeddedStore, seeds: int = 5, tol: float = 1e-10, max_iter: int = 200) -> dict:
    """Personalized PageRank, restart 0.15, float64, L1 tolerance ``tol`` on every side, same top-20 checked.

    Peers: ``nx.pagerank`` as users call it (it converts the graph to a scipy matrix on every call, and
    stops at ``len(G) * tol``, so it gets ``tol / len(G)`` here), and networkx's power iteration with
    its matrix built once (:func:`_networkx_power_iteration`, the matrix from ``nx.to_scipy_sparse_array``
    outside the timing), started like musicgraph's from the personalization vector.
    """
    scorer = MultiHopScorer(store.projection(), restart=0.15, tol=tol, max_iter=max_iter, dtype=np.float64)
    adj = scorer.projection.adjacency(scorer.rel_weights, symmetric=True).tocoo()
    g = nx.Graph()
    g.add_nodes_from(range(scorer.projection.num_nodes))
    g.add_weighted_edges_from((int(i), int(j), float(w)) for i, j, w in zip(adj.row, adj.col, adj.data, strict=True) if i < j)
    proj = scorer.projection
    n = proj.num_nodes
    t = time.perf_counter()
    A = nx.to_scipy_sparse_array(g, nodelist=list(range(n)), weight="weight", dtype=float)
    S = np.asarray(A.sum(axis=1)).ravel()
    S[S != 0] = 1.0 / S[S != 0]
    A = (sp.dia_array((S, 0), shape=A.shape) @ A).tocsr()
    build_s = time.perf_counter() - t
    seed_nodes = [proj.index("Artist", k) for k in ("radiohead", "daft punk", "adele", "metallica", "britney spears")][:seeds]
    ours_t, nx_t, pre_t, same, iters = [], [], [], [], []
    for s in seed_nodes:
        t = time.perf_counter()
        r = scorer.ppr({s: 1.0})
        ours_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        ref = nx.pagerank(g, alpha=0.85, personalization={s: 1.0}, weight="weight", tol=tol / n, max_iter=max_iter)
        nx_t.append(time.perf_counter() - t)
        p = np.zeros(n)
        p[s] = 1.0
        t = time.perf_counter()
        pre, it = _networkx_power_iteration(A, p, 0.85, tol, max_iter)
        pre_t.append(time.perf_counter() - t)
        iters.append(it)
        ref_v = np.array([ref[i] for i in range(n)])
        top = list(np.argsort(-r, kind="stable")[:20])
        same.append(top == list(np.argsort(-ref_v, kind="stable")[:20]) == list(np.argsort(-pre, kind="stable")[:20]))
    ours, full, prebuilt = (statistics.median(x) for x in (ours_t, nx_t, pre_t))
    return {
        "nodes": n,
        "edges": g.number_of_edges(),
        "l1_tolerance": tol,
        "iterations_median": statistics.median(iters),
        "musicgraph_ms": round(1000 * ours, 1),
        "networkx_pagerank_ms": round(1000 * full, 1),
        "networkx_prebuilt_matrix_ms": round(1000 * prebuilt, 1),
        "networkx_matrix_build_ms_once": round(1000 * build_s, 1),
        "speedup_vs_nx_pagerank": round(full / ours, 1),
        "speedup_vs_prebuilt_matrix": round(prebuilt / ours, 2),
        "same_top20": all(same),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--store", type=Path, default=None, help="an ingested store (skips the ingest benchmark)")
    ap.add_argument("--skip-recommend", action="store_true")
    args = ap.parse_args()
    summary: dict = {"machine": machine(), "load_average_before": round(os.getloadavg()[0], 2)}
    if args.store is not None:
        store = EmbeddedStore(args.store)
    else:
        store, summary["ingest"] = bench_ingest(get_settings().data_dir)
        print("ingest:", summary["ingest"], flush=True)
    if not args.skip_recommend:
        summary["recommend"] = bench_recommend(store, args.queries)
        print("recommend:", summary["recommend"], flush=True)
    summary["ppr_vs_networkx"] = bench_ppr_vs_networkx(store)
    print("ppr vs networkx:", summary["ppr_vs_networkx"], flush=True)
    summary["load_average_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(summary, indent=2))
    if args.out:
        args.out.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
