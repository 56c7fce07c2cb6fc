"""``musicgraph features estimate|evaluate``: audio features for songs that have none."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from musicgraph.cli.core import JsonOpt, StoreOpt, console, handle_errors, open_cli_store

features_app = typer.Typer(help="Estimate audio features for songs without them, from the graph.", no_args_is_help=True)


@features_app.command("evaluate")
def evaluate_cmd(
    holdout: Annotated[float, typer.Option(help="Share of songs with features to hide.")] = 0.2,
    seed: Annotated[int, typer.Option()] = 0,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Hide songs that have features, estimate them, print MAE per feature vs the mean baseline."""
    from musicgraph.graph.features import evaluate

    @handle_errors
    def run() -> None:
        with open_cli_store(store) as st:
            rep = evaluate(st, holdout=holdout, seed=seed)
        if as_json:
            print(json.dumps({"n_heldout": rep.n_heldout, "coverage": rep.coverage, "mae": rep.mae,
                              "mae_mean_baseline": rep.mae_mean_baseline}, indent=2))
            return
        t = Table(title=f"held-out songs: {rep.n_heldout}, estimated: {rep.coverage:.1%}", title_justify="left")
        for col in ("feature", "MAE (graph)", "MAE (mean)", "improvement"):
            t.add_column(col, justify="right" if col != "feature" else "left")
        for f, mae, base, imp in rep.rows():
            t.add_row(f, f"{mae:.4f}", f"{base:.4f}", f"{imp:+.1%}")
        console.print(t)

    run()


@features_app.command("estimate")
def estimate_cmd(store: StoreOpt = None) -> None:
    """Estimate and write features (flagged ``features_estimated``) for every reachable song without them."""
    from musicgraph.graph.features import estimate, write_estimates

    @handle_errors
    def run() -> None:
        with open_cli_store(store) as st:
            est = estimate(st)
            n = write_estimates(st, est)
        console.print(f"wrote estimated features for {n:,} songs")

    run()


def register(app: typer.Typer) -> None:
    app.add_typer(features_app, name="features")
