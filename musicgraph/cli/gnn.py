"""``musicgraph gnn train|embed|fold-in|eval``: GNN training, publishing embeddings, fold-in, evaluation.

Heavy imports (torch, torch_geometric, faiss) happen inside the commands.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any

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


def _open_store(store_dir: Path | None, backend: str | None) -> tuple[Any, str]:
    """The store to write into: ``--store DIR`` (embedded), else the configured one (Neo4j when
    MUSICGRAPH_NEO4J_URI is set, or with ``--backend neo4j``); and the name of its GNN index folder."""
    from musicgraph.config import get_settings
    from musicgraph.graph import open_store
    from musicgraph.graph.embedded import EmbeddedStore

    settings = get_settings()
    if store_dir is not None:
        if backend == "neo4j":
            raise typer.BadParameter("--store is an embedded store directory; leave it out with --backend neo4j")
        if not (store_dir / "graph.sqlite").exists():
            raise typer.BadParameter(f"no embedded store at {store_dir}", param_hint="--store")
        return EmbeddedStore(store_dir), store_dir.name
    if backend not in (None, "embedded", "neo4j"):
        raise typer.BadParameter(f"--backend must be embedded or neo4j, got {backend!r}")
    if (backend or ("neo4j" if settings.neo4j_uri else "embedded")) == "embedded" and not (
        settings.store_dir / "graph.sqlite"
    ).exists():
        raise typer.BadParameter(f"no embedded store at {settings.store_dir} (run musicgraph ingest)", param_hint="--store")
    return open_store(settings, backend=backend), settings.store_name


@gnn_app.command("embed")
def embed_cmd(
    run: Annotated[Path | None, typer.Option(
        "--run", help="Training run directory (default: HOME/models/gnn/sage-s2020).")] = None,
    store_dir: Annotated[Path | None, typer.Option(
        "--store", help="Embedded store directory (default: the configured store).")] = None,
    backend: Annotated[str | None, typer.Option(
        "--backend", help="embedded or neo4j (default: neo4j when MUSICGRAPH_NEO4J_URI is set).")] = None,
    labels: Annotated[list[str] | None, typer.Option("--label", help="Only these labels (repeatable).")] = None,
    no_index: Annotated[bool, typer.Option("--no-index", help="Skip the FAISS index.")] = False,
) -> None:
    """Write a run's embeddings into the store and a FAISS index.

    The vectors replace the old ones (the old vector of every node of a label is removed first). In
    Neo4j they go into each label's vector index (artist_embedding, song_embedding, user_embedding),
    sized to the run's dimension, so `db.index.vector.queryNodes` and Browser queries answer from it.
    Imported personal profiles (musicgraph me import), which never train, get a fold-in vector again.
    """
    from musicgraph.config import get_settings
    from musicgraph.gnn.embed import index_dir, load_embeddings, write_embeddings

    settings = get_settings()
    run = run or settings.models_dir / "gnn" / "sage-s2020"
    emb = load_embeddings(run)
    store, name = _open_store(store_dir, backend)
    try:
        out = None if no_index else index_dir(settings, name)
        report = write_embeddings(store, emb, out_dir=out, labels=labels or None)
        target = repr(store)
        people = _refold_profiles(store, out) if report.index_path is not None else {}
    finally:
        store.close()
    typer.echo(json.dumps({"store": target, "nodes": report.nodes, "skipped": report.skipped, "dim": report.dim,
                           "index": str(report.index_path) if report.index_path else None,
                           "personal_profiles": people}, indent=2))


def _refold_profiles(store: Any, directory: Path) -> dict[str, Any]:
    """Fold-in vectors for the imported personal profiles (they are not trained, so a new index lacks them)."""
    from musicgraph.gnn.derived_index import GnnEmbeddings
    from musicgraph.graph.catalog import ChangeSet
    from musicgraph.graph.profile import list_profiles

    people = list_profiles(store)
    gnn = GnnEmbeddings(directory)
    if not people or "User" not in gnn.load().labels():
        return {}
    changes = ChangeSet()
    changes.note("updated", "User", people)
    return gnn.apply(store, changes)


@gnn_app.command("fold-in")
def fold_in_cmd(
    store_dir: Annotated[Path | None, typer.Option(
        "--store", help="Embedded store directory (default: the configured store).")] = None,
    backend: Annotated[str | None, typer.Option(
        "--backend", help="embedded or neo4j (default: neo4j when MUSICGRAPH_NEO4J_URI is set).")] = None,
    index: Annotated[Path | None, typer.Option(
        "--index-dir", help="Directory of gnn.faiss (default: HOME/indexes/<store>).")] = None,
) -> None:
    """Give every store node of an embedded label that has no GNN vector an inductive (fold-in) one.

    New users, artists and songs added since `musicgraph gnn embed` get the normalized sum of their
    neighbours' vectors (no retraining); the catalog commands do this on every change already.
    """
    from musicgraph.config import get_settings
    from musicgraph.gnn.derived_index import GnnEmbeddings

    settings = get_settings()
    store, name = _open_store(store_dir, backend)
    try:
        gnn = GnnEmbeddings(index or (settings.home / "indexes" / name))
        if not gnn.exists():
            raise typer.BadParameter(f"no GNN index in {gnn.directory} (run: musicgraph gnn embed)", param_hint="--index-dir")
        report = gnn.apply(store, None)
    finally:
        store.close()
    typer.echo(json.dumps(report, indent=2))


@gnn_app.command("eval")
def eval_cmd(
    run: Annotated[list[Path] | None, typer.Option(
        "--run", help="Run directories whose result.json to show (repeatable).")] = None,
    baselines: Annotated[bool, typer.Option("--baselines", help="Also evaluate MostPop and ItemKNN.")] = False,
    source: Annotated[str, typer.Option(help="store or hetrec (for --baselines).")] = "store",
    seed: Annotated[int, typer.Option(help="Split seed (for --baselines).")] = 2020,
) -> None:
    """Show test Recall/NDCG/Hit@10 of training runs (and of the classic baselines)."""
    from musicgraph.config import get_settings

    rows = []
    for r in run or []:
        res = json.loads((Path(r) / "result.json").read_text())
        rows.append((f"{res['model']} (seed {res['seed']})", res["test"]))
    if baselines:
        from musicgraph.gnn.source import open_source
        from musicgraph.gnn.split_baselines import evaluate_baseline
        from musicgraph.gnn.splits import hetrec_split

        with open_source(source, settings=get_settings()) as src:
            split = hetrec_split(src.interactions(), seed=seed)
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
