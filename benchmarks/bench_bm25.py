"""BM25 speed: the engine ``retrieve()`` uses and bm25s against rank_bm25, same documents, tokens and parameters.

Corpus (>= 50k documents): every song document of the built catalog (title, artist, album,
genres, tags, moods, lyrics) plus one document per lyric stanza of the songs with lyrics, plus one
per artist (name and top tags). Queries: ``--queries`` deterministic 1-3 word queries drawn from the
corpus vocabulary. Every index is built before any timing. Per query, each system returns the top 10
documents that share a query term (ties by row):

* ``IncrementalBM25`` (:mod:`musicgraph.retrieval.incremental`): the exact, updatable BM25+ engine
  the hybrid retriever searches (``HybridRetriever`` -> ``bundle.sparse.search``);
* ``bm25s`` (:class:`musicgraph.retrieval.sparse.SparseIndex`), the engine of older bundles;
* the peer, ``rank_bm25.BM25Plus``: its own ``get_scores`` plus a vectorized top 10 (``argpartition``;
  "shares a query term" is ``score > delta * sum(idf)``, the BM25+ floor every document gets).

Reports mean and median latency of each, the ratios to the peer (of the means and of the medians), and how each engine's top 10 compares
with the peer's: identical rows in the same order, identical up to tied scores (engine and peer give
the same score at every rank), and recall@10. Exits with status 1 when an engine's top 10 differs from
the peer's beyond ties, so a speed figure is never printed for a different answer.

    .venv/bin/python benchmarks/bench_bm25.py [--store DIR] [--index DIR] [--queries 200]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from musicgraph.graph.embedded import EmbeddedStore  # noqa: E402
from musicgraph.retrieval.catalog import SongTable  # noqa: E402
from musicgraph.retrieval.incremental import IncrementalBM25  # noqa: E402
from musicgraph.retrieval.index import lyrics_of  # noqa: E402
from musicgraph.retrieval.sparse import DELTA, SparseIndex, oracle  # noqa: E402
from musicgraph.retrieval.text import tokenize  # noqa: E402

K = 10


def corpus(store: EmbeddedStore, index: Path) -> list[list[str]]:
    cat = SongTable.load(index)
    lyr = lyrics_of(store, cat, range(len(cat)))
    docs = [tokenize(cat.document(i, lyr.get(i))) for i in range(len(cat))]
    for text in lyr.values():
        docs += [tokenize(st) for st in text.split("\n\n") if st.strip()]
    docs += [tokenize(f"{name} {' '.join(cat.artist_tags.get(k, []))}") for k, name in cat.artist_names.items()]
    return [d for d in docs if d]


def rank_bm25_top(bm25: Any, query: list[str], k: int = K) -> tuple[np.ndarray, np.ndarray]:
    """The peer: rank_bm25's ``get_scores`` and a vectorized top ``k`` of the documents sharing a term.

    Returns (rows, all scores)."""
    scores = np.asarray(bm25.get_scores(query), dtype=np.float64)
    floor = DELTA * sum(bm25.idf.get(q) or 0.0 for q in query)
    cand = np.flatnonzero(scores > floor + 1e-9 * max(1.0, floor))
    if len(cand) > k:
        part = cand[np.argpartition(-scores[cand], k - 1)[:k]]
        kth = scores[part].min()
        cand = np.union1d(part, cand[scores[cand] == kth])  # rows tied at the cut, ordered by row below
    top = cand[np.lexsort((cand, -scores[cand]))][:k]
    return top, scores


def compare(got: list[int], want: np.ndarray, scores: np.ndarray) -> tuple[bool, bool, float]:
    """(identical rows and order, identical up to ties, recall@K) of an engine's rows vs the peer's."""
    strict = got == want.tolist()
    tie_ok = len(got) == len(want) and all(
        np.isclose(scores[g], scores[w], rtol=1e-5, atol=1e-9) for g, w in zip(got, want.tolist(), strict=True))
    recall = len(set(got) & set(want.tolist())) / max(1, len(want))
    return strict, tie_ok, recall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", type=Path, default=Path(".musicgraph/stores/default"))
    ap.add_argument("--index", type=Path, default=Path(".musicgraph/indexes/default"))
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    load_before = os.getloadavg()
    docs = corpus(EmbeddedStore(args.store), args.index)
    print(f"corpus: {len(docs)} documents, {sum(map(len, docs))} tokens")
    builds = {}
    t0 = time.perf_counter()
    engines: dict[str, Any] = {"IncrementalBM25": IncrementalBM25.build(enumerate(docs))}
    builds["IncrementalBM25"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    engines["bm25s"] = SparseIndex().build(docs)
    builds["bm25s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = oracle(docs)
    builds["rank_bm25"] = time.perf_counter() - t0
    print("index build (not timed below): " + ", ".join(f"{n} {s:.1f} s" for n, s in builds.items()))
    rng = random.Random(42)
    vocab = sorted({t for d in rng.sample(docs, 2000) for t in d})
    queries = [rng.sample(vocab, rng.randint(1, 3)) for _ in range(args.queries)]
    for eng in engines.values():  # warm-up: first-touch costs out of the timing
        eng.search(queries[0], k=K)
    rank_bm25_top(ref, queries[0])
    times: dict[str, list[float]] = {n: [] for n in [*engines, "rank_bm25"]}
    agree: dict[str, list[tuple[bool, bool, float]]] = {n: [] for n in engines}
    for q in queries:
        t0 = time.perf_counter()
        want, scores = rank_bm25_top(ref, q)
        times["rank_bm25"].append(time.perf_counter() - t0)
        for name, eng in engines.items():
            t0 = time.perf_counter()
            hits = eng.search(q, k=K)
            times[name].append(time.perf_counter() - t0)
            agree[name].append(compare([h.row for h in hits], want, scores))
    peer, peer_med = float(np.mean(times["rank_bm25"])), float(np.median(times["rank_bm25"]))
    print(f"{len(queries)} queries, top {K}; mean / median latency:")
    print(f"  rank_bm25 get_scores + top-{K} (peer): {1e3 * peer:.2f} / {1e3 * np.median(times['rank_bm25']):.2f} ms")
    failed = []
    for name in engines:
        mean, med = float(np.mean(times[name])), float(np.median(times[name]))
        strict = sum(a[0] for a in agree[name])
        ties = sum(a[1] for a in agree[name])
        recall = float(np.mean([a[2] for a in agree[name]]))
        print(f"  {name}: {1e3 * mean:.3f} / {1e3 * med:.3f} ms -> x{peer / mean:.1f} / x{peer_med / med:.1f} vs the peer; "
              f"top-{K} identical {strict}/{len(queries)}, identical up to tied scores {ties}/{len(queries)}, "
              f"recall@{K} {recall:.4f}")
        if ties < len(queries):
            failed.append(name)
    load_after = os.getloadavg()
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}")
    if failed:
        print(f"FAILED: {', '.join(failed)} returned a different top {K} from rank_bm25 (beyond ties)")
        sys.exit(1)


if __name__ == "__main__":
    main()
