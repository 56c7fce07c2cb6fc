"""Warm ``retrieve()`` latency over the full catalog (CPU), excluding the one-time model load.

Queries: the mood phrasings of the evaluation sets, the hand-written requests, and "songs like X"
for popular HetRec artists, at least 200 distinct ones in all, each run once after a warm-up of 10
queries. For each configuration (full hybrid retriever with the dense component, and without it)
it reports p50/p95/p99/max wall milliseconds per query, the CPU milliseconds per query
(``time.process_time``, which the load of other processes inflates less than wall time), the mean
and p95 of every pipeline stage (the ``Trace.timings`` of ``HybridRetriever.search_traced``), the one-time load/warm-up time
and the load average of the machine before and after.

    .venv/bin/python benchmarks/bench_retrieve.py [--store DIR] [--index DIR] [--n 240] [--json OUT]
        [--sequential] [--fast-queries auto|onnx|torchscript|none] [--encoder-cache DIR]

The query-vector cache is off and the walk cache is reset to the warm-up's mood walks before each
configuration, so no figure profits from an earlier configuration's work. Results: docs/retrieval.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.evalsets.build import MOOD_QUERIES  # noqa: E402
from musicgraph.graph.embedded import EmbeddedStore  # noqa: E402
from musicgraph.retrieval.retriever import HybridRetriever  # noqa: E402


def bench_queries(store: EmbeddedStore, n: int) -> list[str]:
    """Mood phrasings, hand-written requests, then "songs like X" for the most played artists (distinct)."""
    queries = [q for qs in MOOD_QUERIES.values() for q in qs]
    queries += [x["text"] for x in json.loads((Path(__file__).parent / "evalsets" / "requests.json").read_text())]
    plays: Counter[str] = Counter()
    for e in store.iter_edges("LISTENED_TO"):
        plays[e.dst.key] += 1
    names = {node.key: node.name for node in store.iter_nodes("Artist")}
    for a, _ in plays.most_common():
        if len(queries) >= n:
            break
        queries.append(f"songs like {names.get(a, a)}")
    return list(dict.fromkeys(queries))[:n]


def run(r: HybridRetriever, queries: list[str], **kw: Any) -> dict[str, Any]:
    """Time every query once (after a 10-query warm-up); wall and CPU per query, stages."""
    comps = [c for c in ("bm25", "dense", "graph", "emotion", "audio") if kw.get(f"use_{c}", True)]
    for q in queries[:10]:
        r.search_traced(q, components=comps)
    wall: list[float] = []
    stages: dict[str, list[float]] = {}
    c0 = time.process_time()
    for q in queries:
        t0 = time.perf_counter()
        _, trace = r.search_traced(q, components=comps)
        wall.append((time.perf_counter() - t0) * 1000)
        for s, v in trace.timings.items():
            stages.setdefault(s, []).append(v * 1000)
    cpu = (time.process_time() - c0) * 1000 / len(queries)
    t = np.array(wall)
    return {
        "queries": len(t),
        "p50_ms": round(float(np.percentile(t, 50)), 1),
        "p95_ms": round(float(np.percentile(t, 95)), 1),
        "p99_ms": round(float(np.percentile(t, 99)), 1),
        "max_ms": round(float(t.max()), 1),
        "mean_ms": round(float(t.mean()), 1),
        "cpu_ms_per_query": round(cpu, 1),
        # mean over all queries (0 where the stage did not run) and p95 over the queries that ran it
        "stages_mean_ms": {s: round(sum(v) / len(t), 2) for s, v in stages.items()},
        "stages_p95_ms": {s: round(float(np.percentile(v, 95)), 2) for s, v in stages.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", type=Path, default=Path(".musicgraph/stores/default"))
    ap.add_argument("--index", type=Path, default=Path(".musicgraph/indexes/default"))
    ap.add_argument("--n", type=int, default=240)
    ap.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here")
    ap.add_argument("--encoder-cache", type=Path, default=None,
                    help="where the ONNX query encoder is exported/cached (default ~/.cache/musicgraph/encoders)")
    ap.add_argument("--fast-queries", default="auto", choices=["auto", "onnx", "torchscript", "none"],
                    help="single-query encoder path (Encoder.fast_queries)")
    ap.add_argument("--sequential", action="store_true", help="encode the query inline, not on the worker thread")
    args = ap.parse_args()
    from musicgraph.retrieval.encoder import Encoder

    Encoder.fast_queries = args.fast_queries
    if args.encoder_cache is not None:
        Encoder.onnx_dir = args.encoder_cache
    import torch

    torch.set_num_threads(2)
    load_before = os.getloadavg()
    store = EmbeddedStore(args.store)
    t0 = time.perf_counter()
    r = HybridRetriever(store, index_dir=args.index, parallel_encode=not args.sequential)
    r.warm_up()
    if r.bundle.dense is not None:
        r.encoder.query_cache_size = 0  # distinct queries anyway; no cache effects in the figures
    load = time.perf_counter() - t0
    queries = bench_queries(store, args.n)
    if len(queries) < args.n:
        print(f"note: only {len(queries)} distinct queries available (asked for {args.n})")
    out: dict[str, Any] = {"load_s": round(load, 1), "loadavg_before": [round(x, 2) for x in load_before],
                           "encoder": r.encoder.fast_path if r.bundle.dense is not None else None,
                           "parallel_encode": r.parallel_encode}
    configs = [("hybrid (bm25+dense+graph)", {})] if r.bundle.dense is not None else []
    configs.append(("no dense (bm25+graph)", {"use_dense": False}))
    if r.bundle.dense is None:
        print("note: the index has no dense part (dense.faiss): measuring without it only")
    for name, kw in configs:
        r.graph.clear_walks()  # no walks cached by the previous configuration (the warm-up's mood walks stay)
        res = run(r, queries, **kw)
        out[name] = res
        print(f"{name}: {res['queries']} queries: p50 {res['p50_ms']} ms, p95 {res['p95_ms']} ms, "
              f"p99 {res['p99_ms']} ms, max {res['max_ms']} ms; CPU {res['cpu_ms_per_query']} ms/query")
        print("  stage means (ms): " + ", ".join(f"{s} {v}" for s, v in res["stages_mean_ms"].items()))
        print("  stage p95 (ms):   " + ", ".join(f"{s} {v}" for s, v in res["stages_p95_ms"].items()))
    out["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    graph = r.graph
    print(f"encoder path: {out['encoder']}; encoder on a worker thread: {r.parallel_encode}; graph walks "
          f"{graph.walk_stats['walks']}, cache hits {graph.walk_stats['hits']}; dense prefilter "
          f"{getattr(r.bundle.dense, 'prefilter_stats', None)}")
    print(f"load + warm-up {load:.1f} s; load average before {load_before[0]:.2f}, after {out['loadavg_after'][0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
