"""Ablation table: precision@10 of each retrieval component and of the fused retriever.

Usage::

    .venv/bin/python benchmarks/eval_retrieval.py [--store DIR] [--index DIR] [--out results.json]

Evaluation sets come from :mod:`benchmarks.evalsets.build` (mood labels with a held-out half,
HetRec co-listening with held-out users). The held-out labels are removed from a copy of the
indexes in memory by the evaluation's own ``holdout_bundle`` (BM25 documents, dense texts of the
affected songs, mood-label emotion source, audio-feature estimates propagated over mood labels) and
from the graph, so no component sees the judgments.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.evalsets.build import EvalSets, build  # noqa: E402
from musicgraph.evaluation.tasks.evalsets import holdout_bundle  # noqa: E402
from musicgraph.evaluation.tasks.retrieval_common import ensure_dense  # noqa: E402
from musicgraph.graph.embedded import EmbeddedStore  # noqa: E402
from musicgraph.retrieval.index import IndexBundle  # noqa: E402
from musicgraph.retrieval.retriever import HybridRetriever  # noqa: E402

ABLATIONS: dict[str, dict[str, bool]] = {
    "bm25 only": dict(use_bm25=True, use_dense=False, use_graph=False, use_emotion=False, use_audio=False),
    "dense only": dict(use_bm25=False, use_dense=True, use_graph=False, use_emotion=False, use_audio=False),
    "graph only": dict(use_bm25=False, use_dense=False, use_graph=True, use_emotion=False, use_audio=False),
    "emotion only": dict(use_bm25=False, use_dense=False, use_graph=False, use_emotion=True, use_audio=False),
    "audio only": dict(use_bm25=False, use_dense=False, use_graph=False, use_emotion=False, use_audio=True),
    "fused, no rerank": dict(use_bm25=True, use_dense=True, use_graph=True, use_emotion=False, use_audio=False),
    "fused (all)": dict(use_bm25=True, use_dense=True, use_graph=True, use_emotion=True, use_audio=True),
}


def evaluate(retriever: HybridRetriever, sets: EvalSets, method: str = "rrf") -> dict[str, dict[str, float]]:
    cfg = replace(retriever.config, method=method)
    table: dict[str, dict[str, float]] = {}
    for name, flags in ABLATIONS.items():
        per_kind: dict[str, list[float]] = {}
        for q in sets.queries:
            filters = {"keys": q.pool} if q.pool is not None else None
            res = retriever.retrieve(q.text, k=10, filters=filters, config=cfg, **flags)
            p = sum(r.id in q.relevant for r in res) / 10.0
            per_kind.setdefault(q.kind, []).append(p)
        table[name] = {k: float(np.mean(v)) for k, v in per_kind.items()}
        table[name]["all"] = float(np.mean([x for v in per_kind.values() for x in v]))
        print(name, {k: round(v, 3) for k, v in table[name].items()}, flush=True)
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", type=Path, default=None, help="embedded store (default: MUSICGRAPH_HOME's)")
    ap.add_argument("--index", type=Path, default=None, help="retrieval index (default: MUSICGRAPH_HOME's)")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--linear", action="store_true", help="also evaluate weighted linear fusion")
    ap.add_argument("--cache", type=Path, default=None, help="keep the re-encoded held-out vectors here")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from musicgraph.config import get_settings
    from musicgraph.retrieval.index import default_index_dir

    store = EmbeddedStore(args.store or get_settings().store_dir)
    args.index = args.index or default_index_dir()
    t0 = time.perf_counter()
    sets = build(store)
    kinds: dict[str, int] = {}
    for q in sets.queries:
        kinds[q.kind] = kinds.get(q.kind, 0) + 1
    print(f"eval sets: {kinds}, hidden mood labels {len(sets.hidden_moods)}, hidden users {len(sets.hidden_users)}")
    base, note = ensure_dense(IndexBundle.load(args.index))  # restore dense from dense.vectors.npy if needed
    if note:
        print(note)
    if base.dense is None:
        print("no dense vectors in the index: the dense rows rank by the fallback (mood fit, popularity)")
    bundle, dense_note = holdout_bundle(store, base, sets.hidden_moods, args.cache)
    if dense_note:
        print(dense_note)
    retriever = HybridRetriever(store, bundle=bundle, hidden_moods=sets.hidden_moods, hidden_users=sets.hidden_users)
    print(f"prepared in {time.perf_counter() - t0:.1f}s")
    result = {"queries": kinds, "rrf": evaluate(retriever, sets, "rrf")}
    if args.linear:
        result["linear"] = evaluate(retriever, sets, "linear")
    print("\n| configuration | " + " | ".join(f"P@10 {k}" for k in [*kinds, "all"]) + " |")
    print("|---|" + "---|" * (len(kinds) + 1))
    for name, row in result["rrf"].items():
        print(f"| {name} | " + " | ".join(f"{row.get(k, 0):.3f}" for k in [*kinds, "all"]) + " |")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
