"""Precision and recall of the independent grounding judge (and of the repair detector) on the
adversarial answer set (:mod:`musicgraph.lm.adversarial`).

Contexts are the benchmark requests of ``bench_rag.py`` with their real retrieved candidates (k=5).
Every context gives clean answers in several styles and one corrupted answer per error kind; the
``test`` phrasings were not used while building the judge (``dev`` were).

    MUSICGRAPH_HOME=... .venv/bin/python benchmarks/judge_adversarial.py --n 120 --out /tmp/judge.json \
        [--cache /tmp/judge_ctx.pkl] [--show 20]
"""

from __future__ import annotations

import argparse
import json
import logging
import pickle
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def contexts_and_catalog(n: int, k: int, cache: Path | None) -> tuple[list[tuple[str, list[Any]]], Any]:
    """``(request, candidates)`` for ``n`` benchmark requests and the judge's catalog (cached)."""
    if cache is not None and cache.is_file():
        with cache.open("rb") as fh:
            return pickle.load(fh)
    from benchmarks.bench_rag import build_requests
    from musicgraph.graph import open_store
    from musicgraph.lm.judge import JudgeCatalog
    from musicgraph.rag.ask import OVERFETCH, default_retriever, refine_results

    store = open_store()
    t = time.perf_counter()
    catalog = JudgeCatalog.from_store(store)
    print(f"judge catalog: {len(catalog.songs)} songs, {len(catalog.artist_names)} artists "
          f"({time.perf_counter() - t:.1f}s)")  # fmt: skip
    retrieve = default_retriever(store)
    out = []
    for req in build_requests(store, n)[:n]:
        try:
            results = refine_results(retrieve.search(req["text"], k=k * OVERFETCH), k, store=store)
        except (ValueError, LookupError):
            continue
        if results:
            out.append((req["text"], results))
    if cache is not None:
        with cache.open("wb") as fh:
            pickle.dump((out, catalog), fh)
    return out, catalog


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=120)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--cache", type=Path, default=None, help="pickle of contexts + catalog (reused when present)")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--show", type=int, default=0, help="print this many misses and false alarms per family")
    ap.add_argument("--families", default="dev,test")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from musicgraph.lm.adversarial import build_set, score
    from musicgraph.lm.judge import GroundingJudge
    from musicgraph.rag.grounding import ground
    from musicgraph.rag.mentions import NameIndex, evidence_artists

    contexts, catalog = contexts_and_catalog(args.n, args.k, args.cache)
    judge = GroundingJudge(catalog)
    repair_catalog = None
    report: dict[str, Any] = {"contexts": len(contexts)}
    for family in args.families.split(","):
        answers = build_set(contexts, catalog, family=family)
        t = time.perf_counter()
        verdicts = [judge.judge(a.text, a.candidates, a.request) for a in answers]
        judge_s = time.perf_counter() - t
        flagged = [v.hallucinated for v in verdicts]
        row = {"judge": score(answers, flagged), "judge_ms_per_answer": round(1000 * judge_s / len(answers), 2)}
        if repair_catalog is None:
            from musicgraph.graph import open_store

            repair_catalog = NameIndex.from_store(open_store())
        rep = []
        for a in answers:
            allowed = evidence_artists(a.candidates, a.request, repair_catalog)
            rep.append(ground(a.text, a.candidates, repair_catalog, allowed, [a.request]).hallucinated)
        row["repair_detector"] = score(answers, rep)
        report[family] = row
        print(f"\n== {family}: {len(answers)} answers ==")
        for name in ("judge", "repair_detector"):
            s = row[name]
            print(f"{name}: precision {s['precision']:.3f} recall {s['recall']:.3f} F1 {s['f1']:.3f}")
            print("  recall by kind: " + ", ".join(f"{k} {v:.2f}" for k, v in s["recall_by_kind"].items()))
            print("  false alarms by clean style: " + ", ".join(f"{k} {v:.2f}" for k, v in s["false_positive_rate_by_style"].items()))
        if args.show:
            shown = 0
            for a, v in zip(answers, verdicts, strict=True):
                if a.bad != v.hallucinated and shown < args.show:
                    shown += 1
                    print(f"--- {'MISS' if a.bad else 'FALSE ALARM'} [{a.kind}/{a.style}] planted={a.planted!r}")
                    print(a.text)
                    print("   findings:", [(f.kind, f.span[:60], f.detail[:80]) for f in v.findings])
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
