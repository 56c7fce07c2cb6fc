"""``musicgraph gnn train|embed|fold-in|eval``: GNN training, publishing embeddings, fold-in, evaluation.

Heavy imports (torch, torch_geometric, faiss) happen inside the commands.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import typer

log = logging.getLogger(__name__)

gnn_app = typer.Typer(help="Graph neural network embeddings: train, embed, eval.", no_args_is_help=True)


@gnn_app.command(
    "train",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
def train_cmd(ctx: typer.Context) -> None:
    """Train a model (all options of `python -m musicgraph.gnn.train`; --help lists them).

    Example: musicgraph gnn train --model sage --epochs 100 ; for several GPUs use
    torchrun --nproc_per_node=8 -m musicgraph.gnn.train --ddp
    """
    from musicgraph.gnn.train import main

    main(list(ctx.args))


@gnn_app.command("embed")
def embed_cmd(
    run: Path = typer.Option(None, "--run", help="Training run directory (default: HOME/models/gnn/sage-s2020)."),
    store_dir: Path = typer.Option(None, "--store", help="Embedded store directory (default: HOME/stores/<name>)."),
    labels: list[str] = typer.Option(None, "--label", help="Only these labels (repeatable)."),
    no_index: bool = typer.Option(False, "--no-index", help="Skip the FAISS index."),
) -> None:
    """Write a run's embeddings into the store (property `embedding`) and a FAISS index."""
    from musicgraph.config import get_settings
    from musicgraph.gnn.embed import index_dir, load_embeddings, write_embeddings
    from musicgraph.graph.embedded import EmbeddedStore

    settings = get_settings()
    run = run or settings.models_dir / "gnn" / "sage-s2020"
    path = store_dir or settings.store_dir
    if settings.neo4j_uri and store_dir is None:
        typer.echo("note: writing to the embedded store; the Neo4j backend is not wired here", err=True)
    if not (path / "graph.sqlite").exists():
        raise typer.BadParameter(f"no embedded store at {path}", param_hint="--store")
    emb = load_embeddings(run)
    store = EmbeddedStore(path)
    try:
        out = None if no_index else index_dir(settings, path.name)
        report = write_embeddings(store, emb, out_dir=out, labels=labels or None)
    finally:
        store.close()
    typer.echo(json.dumps({"nodes": report.nodes, "skipped": report.skipped, "dim": report.dim,
                           "index": str(report.index_path) if report.index_path else None}, indent=2))


@gnn_app.command("fold-in")
def fold_in_cmd(
    store_dir: Path = typer.Option(None, "--store", help="Embedded store directory (default: HOME/stores/<name>)."),
    index: Path = typer.Option(None, "--index-dir", help="Directory of gnn.faiss (default: HOME/indexes/<store>)."),
) -> None:
    """Give every store node of an embedded label that has no GNN vector an inductive (fold-in) one.

    New users, artists and songs added since `musicgraph gnn embed` get the normalized sum of their
    neighbours' vectors (no retraining); the catalog commands do this on every change already.
    """
    from musicgraph.config import get_settings
    from musicgraph.gnn.inductive import GnnEmbeddings
    from musicgraph.graph.embedded import EmbeddedStore

    settings = get_settings()
    path = store_dir or settings.store_dir
    if not (path / "graph.sqlite").exists():
        raise typer.BadParameter(f"no embedded store at {path}", param_hint="--store")
    gnn = GnnEmbeddings(index or (settings.home / "indexes" / path.name))
    if not gnn.exists():
        raise typer.BadParameter(f"no GNN index in {gnn.directory} (run: musicgraph gnn embed)", param_hint="--index-dir")
    store = EmbeddedStore(path)
    try:
        report = gnn.apply(store, None)
    finally:
        store.close()
    typer.echo(json.dumps(report, indent=2))


@gnn_app.command("eval")
def eval_cmd(
    run: list[Path] = typer.Option(None, "--run", help="Run directories whose result.json to show (repeatable)."),
    baselines: bool = typer.Option(False, "--baselines", help="Also evaluate MostPop and ItemKNN."),
    source: str = typer.Option("store", help="store or hetrec (for --baselines)."),
    seed: int = typer.Option(2020, help="Split seed (for --baselines)."),
) -> None:
    """Show test Recall/NDCG/Hit@10 of training runs (and of the classic baselines)."""
    from musicgraph.config import get_settings

    rows = []
    for r in run or []:
        res = json.loads((Path(r) / "result.json").read_text())
        rows.append((f"{res['model']} (seed {res['seed']})", res["test"]))
    if baselines:
        from musicgraph.gnn.baselines import evaluate_baseline
        from musicgraph.gnn.splits import hetrec_split

        settings = get_settings()
        if source == "hetrec":
            split = hetrec_split(settings.data_dir, seed=seed)
        else:
            from musicgraph.graph.embedded import EmbeddedStore

            store = EmbeddedStore(settings.store_dir)
            split = hetrec_split(store, seed=seed)
            store.close()
        for name in ("mostpop", "itemknn"):
            rows.append((name, evaluate_baseline(name, split)))
    if not rows:
        raise typer.BadParameter("give --run DIR and/or --baselines")
    from rich.console import Console
    from rich.table import Table

    table = Table("model", "Recall@10", "NDCG@10", "Hit@10")
    for name, m in rows:
        table.add_row(name, f"{m['recall@10']:.4f}", f"{m['ndcg@10']:.4f}", f"{m['hit@10']:.4f}")
    Console().print(table)


def register(app: typer.Typer) -> None:
    """Add the ``gnn`` command group."""
    app.add_typer(gnn_app, name="gnn")
