"""``musicgraph index ...``: build and inspect the hybrid-retrieval indexes.

Free-text requests are answered by ``musicgraph recommend --query TEXT`` (in :mod:`musicgraph.cli.core`),
which calls :func:`musicgraph.retrieval.retriever.retrieve`; :func:`print_results` is shared with it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, get_args

import typer

index_app = typer.Typer(help="Build and inspect the hybrid-retrieval indexes (BM25, FAISS, emotion).",
                        no_args_is_help=True)


@index_app.command("build")
def build(
    out: Annotated[Path | None, typer.Option(
        "--out", help="Index directory (default MUSICGRAPH_HOME/indexes/<store>).")] = None,
    dense: Annotated[bool, typer.Option("--dense/--no-dense", help="Encode songs with MiniLM and build FAISS.")] = True,
    dense_kind: Annotated[str, typer.Option("--dense-kind", help="FAISS index: auto, flat, hnsw or ivfpq.")] = "auto",
    write_emotions: Annotated[bool, typer.Option(
        "--write-emotions", help="Also store emotion summaries on Song nodes.")] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Encoder batch size.")] = 64,
    dense_precision: Annotated[str | None, typer.Option(
        "--dense-precision", help="Encode documents in fp32, int8-block or int8 (ONNX Runtime), or with "
        "the sentence-transformers pipeline (default: MUSICGRAPH_DENSE_PRECISION, fp32).")] = None,
) -> None:
    """Build every retrieval index of the configured store, with progress bars."""
    from musicgraph.graph import open_store
    from musicgraph.retrieval.index import build_indexes, default_index_dir

    if dense_kind not in ("auto", "flat", "hnsw", "ivfpq"):
        raise typer.BadParameter(f"--dense-kind must be auto, flat, hnsw or ivfpq, got {dense_kind!r}")
    encoder = None
    if dense_precision is not None:
        from musicgraph.config import DensePrecision

        choices = get_args(DensePrecision)
        if dense_precision not in choices:
            raise typer.BadParameter(f"--dense-precision must be {', '.join(choices[:-1])} or {choices[-1]}, "
                                     f"got {dense_precision!r}")
        from musicgraph.retrieval.encoder import Encoder

        encoder = Encoder()
        encoder.doc_precision = dense_precision
    store = open_store()
    if store.is_empty():
        typer.echo("the store is empty: run `musicgraph ingest` first", err=True)
        raise typer.Exit(1)
    from musicgraph.graph.locks import store_write_lock

    directory = out or default_index_dir()
    with store_write_lock(store):  # not while a catalog command updates these indexes
        bundle = build_indexes(store, directory, dense=dense, dense_kind=dense_kind, batch_size=batch_size,
                               write_emotions=write_emotions, encoder=encoder)
    typer.echo(json.dumps({"directory": str(directory), **bundle.manifest}, indent=2))


@index_app.command("info")
def info(path: Annotated[Path | None, typer.Option("--path", help="Index directory.")] = None) -> None:
    """Show the manifest of the built indexes."""
    from musicgraph.retrieval.index import default_index_dir

    directory = path or default_index_dir()
    manifest = directory / "manifest.json"
    if not manifest.is_file():
        typer.echo(f"no index in {directory}: run `musicgraph index build`", err=True)
        raise typer.Exit(1)
    typer.echo(manifest.read_text(encoding="utf-8"))


def print_results(results: list[Any], as_json: bool = False, explain: bool = False, parsed: Any = None) -> None:
    """Print retrieval results as JSON (the public ``--json`` contract) or a readable table."""
    if as_json:
        out: Any = [r.to_dict() for r in results]
        if explain and parsed is not None:
            out = {"query": parsed.to_dict(), "results": out}
        typer.echo(json.dumps(out, indent=2, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    from musicgraph.cli.terminal import safe

    console = Console()
    if explain and parsed is not None:
        from musicgraph.retrieval.retriever import describe

        console.print(f"[bold]parsed request:[/bold] {safe(describe(parsed))}")
    table = Table(show_lines=False)
    for col in ("#", "song", "score", "components", "why"):
        table.add_column(col)
    for r in results:
        comps = " ".join(f"{k}:{v:.3g}" for k, v in r.scores.items() if k != "fused")
        why = [safe(p.sentence()) for p in r.paths[:1]]
        why += [safe(f"{k}: {', '.join(v[:4])}") for k, v in r.evidence.items() if k not in ("explain",)]
        table.add_row(str(r.rank), safe(r.display()), f"{r.score:.3f}", safe(comps), "\n".join(why))
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``musicgraph index`` to the main app."""
    app.add_typer(index_app, name="index")
