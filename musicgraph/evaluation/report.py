"""The evaluation report: rich tables on the console, ``report.md``, ``results.json`` and PNG plots.

``results.json`` holds every number with its task protocol (name, version, split seed, training seeds,
bootstrap seed): ``{"meta": {...}, "tasks": {task: TaskResult.to_dict()}}``. ``report.md`` and the
tables of ``docs/evaluation.md`` are rendered from that file only (:func:`markdown_from_results`), so
the README never carries a number that the command did not produce.

Plots (matplotlib, Agg backend, imported only when writing): per task, metric bars with 95% CIs per
system (``<task>_bars.png``); the ablation chart when a task has ablation systems (names containing
``-no-``); violin plots of requested vs recommended audio features per mood query (``mood_violin.png``)
when the mood task saved them.
"""

from __future__ import annotations

import json
import logging
import platform
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: Published anchors shown beside our numbers (protocol caveats in ``docs/evaluation.md``).
ANCHORS: dict[str, list[dict[str, Any]]] = {
    "recommendation": [
        {"system": "BPR (RecBole)", "recall@10": 0.1761, "ndcg@10": 0.1674, "source": "RecBole-GNN HetRec Last.fm table"},
        {"system": "LightGCN (RecBole-GNN)", "recall@10": 0.2064, "ndcg@10": 0.1972, "source": "RecBole-GNN HetRec Last.fm table"},
    ],
    "playlists": [
        {"system": "RecSys Challenge 2018 winner (vl6)", "r_precision": 0.2241, "ndcg": 0.3946,
         "source": "full MPD, 10k challenge playlists: a different (much larger) protocol"},
    ],
}


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, (int, float)) and v is not None else "–"


def build_results(tasks: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """The ``results.json`` document from :class:`~musicgraph.evaluation.tasks.TaskResult` objects."""
    return {"meta": meta, "tasks": {name: t.to_dict() for name, t in tasks.items()}, "anchors": ANCHORS}


def run_meta(quick: bool, argv: list[str] | None = None) -> dict[str, Any]:
    """Run metadata: time, versions, quick flag, command."""
    import numpy as np

    from musicgraph import __version__ as mg_version

    return {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "musicgraph": mg_version,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "quick": quick,
        "command": " ".join(argv) if argv else None,
    }


def task_table_rows(task: dict[str, Any], metrics: list[str] | None = None) -> tuple[list[str], list[list[str]]]:
    """Header and rows (system, metric "mean [lo, hi]", ...) of one task from its JSON form."""
    metrics = metrics or task.get("main_metrics") or []
    header = ["system", *metrics, "seeds"]
    rows = []
    order = sorted(task["systems"].items(), key=lambda kv: -(kv[1]["metrics"].get(metrics[0], {}).get("mean") or 0) if metrics else 0)
    for name, sysd in order:
        cells = [name]
        for m in metrics:
            e = sysd["metrics"].get(m)
            if e is None or e.get("mean") is None:
                cells.append("–")
            elif "ci_lo" in e:
                cells.append(f"{e['mean']:.4f} [{e['ci_lo']:.4f}, {e['ci_hi']:.4f}]")
            else:
                cells.append(_fmt(e["mean"]))
        cells.append(",".join(str(s) for s in sysd["seeds"]))
        rows.append(cells)
    for anchor in ANCHORS.get(task["task"], []):
        cells = [f"*{anchor['system']}* (published)"]
        for m in metrics:
            key = m if m in anchor else m.split("@")[0] if m.split("@")[0] in anchor else None
            cells.append(_fmt(anchor[key]) if key else "")
        cells.append("")
        rows.append(cells)
    return header, rows


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def markdown_from_results(results: dict[str, Any]) -> str:
    """``report.md`` text rendered from a ``results.json`` document."""
    meta = results["meta"]
    lines = [
        "# musicgraph evaluation report",
        "",
        f"Created {meta.get('created')} with musicgraph {meta.get('musicgraph')} (python {meta.get('python')}); "
        f"{'QUICK (reduced CI) run' if meta.get('quick') else 'full run'}. Every figure is the mean over the "
        "task's queries with a 95% bootstrap CI in brackets; seeded systems are averaged over the listed seeds.",
        "",
    ]
    for name, task in results["tasks"].items():
        proto = task["protocol"]
        lines += [f"## {name}", "", f"Protocol `{proto.get('name')}` v{proto.get('version')}, {task['seconds']:.1f} s.", ""]
        lines += [f"- {k}: {v}" for k, v in proto.items() if k not in ("name", "version")]
        lines.append("")
        if task["systems"]:
            header, rows = task_table_rows(task)
            lines += [markdown_table(header, rows), ""]
            extra_keys = sorted({k for s in task["systems"].values() for k in s.get("extra", {})})
            if extra_keys:
                rows2 = [[n, *[_fmt(s["extra"].get(k)) for k in extra_keys]] for n, s in task["systems"].items()]
                lines += ["Beyond accuracy:", "", markdown_table(["system", *extra_keys], rows2), ""]
        for sl, systems in task.get("slices", {}).items():
            if systems:
                header, rows = task_table_rows({"task": f"{name}:{sl}", "systems": systems, "main_metrics": task["main_metrics"][:4]})
                lines += [f"Slice `{sl}`:", "", markdown_table(header, rows), ""]
        for p in task.get("paired_tests", []):
            lines.append(
                f"- paired test on {p['metric']}: {p['a']} − {p['b']} = {p['mean_diff']:+.4f} "
                f"[{p['ci_lo']:+.4f}, {p['ci_hi']:+.4f}], randomization p = {p['p_randomization']:.4g}, "
                f"Wilcoxon p = {p['p_wilcoxon']:.4g} (n = {p['n']})"
            )
        if task.get("missing_systems"):
            lines += ["", "Not run (missing components):", ""]
            lines += [f"- {s}: {why}" for s, why in task["missing_systems"].items()]
        if task.get("notes"):
            lines += ["", *[f"> {n}" for n in task["notes"]]]
        plots = task.get("extra", {}).get("plots", [])
        if plots:
            lines += ["", *[f"![{p}]({p})" for p in plots]]
        lines.append("")
    return "\n".join(lines)


def print_tables(results: dict[str, Any]) -> None:
    """Rich tables of every task on the console."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for name, task in results["tasks"].items():
        if not task["systems"]:
            console.print(f"[yellow]{name}: no system ran[/]: {task.get('missing_systems')}")
            continue
        header, rows = task_table_rows(task)
        table = Table(title=f"{name} ({task['protocol'].get('name')} v{task['protocol'].get('version')})")
        for h in header:
            table.add_column(h)
        for r in rows:
            table.add_row(*r)
        console.print(table)
        if task.get("missing_systems"):
            console.print(f"[dim]not run: {', '.join(task['missing_systems'])}[/]")


def plot_bars(task: dict[str, Any], path: Path, metrics: list[str] | None = None) -> Path | None:
    """Grouped bars (system x metric) with 95% CI error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    metrics = (metrics or task["main_metrics"])[:4]
    systems = list(task["systems"])
    if not systems or not metrics:
        return None
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(systems) * len(metrics) / 2), 4))
    width = 0.8 / len(metrics)
    x = np.arange(len(systems))
    for j, m in enumerate(metrics):
        means, lo, hi = [], [], []
        for s in systems:
            e = task["systems"][s]["metrics"].get(m, {})
            mean = e.get("mean") or 0.0
            means.append(mean)
            lo.append(mean - e.get("ci_lo", mean))
            hi.append(e.get("ci_hi", mean) - mean)
        ax.bar(x + j * width - 0.4 + width / 2, means, width, yerr=[lo, hi], capsize=2, label=m)
    ax.set_xticks(x)
    ax.set_xticklabels(systems, rotation=30, ha="right")
    ax.set_title(f"{task['task']} ({task['protocol'].get('name')}): mean with 95% bootstrap CI")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_ablation(task: dict[str, Any], path: Path, metric: str, full: str) -> Path | None:
    """Horizontal bars: the full system and each ablation (``<full>-no-<component>``), with CIs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [full] + sorted(n for n in task["systems"] if n.startswith(f"{full}-no-"))
    if full not in task["systems"] or len(names) < 2:
        return None
    fig, ax = plt.subplots(figsize=(6, 0.5 * len(names) + 1.2))
    for i, n in enumerate(names):
        e = task["systems"][n]["metrics"][metric]
        ax.barh(i, e["mean"], xerr=[[e["mean"] - e.get("ci_lo", e["mean"])], [e.get("ci_hi", e["mean"]) - e["mean"]]], capsize=3,
                color="tab:blue" if n == full else "tab:gray")
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names)
    ax.set_xlabel(metric)
    ax.set_title(f"{task['task']}: ablations")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_violins(violins: dict[str, dict[str, dict[str, list[float]]]], path: Path) -> Path | None:
    """Per mood query and audio feature: the requested target vs the recommended items' values.

    ``violins[query][feature] = {"requested": [...], "recommended": [...]}``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    queries = [q for q in violins if violins[q]]
    if not queries:
        return None
    features = sorted({f for q in queries for f in violins[q]})
    fig, axes = plt.subplots(1, len(features), figsize=(3.2 * len(features), 3.6), squeeze=False)
    for j, f in enumerate(features):
        ax = axes[0][j]
        data, pos, colors = [], [], []
        for i, q in enumerate(queries):
            d = violins[q].get(f)
            if not d:
                continue
            for off, kind, color in ((-0.2, "requested", "tab:orange"), (0.2, "recommended", "tab:blue")):
                vals = d.get(kind) or []
                if len(vals) >= 2:
                    data.append(vals)
                    pos.append(i + off)
                    colors.append(color)
        if data:
            parts = ax.violinplot(data, positions=pos, widths=0.35, showmedians=True)
            for body, c in zip(parts["bodies"], colors, strict=True):
                body.set_facecolor(c)
        ax.set_xticks(range(len(queries)))
        ax.set_xticklabels(queries, rotation=45, ha="right", fontsize=7)
        ax.set_title(f)
    fig.suptitle("requested (orange) vs recommended (blue) audio features per mood query")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(tasks: dict[str, Any], out_dir: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """Write plots, ``results.json`` and ``report.md`` into ``out_dir``; return the results document.

    Args:
        tasks: task name -> its :class:`~musicgraph.evaluation.tasks.TaskResult`.
        out_dir: the report folder (created when missing).
        meta: the run's metadata (:func:`run_meta` plus what the runner adds).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, t in tasks.items():
        plots: list[str] = list(t.extra.get("plots", []))
        d = t.to_dict()
        if t.systems and plot_bars(d, out_dir / f"{name}_bars.png"):
            plots.append(f"{name}_bars.png")
        full = t.extra.get("ablation_of")
        if full and plot_ablation(d, out_dir / f"{name}_ablation.png", t.main_metrics[0], full):
            plots.append(f"{name}_ablation.png")
        violins = t.extra.pop("violins", None)
        if violins and plot_violins(violins, out_dir / f"{name}_violin.png"):
            plots.append(f"{name}_violin.png")
        t.extra["plots"] = plots
    results = build_results(tasks, meta)
    (out_dir / "results.json").write_text(json.dumps(results, indent=1, sort_keys=False), encoding="utf-8")
    (out_dir / "report.md").write_text(markdown_from_results(results), encoding="utf-8")
    log.info("wrote %s and %s", out_dir / "results.json", out_dir / "report.md")
    return results
