"""The paraphrase benchmark of the request parser (issue 14, item 3): exact match, per-slot F1, downstream P@10.

Generates the requests of every phrasing family (the tuned families shipped in
``musicgraph/evaluation/requests/tuned.toml``, plus any ``--families FILE`` such as the held-out
families written after tuning), parses each text with the project's parser
(``RequestParser.for_resources``) and compares it with the family's gold structured request
(:mod:`musicgraph.evaluation.paraphrase`). Families of each file are reported as their own group.

Downstream: every ``fans_tag`` family phrases each request of task 4's held-out protocol
(:mod:`musicgraph.evaluation.tasks.heldout_multihop`, ``--split test`` by default, ``dev`` for
tuning); the hybrid retriever answers the parsed text and the same request given structured, and
both are judged by the hidden listeners (precision@10 on the characteristic gold).

    PYTHONPATH=. .venv/bin/python benchmarks/eval_parser.py                       # tuned families, test seeds
    PYTHONPATH=. .venv/bin/python benchmarks/eval_parser.py --families heldout.toml --out /tmp/parser
    PYTHONPATH=. .venv/bin/python benchmarks/eval_parser.py --split dev --quick     # tuning loop
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from musicgraph.evaluation import paraphrase as P
from musicgraph.evaluation.stats import bootstrap_ci, paired_test
from musicgraph.evaluation.tasks import EvalConfig, TaskResult
from musicgraph.evaluation.tasks import heldout_multihop as H

log = logging.getLogger("eval_parser")


def _table(header: list[str], rows: list[list[Any]]) -> str:
    fmt = [[f"{c:.3f}" if isinstance(c, float) else str(c) for c in r] for r in rows]
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|",
                      *["| " + " | ".join(r) + " |" for r in fmt]])


def parse_report(judged: list[P.Judged]) -> dict[str, Any]:
    """Scores per group, per family (with its group) and per variant within each group."""
    by_group: dict[str, list[P.Judged]] = defaultdict(list)
    by_family: dict[str, list[P.Judged]] = defaultdict(list)
    by_variant: dict[tuple[str, str], list[P.Judged]] = defaultdict(list)
    for j in judged:
        by_group[j.item.group].append(j)
        by_family[j.item.family].append(j)
        by_variant[(j.item.group, j.item.variant)].append(j)
    out: dict[str, Any] = {"groups": {}, "families": {}, "variants": {}}
    for g, js in by_group.items():
        sc = P.score(js)
        em = np.array([1.0 if j.exact else 0.0 for j in js])
        ci = bootstrap_ci(em)
        out["groups"][g] = {**sc, "exact_match_ci": [ci.lo, ci.hi]}
    for f, js in by_family.items():
        out["families"][f] = {"group": js[0].item.group, **P.score(js)}
    for (g, v), js in by_variant.items():
        out["variants"][f"{g}/{v}"] = P.score(js)
    return out


def downstream(cfg: EvalConfig, families: list[P.Family], split: str) -> dict[str, Any]:
    """P@10 of the hybrid on each ``fans_tag`` family's phrasing vs the structured request (held-out gold)."""
    from musicgraph.errors import MusicgraphError
    from musicgraph.retrieval.hybrid import HybridRetriever

    result = TaskResult(task="multihop", protocol={})
    st = H.setup(cfg, result)
    if st is None:
        return {"missing": result.missing}
    try:
        reqs = st.requests[split]
        if cfg.quick:
            order = np.random.default_rng(H.REQUEST_SEED).permutation(len(reqs))[:H.QUICK_REQUESTS]
            reqs = [reqs[i] for i in sorted(order.tolist())]
        if H.leaked_edges(st.resources, st.hidden):
            raise RuntimeError("hidden users' listening is visible to the retriever")
        hybrid = HybridRetriever(st.store, bundle=st.bundle, data_dir=cfg.data_dir, resources=st.resources)

        def ids(results: list[Any]) -> list[int]:
            return [st.key_to_artist[r.id] for r in results if r.id in st.key_to_artist]

        structured = [ids(hybrid.search(r.request())) for r in reqs]
        p_struct = H.list_metrics(reqs, structured, st.facts, st.visible_fans)["precision@10"]
        out: dict[str, Any] = {"split": split, "requests": len(reqs), "structured_p@10": float(p_struct.mean()),
                               "families": {}, "groups": {}}
        per_group: dict[str, list[np.ndarray]] = defaultdict(list)
        for fam in families:
            if fam.downstream != "fans_tag":
                continue
            texts = H.free_texts(reqs, [fam])
            lists, failures = [], 0
            for text, _, _ in texts:
                try:
                    lists.append(ids(hybrid.search(text)))
                except MusicgraphError:
                    failures += 1
                    lists.append([])
            p = H.list_metrics(reqs, lists, st.facts, st.visible_fans)["precision@10"]
            ci = bootstrap_ci(p)
            d = paired_test(p, p_struct)
            out["families"][fam.name] = {"group": fam.group, "p@10": ci.mean, "ci": [ci.lo, ci.hi],
                                         "minus_structured": d.mean_diff, "diff_ci": [d.ci_lo, d.ci_hi],
                                         "failures": failures, "examples": [t[0] for t in texts[:3]]}
            per_group[fam.group].append(p)
        for g, ps in per_group.items():
            p = np.mean(ps, axis=0)  # per request: mean over the group's families
            ci = bootstrap_ci(p)
            d = paired_test(p, p_struct)
            out["groups"][g] = {"families": len(ps), "p@10": ci.mean, "ci": [ci.lo, ci.hi],
                                "minus_structured": d.mean_diff, "diff_ci": [d.ci_lo, d.ci_hi]}
        groups = sorted(per_group)
        if "tuned" in per_group:
            for g in groups:
                if g != "tuned":
                    d = paired_test(np.mean(per_group[g], axis=0), np.mean(per_group["tuned"], axis=0))
                    out["groups"][g]["minus_tuned"] = d.mean_diff
                    out["groups"][g]["minus_tuned_ci"] = [d.ci_lo, d.ci_hi]
        return out
    finally:
        st.store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--families", type=Path, nargs="*", default=[], help="more family files (e.g. held-out)")
    ap.add_argument("--n-per-family", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split", choices=("dev", "test"), default="test", help="held-out requests for downstream P@10")
    ap.add_argument("--quick", action="store_true", help=f"downstream on {H.QUICK_REQUESTS} requests")
    ap.add_argument("--no-downstream", action="store_true")
    ap.add_argument("--store", type=Path, default=None)
    ap.add_argument("--index", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None, help="write parser.json (and the worst items) here")
    ap.add_argument("--show-errors", type=int, default=0, help="print this many wrong parses")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from musicgraph.config import get_settings
    from musicgraph.evaluation.tasks import retrieval_common as R
    from musicgraph.retrieval.parser import RequestParser
    from musicgraph.retrieval.resources import GraphResources

    t0 = time.perf_counter()
    families = P.load_families()
    for path in args.families:
        families += P.load_families(path)
    names = [f.name for f in families]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        sys.exit(f"error: family names repeated across files: {', '.join(sorted(dup))}")
    settings = get_settings()
    cfg = EvalConfig(data_dir=settings.data_dir, store_dir=args.store or settings.store_dir, quick=args.quick,
                     index_dir=args.index)
    res0 = TaskResult(task="parser", protocol={})
    opened = R.open_store_and_index(cfg, res0)
    if opened is None:
        sys.exit(f"error: {res0.missing['*']}")
    store, bundle = opened
    facts = H.ListeningFacts.from_store(store)
    _, hidden = H.split_users(facts.users)
    res = GraphResources(store, bundle, hidden_users=hidden, data_dir=cfg.data_dir)
    pool = P.SlotPool.from_store(store, bundle.catalog)
    items = P.generate(families, pool, args.n_per_family, args.seed)
    parser = RequestParser.for_resources(res)
    tp = time.perf_counter()
    judged = P.parse_all(parser, items)
    parse_s = time.perf_counter() - tp
    store.close()
    report = parse_report(judged)
    report["meta"] = {"items": len(items), "families": len(families), "n_per_family": args.n_per_family,
                      "seed": args.seed, "parse_seconds": round(parse_s, 2), "command": " ".join(sys.argv)}
    print(_table(["group", "items", "exact match [95% CI]", "mean slot F1", "errors"],
                 [[g, v["n"], f"{v['exact_match']:.3f} [{v['exact_match_ci'][0]:.3f}, {v['exact_match_ci'][1]:.3f}]",
                   v["mean_slot_f1"], v["errors"]] for g, v in report["groups"].items()]))
    print()
    slots = P.SLOT_NAMES
    for g, v in report["groups"].items():
        print(f"per-slot precision / recall / F1 ({g}):")
        print(_table(["slot", "precision", "recall", "F1", "tp", "fp", "fn"],
                     [[s, v["slots"][s]["precision"], v["slots"][s]["recall"], v["slots"][s]["f1"],
                       v["slots"][s]["tp"], v["slots"][s]["fp"], v["slots"][s]["fn"]] for s in slots if s in v["slots"]]))
        print()
    print(_table(["family", "group", "items", "exact match", "mean slot F1", "seeds F1", "tags F1"],
                 [[f, v["group"], v["n"], v["exact_match"], v["mean_slot_f1"],
                   v["slots"].get("seeds", {}).get("f1", float("nan")),
                   v["slots"].get("tags", {}).get("f1", float("nan"))] for f, v in report["families"].items()]))
    print()
    print(_table(["variant", "items", "exact match"], [[k, v["n"], v["exact_match"]]
                                                       for k, v in sorted(report["variants"].items())]))
    if args.show_errors:
        print()
        for j in [j for j in judged if not j.exact][: args.show_errors]:
            wrong = {k: v for k, v in j.slots.items() if v[1] or v[2]}
            print(f"- [{j.item.family}/{j.item.variant}] {j.item.text!r}: wrong {wrong}; parsed: "
                  f"{j.parsed.describe() if j.parsed else j.error}")
    if not args.no_downstream:
        ds = downstream(cfg, families, args.split)
        report["downstream"] = ds
        if "families" in ds:
            print(f"\ndownstream P@10 ({ds['split']} requests: {ds['requests']}; structured hybrid "
                  f"{ds['structured_p@10']:.3f}):")
            print(_table(["family", "group", "P@10 [95% CI]", "minus structured [95% CI]", "failures"],
                         [[f, v["group"], f"{v['p@10']:.3f} [{v['ci'][0]:.3f}, {v['ci'][1]:.3f}]",
                           f"{v['minus_structured']:+.3f} [{v['diff_ci'][0]:+.3f}, {v['diff_ci'][1]:+.3f}]",
                           v["failures"]] for f, v in ds["families"].items()]))
            print(_table(["group", "families", "P@10 [95% CI]", "minus structured [95% CI]", "minus tuned [95% CI]"],
                         [[g, v["families"], f"{v['p@10']:.3f} [{v['ci'][0]:.3f}, {v['ci'][1]:.3f}]",
                           f"{v['minus_structured']:+.3f} [{v['diff_ci'][0]:+.3f}, {v['diff_ci'][1]:+.3f}]",
                           (f"{v['minus_tuned']:+.3f} [{v['minus_tuned_ci'][0]:+.3f}, {v['minus_tuned_ci'][1]:+.3f}]"
                            if "minus_tuned" in v else "")] for g, v in ds["groups"].items()]))
        else:
            print(f"downstream not run: {ds}")
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    report["meta"]["seconds"] = round(time.perf_counter() - t0, 1)
    report["meta"]["load_average"] = load
    print(f"\n{report['meta']['seconds']:.0f} s, parse {parse_s:.1f} s for {len(items)} requests, load average {load}")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        wrong = [{"family": j.item.family, "variant": j.item.variant, "text": j.item.text,
                  "gold": j.item.gold.describe(), "parsed": j.parsed.describe() if j.parsed else j.error,
                  "wrong_slots": {k: list(v) for k, v in j.slots.items() if v[1] or v[2]}}
                 for j in judged if not j.exact]
        (args.out / "parser.json").write_text(json.dumps({**report, "wrong": wrong}, indent=1, default=str))


if __name__ == "__main__":
    main()
