"""Hallucination before and after grounding for every RAG backend, graded by the independent judge.

Each backend answers the same requests on the same evidence (retrieval runs once per request, as in
``bench_rag.py``). The generated text (before the repair step of ``musicgraph.rag.grounding``) and the
final text are both graded by :class:`musicgraph.lm.judge.GroundingJudge`, which did not do the repair:

* ``halluc_before`` / ``halluc_after``: answers with any reference or fact error;
* ``ref_before`` / ``ref_after``: answers naming a song or artist that is invented, not retrieved,
  credited to the wrong artist, or pointed at the wrong evidence number;
* ``fact_before`` / ``fact_after``: answers stating a year, mood, sound, genre or link that
  contradicts the stored facts of the song it cites;
* ``true_cited_before`` / ``true_cited_after``: correctly cited evidence songs per answer;
  ``true_removed``: true citations the repair step removed, in total and per answer;
* ``cited3_reasons``: answers citing >= 3 distinct songs with a reason line each (final text);
* latency of generation + grounding (retrieval excluded), p50 / p95 in ms, warm (a first answer
  is generated before timing).

    MUSICGRAPH_HOME=... .venv/bin/python benchmarks/bench_grounding.py --n 120 \\
        --backends template,t5-local,lm,smollm2 --limit smollm2=40 --out /tmp/grounding.json --dump /tmp/g.jsonl
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from musicgraph.retrieval.base import Retriever  # noqa: E402


class CachedRetriever(Retriever):
    """``base`` with its answers kept per request, so every backend gets the same candidates."""

    name = "cached"

    def __init__(self, base: Retriever):
        self.base = base
        self.cache: dict[str, list[Any]] = {}

    def parse(self, text: str) -> Any:
        return self.base.parse(text)

    def get_search_results(self, request: Any) -> list[Any]:
        key = request.model_dump_json()
        if key not in self.cache:
            try:
                self.cache[key] = list(self.base.search(request))
            except (ValueError, LookupError):  # a request it cannot answer: no candidates
                self.cache[key] = []
        return copy.deepcopy(self.cache[key])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=120)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--backends", default="template,t5-local,lm,smollm2")
    ap.add_argument("--limit", default="", help="per-backend request limits, e.g. smollm2=40")
    ap.add_argument("--t5-dir", default=None)
    ap.add_argument("--lm-dir", default=None, help="answer model folder (default MUSICGRAPH_HOME/models/lm-answer)")
    ap.add_argument("--lookup", type=int, default=0, help="lm: prompt-lookup tokens (0: plain greedy)")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--dump", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import torch

    torch.set_num_threads(args.threads)
    from benchmarks.bench_rag import build_requests, pct
    from musicgraph.graph import open_store
    from musicgraph.lm.judge import GroundingJudge, JudgeCatalog
    from musicgraph.rag.ask import ask, default_retriever
    from musicgraph.rag.base import GeneratorError
    from musicgraph.rag.generators import load_generator
    from musicgraph.rag.mentions import NameIndex

    store = open_store()
    t = time.perf_counter()
    catalog = NameIndex.from_store(store)
    judge = GroundingJudge(JudgeCatalog.from_store(store))
    print(f"catalogs {time.perf_counter() - t:.1f}s, load {os.getloadavg()}", flush=True)
    requests = build_requests(store, args.n)[: args.n]
    cached = CachedRetriever(default_retriever(store))  # every backend answers from the same candidates
    limits = {k: int(v) for k, v in (x.split("=") for x in args.limit.split(",") if "=" in x)}
    dump = args.dump.open("a") if args.dump else None
    report: dict[str, Any] = {"requests": len(requests), "k": args.k, "load_start": os.getloadavg(), "backends": {}}
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        try:
            t = time.perf_counter()
            model = args.t5_dir if backend == "t5-local" else args.lm_dir if backend == "lm" else None
            gen = load_generator(backend, model=model)
            if backend == "lm":
                gen.lookup = args.lookup
            load_s = time.perf_counter() - t
        except GeneratorError as exc:
            print(f"{backend}: skipped ({exc})", flush=True)
            continue
        subset = requests[: limits.get(backend, len(requests))]
        ask(subset[0]["text"], k=args.k, generator=gen, retriever=cached, store=store, catalog=catalog)  # warm up
        m: dict[str, list[float]] = defaultdict(list)
        loads = []
        for i, req in enumerate(subset):
            ans = ask(req["text"], k=args.k, generator=gen, retriever=cached, store=store, catalog=catalog)
            if not ans.evidence or not ans.evidence.candidates:
                m["empty"].append(1.0)
                continue
            cands = [c.result for c in ans.evidence.candidates]
            generated = ans.grounding.original if ans.grounding else ans.text
            before = judge.judge(generated, cands, ans.query)
            after = judge.judge(ans.text, cands, ans.query)
            m["halluc_before"].append(float(before.hallucinated))
            m["halluc_after"].append(float(after.hallucinated))
            m["ref_before"].append(float(bool(before.reference_errors)))
            m["ref_after"].append(float(bool(after.reference_errors)))
            m["fact_before"].append(float(bool(before.fact_errors)))
            m["fact_after"].append(float(bool(after.fact_errors)))
            m["true_cited_before"].append(len(before.true_citations))
            m["true_cited_after"].append(len(after.true_citations))
            removed = len(set(before.true_citations) - set(after.true_citations))
            m["true_removed"].append(removed)
            lines_with_cite = sum(1 for line in ans.text.splitlines()
                                  if judge.judge(line, cands, ans.query).true_citations and len(line.split()) >= 5)  # fmt: skip
            m["cited3_reasons"].append(float(len(set(after.true_citations)) >= 3 and lines_with_cite >= 3))
            m["fallback"].append(float(ans.fallback))
            m["regenerated"].append(float(ans.regenerated))
            m["latency_ms"].append(1000 * (ans.timings["total"] - ans.timings.get("retrieve", 0.0)))
            loads.append(os.getloadavg()[0])
            if dump is not None:
                dump.write(json.dumps({
                    "backend": backend, "request": req["text"], "generated": generated, "final": ans.text,
                    "before": [[f.kind, f.span, f.detail] for f in before.findings],
                    "after": [[f.kind, f.span, f.detail] for f in after.findings],
                    "latency_ms": m["latency_ms"][-1],
                }) + "\n")  # fmt: skip
                dump.flush()
            if (i + 1) % 20 == 0:
                print(f"  {backend}: {i + 1}/{len(subset)}", flush=True)
        row: dict[str, Any] = {k: round(statistics.fmean(v), 4) for k, v in m.items() if v and k != "latency_ms"}
        row.update(n=len(subset), answered=len(m["latency_ms"]), true_removed_total=int(sum(m["true_removed"])),
                   load_s=round(load_s, 1), p50_ms=round(pct(m["latency_ms"], 0.5)), p95_ms=round(pct(m["latency_ms"], 0.95)),
                   load_avg_mean=round(statistics.fmean(loads), 2) if loads else None)  # fmt: skip
        report["backends"][backend] = row
        print(f"{backend}: " + ", ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    cols = ["n", "answered", "halluc_before", "halluc_after", "ref_before", "ref_after", "fact_before", "fact_after",
            "true_cited_before", "true_cited_after", "true_removed_total", "cited3_reasons", "fallback", "p50_ms", "p95_ms",
            "load_avg_mean"]  # fmt: skip
    print("\n| backend | " + " | ".join(cols) + " |\n|" + "---|" * (len(cols) + 1))
    for name, row in report["backends"].items():
        print(f"| {name} | " + " | ".join(str(row.get(c, "-")) for c in cols) + " |")
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
