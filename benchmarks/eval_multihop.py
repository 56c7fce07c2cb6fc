"""Task 4 (``multihop-heldout``) on the dev or test requests, with a subset of systems.

``musicgraph eval --task multihop`` runs the test requests with every system; this script is the
tuning loop: the dev seeds (disjoint from the test seeds) and only the systems being tuned::

    PYTHONPATH=. .venv/bin/python benchmarks/eval_multihop.py --split dev --systems ten-line graph hybrid
    PYTHONPATH=. .venv/bin/python benchmarks/eval_multihop.py --split test --out /tmp/mh   # every system

It prints the table (mean [95 % bootstrap CI] per metric), the beyond-accuracy figures, the paired
tests and the acceptance figures; ``--out DIR`` also writes ``results.json`` and ``report.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

from musicgraph.evaluation.report import markdown_table, task_table_rows, write_report
from musicgraph.evaluation.tasks import EvalConfig
from musicgraph.evaluation.tasks.heldout_multihop import SYSTEMS, run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", choices=("dev", "test"), default="dev")
    ap.add_argument("--systems", nargs="+", choices=SYSTEMS, default=None)
    ap.add_argument("--quick", action="store_true", help=f"the first {40} requests of the split (seeded)")
    ap.add_argument("--families", type=Path, nargs="*", default=None,
                    help="phrasing family files for hybrid-text (default: the tuned families)")
    ap.add_argument("--store", type=Path, default=None)
    ap.add_argument("--index", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from musicgraph.config import get_settings

    settings = get_settings()
    families = None
    if args.families:
        from musicgraph.evaluation.paraphrase import load_families

        families = [f for path in args.families for f in load_families(path)]
    cfg = EvalConfig(data_dir=settings.data_dir, store_dir=args.store or settings.store_dir, quick=args.quick,
                     out_dir=args.out, index_dir=args.index)
    t0 = time.perf_counter()
    result = run(cfg, split=args.split, systems=args.systems, families=families)
    doc = result.to_dict()
    header, rows = task_table_rows(doc)
    print(markdown_table(header, rows))
    extra = sorted({k for s in doc["systems"].values() for k in s["extra"]})
    if extra:
        print()
        print(markdown_table(["system", *extra], [[n, *[f"{s['extra'].get(k, 0):.4f}" for k in extra]]
                                                  for n, s in doc["systems"].items()]))
    for p in doc["paired_tests"]:
        print(f"- {p['a']} - {p['b']} on {p['metric']}: {p['mean_diff']:+.4f} [{p['ci_lo']:+.4f}, {p['ci_hi']:+.4f}], "
              f"randomization p = {p['p_randomization']:.3g}")
    for s, why in doc["missing_systems"].items():
        print(f"- not run: {s}: {why}")
    print(json.dumps(doc["extra"].get("acceptance", {}), indent=1))
    print(f"{time.perf_counter() - t0:.0f} s, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if args.out:
        from musicgraph.evaluation.report import run_meta

        meta = run_meta(args.quick, sys.argv)
        meta["split"] = args.split
        write_report({"multihop": result}, args.out, meta)


if __name__ == "__main__":
    main()
