"""Foundation benchmarks on the real shared data (run: ``python benchmarks/bench_graph.py``).

1. Full ingest of the shared data into a fresh embedded store (time, rows/s).
2. ``recommend()`` latency p50/p95 on the real graph (warm, 200 queries over artists, users, tags).
3. Personalized PageRank: musicgraph's vectorized scipy power iteration vs networkx ``pagerank``
   with the same personalization on the same weighted graph: same top-20, speed ratio.

Prints a JSON summary (also written to ``--out``) with the machine it ran on.
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


def bench_ppr_vs_networkx(store: EmbeddedStore, seeds: int = 5) -> dict:
    scorer = MultiHopScorer(store.projection(), restart=0.15, tol=1e-10, max_iter=200, dtype=np.float64)
    adj = scorer.projection.adjacency(scorer.rel_weights, symmetric=True).tocoo()
    g = nx.Graph()
    g.add_nodes_from(range(scorer.projection.num_nodes))
    g.add_weighted_edges_from((int(i), int(j), float(w)) for i, j, w in zip(adj.row, adj.col, adj.data, strict=True) if i < j)
    proj = scorer.projection
    seed_nodes = [proj.index("Artist", k) for k in ("radiohead", "daft punk", "adele", "metallica", "britney spears")][:seeds]
    ours_t, nx_t, same = [], [], []
    for s in seed_nodes:
        t = time.perf_counter()
        r = scorer.ppr({s: 1.0})
        ours_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        ref = nx.pagerank(g, alpha=0.85, personalization={s: 1.0}, weight="weight", tol=1e-10, max_iter=200)
        nx_t.append(time.perf_counter() - t)
        ref_v = np.array([ref[i] for i in range(proj.num_nodes)])
        same.append(list(np.argsort(-r)[:20]) == list(np.argsort(-ref_v)[:20]))
    return {
        "nodes": proj.num_nodes,
        "edges": g.number_of_edges(),
        "musicgraph_ms": round(1000 * statistics.median(ours_t), 1),
        "networkx_ms": round(1000 * statistics.median(nx_t), 1),
        "speedup": round(statistics.median(nx_t) / statistics.median(ours_t), 1),
        "same_top20": all(same),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    data_dir = get_settings().data_dir
    store, ing = bench_ingest(data_dir)
    print("ingest:", ing, flush=True)
    rec = bench_recommend(store, args.queries)
    print("recommend:", rec, flush=True)
    ppr = bench_ppr_vs_networkx(store)
    print("ppr vs networkx:", ppr, flush=True)
    summary = {"machine": machine(), "ingest": ing, "recommend": rec, "ppr_vs_networkx": ppr}
    print(json.dumps(summary, indent=2))
    if args.out:
        args.out.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
