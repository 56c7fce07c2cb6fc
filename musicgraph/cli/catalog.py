"""``musicgraph catalog add|update|delete`` and ``musicgraph check [--repair]``.

Catalog edits go to the graph store, then to every derived index found for it (the retrieval
bundle in ``MUSICGRAPH_HOME/indexes/<store name>``, and the GNN embedding index ``gnn.faiss`` there
when ``musicgraph gnn embed`` wrote one: new nodes get inductive fold-in vectors), incrementally. ``check`` compares the store
with those indexes and, with ``--repair``, rebuilds only the parts that are wrong.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from musicgraph.cli.core import JsonOpt, StoreOpt, console, err_console, handle_errors, open_cli_store
from musicgraph.cli.terminal import print_error, safe

catalog_app = typer.Typer(help="Add, update or delete songs, artists, tags and listening data (incrementally indexed).",
                          no_args_is_help=True)


def derived_indexes(index_dir: Path | None = None, dense_encoder: Any = None) -> list[Any]:
    """The derived indexes of the configured store (those that exist on disk)."""
    from musicgraph.retrieval.incremental import RetrievalIndexes
    from musicgraph.retrieval.index import default_index_dir

    d = index_dir or default_index_dir()
    out: list[Any] = [RetrievalIndexes(d, encoder=dense_encoder)]
    # GNN embeddings (gnn.faiss from `musicgraph gnn embed`): new nodes get fold-in vectors; needs no torch
    from musicgraph.gnn.derived_index import GnnEmbeddings

    gnn = GnnEmbeddings(d)
    if gnn.exists():
        out.append(gnn)
    return out


def _edit(op: str, file: Path | None, keys: list[str] | None, store: str | None, index_dir: Path | None,
          no_index: bool, as_json: bool) -> None:
    from musicgraph.graph.catalog import CatalogEditor, CatalogError, read_changes

    @handle_errors
    def run() -> None:
        try:
            # the whole file is read and validated before the store is opened for writing
            records: list[dict[str, Any]] = read_changes(file) if file is not None else []
            records += [{"type": "song", "key": k} for k in keys or []]
            if not records:
                raise CatalogError(f"catalog {op}: give a .jsonl/.csv FILE or --key")
            with open_cli_store(store) as st:
                indexes = [] if no_index else [i for i in derived_indexes(index_dir) if i.exists()]
                cs = CatalogEditor(st, indexes).apply_records(op, records)
        except CatalogError as exc:
            print_error(err_console, exc)
            raise typer.Exit(2) from None
        out = cs.to_dict()
        if as_json:
            print(json.dumps(out, indent=2, default=str))
            return
        console.print(f"[bold]catalog {op}[/]: added {out['added']}, updated {out['updated']}, "
                      f"deleted {out['deleted']}, relationships +{out['edges_written']} -{out['edges_deleted']}")
        for name, rep in out.get("indexes", {}).items():
            console.print(f"  {safe(name)}: {safe(rep)}")

    run()


FileArg = Annotated[Path | None, typer.Argument(help="A .jsonl or .csv file of changes (see docs/catalog.md).")]
IndexOpt = Annotated[Path | None, typer.Option("--index-dir", help="Retrieval index directory.")]
NoIndexOpt = Annotated[bool, typer.Option("--no-index", help="Change the store only (then run `musicgraph check --repair`).")]


@catalog_app.command("add")
def add_cmd(file: FileArg = None, store: StoreOpt = None, index_dir: IndexOpt = None, no_index: NoIndexOpt = False,
            as_json: JsonOpt = False) -> None:
    """Add songs, artists, tags or listening data from a file; indexes are updated incrementally."""
    _edit("add", file, None, store, index_dir, no_index, as_json)


@catalog_app.command("update")
def update_cmd(file: FileArg = None, store: StoreOpt = None, index_dir: IndexOpt = None, no_index: NoIndexOpt = False,
               as_json: JsonOpt = False) -> None:
    """Update existing songs (fields given overwrite; genres/moods/tags given replace the old ones)."""
    _edit("update", file, None, store, index_dir, no_index, as_json)


@catalog_app.command("delete")
def delete_cmd(file: FileArg = None,
               key: Annotated[list[str] | None, typer.Option("--key", help="Song key to delete (repeatable).")] = None,
               store: StoreOpt = None, index_dir: IndexOpt = None, no_index: NoIndexOpt = False,
               as_json: JsonOpt = False) -> None:
    """Delete songs (and what only they used), artists, tags or listening data; gone from every index."""
    _edit("delete", file, key, store, index_dir, no_index, as_json)


def check_cmd(
    repair: Annotated[bool, typer.Option("--repair", help="Rebuild only what is wrong.")] = False,
    store: StoreOpt = None,
    index_dir: IndexOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Compare the graph store with every derived index (counts, ids, stale/orphan entries, dimensions)."""
    from musicgraph.graph.check import run_check
    from musicgraph.graph.locks import store_write_lock

    @handle_errors
    def run() -> int:
        with open_cli_store(store) as st:
            if repair:  # repairs write the indexes: not while a catalog command updates them
                with store_write_lock(st):
                    rep = run_check(st, derived_indexes(index_dir), repair=True)
            else:
                rep = run_check(st, derived_indexes(index_dir), repair=False)
        if as_json:
            print(json.dumps(rep.to_dict(), indent=2, default=str))
        else:
            console.print("checked: " + ", ".join(safe(c) for c in rep.checked))
            if rep.issues:
                t = Table(title="issues", title_justify="left")
                for col in ("component", "kind", "message", "repair"):
                    t.add_column(col)
                for i in rep.issues:
                    t.add_row(safe(i.component), safe(i.kind), safe(i.message), safe(i.repair or "-"))
                console.print(t)
            for name, done in rep.repaired.items():
                for line in done:
                    console.print(f"[green]repaired[/] {safe(name)}: {safe(line)}")
            if rep.repaired:
                console.print("[green]all consistent after repair[/]" if not rep.remaining
                              else f"[red]{len(rep.remaining)} issue(s) remain[/]")
            elif not rep.issues:
                console.print("[green]store and indexes are consistent[/]")
        return 0 if rep.ok else 1

    code = run()
    if code:
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add ``catalog`` (add/update/delete) and ``check`` to the main app."""
    app.add_typer(catalog_app, name="catalog")
    app.command("check")(check_cmd)
