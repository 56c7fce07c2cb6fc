"""The quality table of docs/gnn.md: every model on HetRec user -> artist, mean ± std over seeds.

Run ``python benchmarks/gnn_table.py --seeds 2020 2021 2022`` (trains what is missing under
``--runs``; finished runs are reused) then ``--report`` to print the Markdown table. Each seed
changes both the split (per-user 80/10/10 shuffle) and the model initialization.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from musicgraph.gnn.presets import PRESETS, preset_args, slug  # noqa: E402

MODELS = {name: preset_args(name) for name in PRESETS}  # Model name -> training arguments (musicgraph.gnn.presets)
PUBLISHED = {  # RecBole-GNN, HetRec Last.fm, same protocol: R@10, NDCG@10, Hit@10
    "BPR (RecBole)": (0.1761, 0.1674, 0.5573),
    "LightGCN (RecBole)": (0.2064, 0.1972, 0.6322),
    "SEPT (RecBole-GNN)": (0.2127, 0.2057, None),
    "MHCN (RecBole-GNN)": (0.2123, 0.2068, None),
}
KEYS = ("recall@10", "ndcg@10", "hit@10")


def run_all(seeds: list[int], runs: Path, source: str, models: list[str], threads: int, max_minutes: float) -> None:
    for seed in seeds:
        for name in models:
            out = runs / f"{slug(name)}-s{seed}"
            if (out / "result.json").exists():
                continue
            cmd = [sys.executable, "-m", "musicgraph.gnn.train", "--source", source, "--seed", str(seed),
                   "--split-seed", str(seed), "--epochs", "400", "--out", str(out), "--no-progress",
                   "--threads", str(threads), "--max-minutes", str(max_minutes), *MODELS[name]]
            print(" ".join(cmd), flush=True)
            subprocess.run(cmd, check=True)


def baselines(seeds: list[int], runs: Path, source: str) -> None:
    from musicgraph.config import get_settings
    from musicgraph.gnn.split_baselines import evaluate_baseline
    from musicgraph.gnn.splits import hetrec_split

    for seed in seeds:
        for name in ("mostpop", "itemknn"):
            out = runs / f"{name}-s{seed}"
            if (out / "result.json").exists():
                continue
            if source == "hetrec":
                split = hetrec_split(get_settings().data_dir, seed=seed)
            else:
                from musicgraph.graph.embedded import EmbeddedStore

                split = hetrec_split(EmbeddedStore(get_settings().store_dir), seed=seed)
            out.mkdir(parents=True, exist_ok=True)
            res = {"model": name, "seed": seed, "test": evaluate_baseline(name, split, "test")}
            (out / "result.json").write_text(json.dumps(res, indent=2))


def _capped(result: dict) -> bool:
    """True when a run ended on its time budget rather than by early stopping."""
    if "stop_reason" in result:
        return result["stop_reason"] == "time budget"
    return "best_epoch" in result and result.get("epochs_run", 0) < 400 and (
        result["epochs_run"] - result["best_epoch"] < 10  # patience 5 evaluations not used up
    )


def report(seeds: list[int], runs: Path) -> str:
    rows = [("MostPop", "mostpop"), ("ItemKNN (cosine, k=100)", "itemknn")] + [(n, slug(n)) for n in MODELS]
    lines = ["| model | Recall@10 | NDCG@10 | Hit@10 | train+valid wall s (mean) | CPU s (mean) | seeds |",
             "|---|---|---|---|---|---|---|"]
    for name, prefix in rows:
        res = [json.loads(p.read_text()) for s in seeds if (p := runs / f"{prefix}-s{s}" / "result.json").exists()]
        if not res:
            continue
        cells = []
        for k in KEYS:
            vals = [r["test"][k] for r in res]
            sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
            cells.append(f"{statistics.mean(vals):.4f} ± {sd:.4f}")
        capped = sum(1 for r in res if _capped(r))
        ts = [r["train_s"] for r in res if "train_s" in r]
        t = f"{statistics.mean(ts):.0f}" if ts else "-"
        cs = [r["cpu_s"] for r in res if "cpu_s" in r]
        c = f"{statistics.mean(cs):.0f}" if cs else "-"
        note = f" ({capped} stopped by the time budget)" if capped else ""
        lines.append(f"| {name} | {' | '.join(cells)} | {t} | {c} | {len(res)}{note} |")
    for name, vals in PUBLISHED.items():
        cells = [f"{v:.4f}" if v is not None else "-" for v in vals]
        lines.append(f"| *{name}, published* | {' | '.join(cells)} | | | |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[2020, 2021, 2022])
    ap.add_argument("--runs", type=Path, default=Path("/tmp/gnn-table-v2"))
    ap.add_argument("--source", default="hetrec")
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-minutes", type=float, default=20.0)
    ap.add_argument("--report", action="store_true", help="only print the table of finished runs")
    args = ap.parse_args()
    if not args.report:
        baselines(args.seeds, args.runs, args.source)
        run_all(args.seeds, args.runs, args.source, args.models, args.threads, args.max_minutes)
    print(report(args.seeds, args.runs))


if __name__ == "__main__":
    main()
