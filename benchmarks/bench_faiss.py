"""FAISS speed/recall: HNSW against exact IndexFlatIP on >= 100k unit vectors.

Vectors: the catalog's real MiniLM song vectors (from the built index), plus noisy copies of them
(Gaussian noise, renormalized; cosine ~0.9 to the original) to reach ``--n`` vectors, so the set
keeps the real data's cluster structure at a larger size. Queries: ``--queries`` further noisy
copies. Reports recall@10 of HNSW against exact search and queries/second of both, one query at a
time (the online path) and batched.

    .venv/bin/python benchmarks/bench_faiss.py [--index DIR] [--n 120000] [--queries 1000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from musicgraph.retrieval.dense import DenseIndex  # noqa: E402


def grow(base: np.ndarray, n: int, rng: np.random.Generator, sigma: float = 0.025) -> np.ndarray:
    idx = rng.integers(0, len(base), size=n)
    out = base[idx] + rng.normal(scale=sigma, size=(n, base.shape[1])).astype(np.float32)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", type=Path, default=Path(".musicgraph/indexes/default"))
    ap.add_argument("--n", type=int, default=120_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--ef-search", type=int, default=128)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    base = np.load(args.index / "dense.vectors.npy").astype(np.float32)
    extra = max(0, args.n - len(base))
    vecs = np.concatenate([base, grow(base, extra, rng)]) if extra else base[: args.n]
    queries = grow(base, args.queries, rng)
    print(f"vectors: {len(vecs)} x {vecs.shape[1]} ({len(base)} real), queries: {len(queries)}")
    t0 = time.perf_counter()
    flat = DenseIndex(kind="flat", use_gpu=False).build(vecs)
    t_flat = time.perf_counter() - t0
    t0 = time.perf_counter()
    hnsw = DenseIndex(kind="hnsw", ef_search=args.ef_search, use_gpu=False).build(vecs)
    t_hnsw = time.perf_counter() - t0
    print(f"build: flat {t_flat:.2f}s, hnsw {t_hnsw:.1f}s")
    _, exact = flat.search(queries, 10)
    _, approx = hnsw.search(queries, 10)
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact, strict=True)])

    def qps_single(ix: DenseIndex, m: int) -> float:
        t0 = time.perf_counter()
        for q in queries[:m]:
            ix.search(q[None, :], 10)
        return m / (time.perf_counter() - t0)

    def qps_batch(ix: DenseIndex) -> float:
        t0 = time.perf_counter()
        ix.search(queries, 10)
        return len(queries) / (time.perf_counter() - t0)

    fs, hs = qps_single(flat, min(300, len(queries))), qps_single(hnsw, len(queries))
    fb, hb = qps_batch(flat), qps_batch(hnsw)
    print(f"recall@10 hnsw vs exact: {recall:.4f}")
    print(f"one query at a time: flat {fs:.0f} q/s, hnsw {hs:.0f} q/s, ratio x{hs / fs:.1f}")
    print(f"batched ({len(queries)}): flat {fb:.0f} q/s, hnsw {hb:.0f} q/s, ratio x{hb / fb:.1f}")


if __name__ == "__main__":
    main()
