"""Warm ``retrieve()`` latency over the full catalog (CPU), excluding the one-time model load.

Queries: the mood phrasings of the evaluation sets, the hand-written requests, and "songs like X"
for popular HetRec artists, at least 200 in all, each run once after a warm-up of 10 queries.
Reports p50/p95/max per query for the full hybrid retriever, and the one-time load/warm-up time.

    .venv/bin/python benchmarks/bench_retrieve.py [--store DIR] [--index DIR] [--n 240]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.evalsets.build import MOOD_QUERIES  # noqa: E402
from musicgraph.graph.embedded import EmbeddedStore  # noqa: E402
from musicgraph.retrieval.retriever import HybridRetriever  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", type=Path, default=Path(".musicgraph/stores/default"))
    ap.add_argument("--index", type=Path, default=Path(".musicgraph/indexes/default"))
    ap.add_argument("--n", type=int, default=240)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(2)
    store = EmbeddedStore(args.store)
    t0 = time.perf_counter()
    r = HybridRetriever(store, index_dir=args.index)
    r.warm_up()
    load = time.perf_counter() - t0
    queries = [q for qs in MOOD_QUERIES.values() for q in qs]
    queries += [x["text"] for x in json.loads((Path(__file__).parent / "evalsets" / "requests.json").read_text())]
    plays: Counter[str] = Counter()
    for e in store.iter_edges("LISTENED_TO"):
        plays[e.dst.key] += 1
    names = {n.key: n.name for n in store.iter_nodes("Artist")}
    for a, _ in plays.most_common(args.n):
        if len(queries) >= args.n:
            break
        queries.append(f"songs like {names.get(a, a)}")
    for q in queries[:10]:
        r.retrieve(q, k=10)
    times = []
    for q in queries:
        t0 = time.perf_counter()
        r.retrieve(q, k=10)
        times.append((time.perf_counter() - t0) * 1000)
    t = np.array(times)
    print(f"load + warm-up: {load:.1f}s; {len(t)} queries: p50 {np.percentile(t, 50):.1f} ms, "
          f"p95 {np.percentile(t, 95):.1f} ms, max {t.max():.1f} ms")


if __name__ == "__main__":
    main()
