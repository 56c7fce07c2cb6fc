"""BM25 speed: the bm25s engine (SparseIndex) against rank_bm25 (BM25Plus), same tokenizer/params.

Corpus (>= 50k documents): every song document of the built catalog (title, artist, album,
genres, tags, moods, lyrics) plus one document per lyric stanza of the songs with lyrics, plus one
per artist (name and top tags). Queries: 200 deterministic 1-3 word queries drawn from the corpus
vocabulary. Reports per-query latency of both, the speed ratio, and whether every top-10 is identical.

    .venv/bin/python benchmarks/bench_bm25.py [--store DIR] [--index DIR] [--queries 200]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from musicgraph.graph.embedded import EmbeddedStore  # noqa: E402
from musicgraph.retrieval.catalog import SongCatalog  # noqa: E402
from musicgraph.retrieval.index import lyrics_of  # noqa: E402
from musicgraph.retrieval.sparse import SparseIndex, oracle, oracle_top, same_ranking  # noqa: E402
from musicgraph.retrieval.text import tokenize  # noqa: E402


def corpus(store: EmbeddedStore, index: Path) -> list[list[str]]:
    cat = SongCatalog.load(index)
    lyr = lyrics_of(store, cat, range(len(cat)))
    docs = [tokenize(cat.document(i, lyr.get(i))) for i in range(len(cat))]
    for text in lyr.values():
        docs += [tokenize(st) for st in text.split("\n\n") if st.strip()]
    docs += [tokenize(f"{name} {' '.join(cat.artist_tags.get(k, []))}") for k, name in cat.artist_names.items()]
    return [d for d in docs if d]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", type=Path, default=Path(".musicgraph/stores/default"))
    ap.add_argument("--index", type=Path, default=Path(".musicgraph/indexes/default"))
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    docs = corpus(EmbeddedStore(args.store), args.index)
    print(f"corpus: {len(docs)} documents, {sum(map(len, docs))} tokens")
    t0 = time.perf_counter()
    engine = SparseIndex().build(docs)
    t_engine = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = oracle(docs)
    t_ref = time.perf_counter() - t0
    print(f"index build: bm25s {t_engine:.2f}s, rank_bm25 {t_ref:.2f}s")
    rng = random.Random(42)
    vocab = sorted({t for d in rng.sample(docs, 2000) for t in d})
    queries = [rng.sample(vocab, rng.randint(1, 3)) for _ in range(args.queries)]
    eng_t, ref_t, same, strict = [], [], 0, 0
    for q in queries:
        t0 = time.perf_counter()
        got = engine.search(q, k=10)
        eng_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        want = oracle_top(ref, q, 10)
        ref_t.append(time.perf_counter() - t0)
        strict += [h.row for h in got] == [r for r, _ in want]
        same += same_ranking(got, np.asarray(ref.get_scores(q)), want)
    e, r = np.mean(eng_t) * 1000, np.mean(ref_t) * 1000
    print(f"queries: {len(queries)}; mean latency bm25s {e:.3f} ms, rank_bm25 {r:.2f} ms; "
          f"speed-up x{r / e:.1f}; identical top-10 rankings: {same}/{len(queries)} "
          f"(same rows in the same order, ties included: {strict}/{len(queries)})")


if __name__ == "__main__":
    main()
