"""FAISS speed/recall on >= 100k unit vectors: HNSW against exact search, as the current code runs it.

Vectors: the catalog's real MiniLM song vectors (from the built index), plus noisy copies of them
(Gaussian noise, renormalized; cosine ~0.9 to the original) to reach ``--n`` vectors, so the set
keeps the real data's cluster structure at a larger size. Queries: ``--queries`` further noisy copies.

Systems (all through :class:`musicgraph.retrieval.dense.DenseIndex`, every build and the 8-bit
prefilter's build done before any timing):

* ``exact, int8 prefilter``: the flat index as the engine searches it for one query (the certified
  8-bit scalar-quantized scan with exact re-scoring, falling back to the plain scan when the bound
  cannot certify the answer; the fallbacks are counted);
* ``exact, plain flat``: ``IndexFlatIP`` alone (prefilter off);
* ``HNSW`` (M 32, efConstruction 200, efSearch ``--ef-search``).

Reports recall@10 of each against the exact answer (a batched brute-force product), queries/second
one query at a time (the online path) and batched (one search call; the prefilter serves at most 4
queries per call, so batched exact is the plain flat scan), and the ratios, with the load average.

    .venv/bin/python benchmarks/bench_faiss.py [--index DIR] [--n 120000] [--queries 1000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from musicgraph.retrieval.dense import DenseIndex  # noqa: E402

K = 10


def grow(base: np.ndarray, n: int, rng: np.random.Generator, sigma: float = 0.025) -> np.ndarray:
    idx = rng.integers(0, len(base), size=n)
    out = base[idx] + rng.normal(scale=sigma, size=(n, base.shape[1])).astype(np.float32)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def exact_top(vecs: np.ndarray, queries: np.ndarray, k: int = K, chunk: int = 256) -> np.ndarray:
    """Exact top-``k`` rows per query (ties by row), by brute force."""
    out = np.empty((len(queries), k), dtype=np.int64)
    for s in range(0, len(queries), chunk):
        sims = queries[s : s + chunk] @ vecs.T
        part = np.argpartition(-sims, k, axis=1)[:, : k + 1]
        for i, row in enumerate(part):
            order = row[np.lexsort((row, -sims[i, row]))]
            out[s + i] = order[:k]
    return out


def recall(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.mean([len(set(g) & set(w)) / len(w) for g, w in zip(got, want, strict=True)]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", type=Path, default=Path(".musicgraph/indexes/default"))
    ap.add_argument("--n", type=int, default=120_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--ef-search", type=int, default=128)
    ap.add_argument("--single", type=int, default=300, help="queries timed one at a time on the exact indexes")
    args = ap.parse_args()
    load_before = os.getloadavg()
    rng = np.random.default_rng(0)
    base = np.load(args.index / "dense.vectors.npy").astype(np.float32)
    extra = max(0, args.n - len(base))
    vecs = np.concatenate([base, grow(base, extra, rng)]) if extra else base[: args.n]
    queries = grow(base, args.queries, rng)
    print(f"vectors: {len(vecs)} x {vecs.shape[1]} ({len(base)} real), queries: {len(queries)}")
    builds: dict[str, float] = {}
    t0 = time.perf_counter()
    pre = DenseIndex(kind="flat", use_gpu=False).build(vecs)
    pre.prepare()  # the 8-bit prefilter, built here and not inside the first timed query
    builds["flat + int8 prefilter"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    plain = DenseIndex(kind="flat", use_gpu=False).build(vecs)
    plain.prefilter_min = 0
    builds["plain flat"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    hnsw = DenseIndex(kind="hnsw", ef_search=args.ef_search, use_gpu=False).build(vecs)
    builds["hnsw"] = time.perf_counter() - t0
    print("builds (not timed below): " + ", ".join(f"{n} {s:.1f} s" for n, s in builds.items()))
    exact = exact_top(vecs, queries)
    systems = {"exact, int8 prefilter": pre, "exact, plain flat": plain, "HNSW": hnsw}

    def single(ix: DenseIndex, m: int) -> tuple[float, np.ndarray]:
        ix.search(queries[:1], K)  # warm-up
        rows = np.empty((m, K), dtype=np.int64)
        t0 = time.perf_counter()
        for i, q in enumerate(queries[:m]):
            rows[i] = ix.search(q[None, :], K)[1][0]
        return m / (time.perf_counter() - t0), rows

    def batched(ix: DenseIndex) -> tuple[float, np.ndarray]:
        t0 = time.perf_counter()
        rows = ix.search(queries, K)[1]
        return len(queries) / (time.perf_counter() - t0), rows

    one: dict[str, float] = {}
    print(f"one query at a time (exact indexes: first {args.single} queries; HNSW: all {len(queries)}):")
    for name, ix in systems.items():
        m = len(queries) if name == "HNSW" else min(args.single, len(queries))
        qps, rows = single(ix, m)
        one[name] = qps
        print(f"  {name}: {qps:,.0f} q/s, recall@{K} vs exact {recall(rows, exact[:m]):.4f}")
    print(f"  prefilter searches certified / fallback to the plain scan: {pre.prefilter_stats}")
    print(f"  HNSW vs exact with the int8 prefilter: x{one['HNSW'] / one['exact, int8 prefilter']:.1f}; "
          f"vs plain flat: x{one['HNSW'] / one['exact, plain flat']:.1f}; prefilter vs plain flat: "
          f"x{one['exact, int8 prefilter'] / one['exact, plain flat']:.1f}")
    fb, frows = batched(plain)
    hb, hrows = batched(hnsw)
    print(f"batched ({len(queries)} in one call): exact (plain flat) {fb:,.0f} q/s, recall {recall(frows, exact):.4f}; "
          f"HNSW {hb:,.0f} q/s, recall {recall(hrows, exact):.4f}; ratio x{hb / fb:.1f}")
    print(f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
