"""Held-out minus tuned gap of the paraphrase benchmark, with a 95 % CI from resampling whole families.

Reads the ``parser.json`` that ``benchmarks/eval_parser.py --out DIR`` writes and prints, for each
non-tuned group, its exact match and mean slot F1 minus the tuned group's. The CI resamples
families (with replacement, within each group), since a family, not a request, is the unit that is
held out: the requests of one family share their phrasing and are not independent::

    PYTHONPATH=. .venv/bin/python benchmarks/eval_parser.py --families musicgraph/evaluation/requests/heldout.toml --out /tmp/p
    PYTHONPATH=. .venv/bin/python benchmarks/paraphrase_gap.py /tmp/p/parser.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from musicgraph.evaluation.paraphrase import SLOT_NAMES, prf


def group_scores(families: Sequence[dict[str, Any]]) -> tuple[float, float]:
    """Exact match and mean slot F1 (micro-averaged per slot) of a set of families' results."""
    n = sum(int(f["n"]) for f in families)
    exact = sum(float(f["exact_match"]) * int(f["n"]) for f in families) / n
    totals: dict[str, list[int]] = {}
    for f in families:
        for slot, v in f["slots"].items():
            t = totals.setdefault(slot, [0, 0, 0])
            t[0] += int(v["tp"])
            t[1] += int(v["fp"])
            t[2] += int(v["fn"])
    f1 = float(np.mean([prf(*totals[s])[2] for s in SLOT_NAMES if s in totals]))
    return exact, f1


def gap(base: Sequence[dict[str, Any]], other: Sequence[dict[str, Any]], n_boot: int = 5000,
        seed: int = 0) -> dict[str, Any]:
    """``other`` minus ``base`` on exact match and mean slot F1, each with a family-bootstrap 95 % CI."""
    (be, bf), (oe, of) = group_scores(base), group_scores(other)
    rng = np.random.default_rng(seed)
    de, df = np.empty(n_boot), np.empty(n_boot)
    for i in range(n_boot):
        b = [base[j] for j in rng.integers(0, len(base), len(base))]
        o = [other[j] for j in rng.integers(0, len(other), len(other))]
        (e1, f1), (e2, f2) = group_scores(b), group_scores(o)
        de[i], df[i] = e2 - e1, f2 - f1
    return {"exact_match": (oe - be, *np.percentile(de, [2.5, 97.5]).tolist()),
            "mean_slot_f1": (of - bf, *np.percentile(df, [2.5, 97.5]).tolist()),
            "families": (len(base), len(other))}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("parser_json", type=Path, help="parser.json written by benchmarks/eval_parser.py --out")
    ap.add_argument("--base", default="tuned", help="the group the others are compared with")
    ap.add_argument("--n-boot", type=int, default=5000)
    args = ap.parse_args(argv)
    try:
        doc = json.loads(args.parser_json.read_text(encoding="utf-8"))
        fams = list(doc["families"].values())
    except (OSError, ValueError, KeyError, AttributeError) as exc:
        print(f"error: cannot read family results from {args.parser_json}: {exc}", file=sys.stderr)
        return 2
    groups = sorted({str(f["group"]) for f in fams})
    if args.base not in groups:
        print(f"error: {args.parser_json} has no group {args.base!r} (groups: {', '.join(groups)})", file=sys.stderr)
        return 2
    base = [f for f in fams if f["group"] == args.base]
    print(f"| group | families | exact match minus {args.base} [95% CI] | mean slot F1 minus {args.base} [95% CI] |")
    print("| --- | --- | --- | --- |")
    for g in groups:
        if g == args.base:
            continue
        r = gap(base, [f for f in fams if f["group"] == g], n_boot=args.n_boot)
        e, f = r["exact_match"], r["mean_slot_f1"]
        print(f"| {g} | {r['families'][1]} vs {r['families'][0]} | {e[0]:+.3f} [{e[1]:+.3f}, {e[2]:+.3f}] "
              f"| {f[0]:+.3f} [{f[1]:+.3f}, {f[2]:+.3f}] |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
