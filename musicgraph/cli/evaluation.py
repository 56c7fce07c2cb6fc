"""``musicgraph eval``: run the evaluation tasks and write the report directory."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add the ``eval`` command to the main app."""

    @app.command("eval")
    def eval_command(
        task: Annotated[list[str] | None, typer.Option(
            "--task", "-t",
            help="Task(s) to run: recommendation, playlists, mood, multihop, multihop_smoke, rag (default: all).",
        )] = None,
        quick: Annotated[bool, typer.Option(
            "--quick", help="Reduced CI version (one seed, smaller models): minutes.")] = False,
        out: Annotated[Path, typer.Option("--out", "-o", help="Report directory.")] = Path("eval-report"),
        seeds: Annotated[int, typer.Option("--seeds", min=1, help="Training seeds of seeded systems (full run).")] = 3,
        store: Annotated[Path | None, typer.Option(
            "--store", help="Ingested embedded store (default: MUSICGRAPH_HOME's).")] = None,
        index: Annotated[Path | None, typer.Option(
            "--index", help="Retrieval index (default: indexes/<store name> beside the store).")] = None,
        cache: Annotated[Path | None, typer.Option(
            "--cache", help="Cache of re-encoded dense vectors (default MUSICGRAPH_HOME/cache/eval).")] = None,
        mlflow: Annotated[bool, typer.Option(
            "--mlflow", help="Log to MLflow (MUSICGRAPH_MLFLOW_URI, else HOME/mlruns).")] = False,
    ) -> None:
        """Evaluate every system on the chosen tasks: tables, report.md, results.json and plots."""
        from musicgraph.config import get_settings
        from musicgraph.evaluation.report import print_tables
        from musicgraph.evaluation.runner import run_eval
        from musicgraph.evaluation.tasks import TASKS, EvalConfig

        names = list(task) if task else list(TASKS)
        unknown = [n for n in names if n not in TASKS]
        if unknown:
            raise typer.BadParameter(f"unknown task(s) {', '.join(unknown)}; expected {', '.join(TASKS)}", param_hint="--task")
        settings = get_settings()
        cfg = EvalConfig(
            data_dir=settings.data_dir,
            store_dir=store or settings.store_dir,
            quick=quick,
            seeds=tuple(range(seeds)),
            out_dir=out,
            index_dir=index,
            cache_dir=cache,
        )
        from musicgraph.tracking import Tracker, eval_metrics

        params = {"tasks": ",".join(names), "quick": quick, "seeds": seeds, "store": str(cfg.store_dir),
                  "index": str(index) if index else None, "data_dir": str(settings.data_dir)}
        with Tracker.start("musicgraph-eval", run_name="eval-quick" if quick else "eval", params=params,
                           enabled=mlflow) as tracker:
            results = run_eval(names, cfg, argv=sys.argv)
            tracker.metrics(eval_metrics(results))
            tracker.metrics({"seconds": results["meta"]["seconds"]})
            for name in ("report.md", "results.json"):
                tracker.artifact(out / name)
        print_tables(results)
        typer.echo(f"report: {out / 'report.md'}  results: {out / 'results.json'}  ({results['meta']['seconds']} s)")
