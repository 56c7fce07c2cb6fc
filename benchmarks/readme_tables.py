"""Turn an evaluation report's ``results.json`` into the Markdown tables of docs/evaluation.md.

Usage::

    .venv/bin/python benchmarks/readme_tables.py eval-report/results.json [--task mood --task multihop]

Prints one table per task (mean [95% CI] of the task's main metrics, published anchors beside our
numbers where the task has them), the paired tests, and the systems that did not run with the
reason. The tables are rendered by :func:`musicgraph.evaluation.report.task_table_rows`, the same
code that writes ``report.md``, so docs never carry a number the command did not produce.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from musicgraph.evaluation.report import markdown_table, task_table_rows


def tables(results: dict, tasks: list[str] | None = None) -> str:
    """Markdown for the chosen tasks (all by default)."""
    out = []
    for name, task in results["tasks"].items():
        if tasks and name not in tasks:
            continue
        out.append(f"### {name} (`{task['protocol'].get('name')}` v{task['protocol'].get('version')}, "
                   f"{'quick' if results['meta'].get('quick') else 'full'} run, {task['seconds']:.0f} s)\n")
        if task["systems"]:
            header, rows = task_table_rows(task)
            out.append(markdown_table(header, rows) + "\n")
        for p in task.get("paired_tests", []):
            out.append(f"- {p['a']} − {p['b']} on {p['metric']}: {p['mean_diff']:+.4f} "
                       f"[{p['ci_lo']:+.4f}, {p['ci_hi']:+.4f}], randomization p = {p['p_randomization']:.3g}")
        for s, why in task.get("missing_systems", {}).items():
            out.append(f"- not run: {s}: {why}")
        out.append("")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", type=Path)
    ap.add_argument("--task", action="append", default=None)
    args = ap.parse_args()
    print(tables(json.loads(args.results.read_text(encoding="utf-8")), args.task))


if __name__ == "__main__":
    main()
