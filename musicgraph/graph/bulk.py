"""Neo4j bulk load: a store's content written as CSV and loaded by ``neo4j-admin database import full``.

The offline importer of the Maven-built server (``org.neo4j.cli.AdminTool`` from ``neo4j-import-tool``,
in ``MUSICGRAPH_HOME/neo4j/lib`` after ``musicgraph neo4j install``) writes the store files directly,
without transactions: the way to fill an **empty** database. ``musicgraph ingest --store neo4j --bulk``
ingests into an embedded staging store (resumable and idempotent as always), then :func:`bulk_load`:

1. checks that the target database is empty (no node but metadata), then stops the server;
2. writes the staging store's content as CSV (:func:`export_csv`): per label, one node file with a
   typed header (``uid:ID(Song)``, ``year:long``, ``aliases:string[]``, ...); per relationship type
   and endpoint labels, one relationship file (``:START_ID(Song)``, ``:END_ID(Artist)``, typed
   properties); lyrics as ``(:Text {ref, text})`` and metadata (ingest checkpoints, version) as
   ``(:MusicgraphMeta {key, value})``, the same model :class:`~musicgraph.graph.neo4j_store.Neo4jStore`
   writes;
3. runs the importer (``--overwrite-destination``, no bad entry tolerated);
4. starts the server and creates the schema (constraints, range, full-text and vector indexes) with
   :meth:`Neo4jStore.apply_schema`, waiting until every index is online, and checks the counts.

Values CSV cannot carry exactly (an empty list, a NaN, an integer beyond 64 bits, a list element
holding the array delimiter) are left out of the files and written afterwards with parameterized
``SET`` statements, so the content is identical to what the batched ``UNWIND ... MERGE`` path writes
(the parity suite compares both). Later changes go through that incremental path as before.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from musicgraph.graph.schema import LABELS, REL_TYPES
from musicgraph.graph.store import StoreError, chunked

if TYPE_CHECKING:
    from musicgraph.graph.embedded import EmbeddedStore
    from musicgraph.graph.neo4j_server import Neo4jServer

log = logging.getLogger(__name__)

#: separates the elements of list properties in the CSV files (never found in text: U+001F UNIT SEPARATOR)
ARRAY_DELIMITER = "\x1f"
TEXT_LABEL = "Text"
META_LABEL = "MusicgraphMeta"
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1


class BulkLoadError(StoreError):
    """The bulk load cannot run (database not empty, no local server) or the importer failed."""


def csv_type(value: Any) -> str | None:
    """The neo4j-admin column type that carries ``value`` exactly, or None (written by Cypher instead)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "long" if _LONG_MIN <= value <= _LONG_MAX else None
    if isinstance(value, float):
        return "double" if math.isfinite(value) else None
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)) and value:
        kinds = {csv_type(v) for v in value}
        if len(kinds) != 1 or None in kinds:
            return None
        (kind,) = kinds
        if kind.endswith("[]"):
            return None
        if kind == "string" and any(v == "" or ARRAY_DELIMITER in v for v in value):
            return None
        return f"{kind}[]"
    return None


def _cell(value: Any, kind: str) -> str:
    if kind.endswith("[]"):
        return ARRAY_DELIMITER.join(_cell(v, kind[:-2]) for v in value)
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "double":
        return repr(float(value))
    return str(value)


@dataclass(slots=True)
class ImportFiles:
    """The CSV files of one export and what they hold."""

    directory: Path
    nodes: list[tuple[str, Path]] = field(default_factory=list)  # (label, file)
    relationships: list[tuple[str, Path]] = field(default_factory=list)  # (type, file)
    multiline: list[Path] = field(default_factory=list)  # files with a newline inside a value
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # label or type -> rows
    #: values CSV cannot carry: (label, key, prop, value) and (type, src label, src, dst label, dst, prop, value)
    node_fixups: list[tuple[str, str, str, Any]] = field(default_factory=list)
    edge_fixups: list[tuple[str, str, str, str, str, str, Any]] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(p.stat().st_size for _, p in self.nodes + self.relationships)


class _Writer:
    """One CSV file with a typed header; quotes every string (so ``""`` is an empty string, and an
    empty unquoted field is an absent property)."""

    def __init__(self, path: Path, header: list[str]):
        self.path = path
        self.fh = open(path, "w", encoding="utf-8", newline="")
        self.fh.write(",".join(header) + "\n")
        self.multiline = False
        self.rows = 0

    def row(self, cells: Iterable[str | None]) -> None:
        out = []
        for c in cells:
            if c is None:
                out.append("")
            else:
                if "\n" in c or "\r" in c:
                    self.multiline = True
                out.append('"' + c.replace('"', '""') + '"')
        self.fh.write(",".join(out) + "\n")
        self.rows += 1

    def close(self) -> None:
        self.fh.close()


def _columns(props_iter: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Property name -> CSV type, for the properties whose values all have one type."""
    seen: dict[str, set[str | None]] = defaultdict(set)
    for props in props_iter:
        for k, v in props.items():
            if v is not None:
                seen[k].add(csv_type(v))
    return {k: next(iter(t)) for k, t in sorted(seen.items()) if len(t) == 1 and None not in t}


def export_csv(store: EmbeddedStore, directory: Path) -> ImportFiles:
    """Write ``store``'s nodes, relationships, texts and metadata as neo4j-admin CSV into ``directory``."""
    directory = Path(directory)
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    files = ImportFiles(directory)
    for label in LABELS:
        cols = _columns(n.props for n in store.iter_nodes(label))
        w = _Writer(directory / f"nodes-{label}.csv", [f"uid:ID({label})"] + [f"{k}:{t}" for k, t in cols.items()])
        for node in store.iter_nodes(label):
            w.row([node.key] + [_cell(node.props[k], t) if node.props.get(k) is not None else None
                                for k, t in cols.items()])
            for k, v in node.props.items():
                if v is not None and k not in cols:
                    files.node_fixups.append((label, node.key, k, v))
        _finish(files, w, label, files.nodes)
    for rel in REL_TYPES:
        by_ends: dict[tuple[str, str], list[Any]] = defaultdict(list)
        for edge in store.iter_edges(rel):
            by_ends[(edge.src.label, edge.dst.label)].append(edge)
        for (src_label, dst_label), edges in sorted(by_ends.items()):
            cols = _columns(e.props for e in edges)
            w = _Writer(directory / f"rels-{rel}-{src_label}-{dst_label}.csv",
                        [f":START_ID({src_label})", f":END_ID({dst_label})"] + [f"{k}:{t}" for k, t in cols.items()])
            for e in edges:
                w.row([e.src.key, e.dst.key] + [_cell(e.props[k], t) if e.props.get(k) is not None else None
                                                for k, t in cols.items()])
                for k, v in e.props.items():
                    if v is not None and k not in cols:
                        files.edge_fixups.append((rel, src_label, e.src.key, dst_label, e.dst.key, k, v))
            _finish(files, w, rel, files.relationships)
    w = _Writer(directory / "nodes-Text.csv", [f"ref:ID({TEXT_LABEL})", "text:string"])
    for ref, text in store.iter_texts():
        w.row([ref, text])
    _finish(files, w, TEXT_LABEL, files.nodes)
    w = _Writer(directory / "nodes-MusicgraphMeta.csv", [f"key:ID({META_LABEL})", "value:string"])
    for key, value in store.iter_meta():
        w.row([key, value])
    _finish(files, w, META_LABEL, files.nodes)
    log.info("bulk export: %d files, %.1f MB, %d values left for Cypher", len(files.nodes) + len(files.relationships),
             files.bytes / 1e6, len(files.node_fixups) + len(files.edge_fixups))
    return files


def _finish(files: ImportFiles, w: _Writer, name: str, into: list[tuple[str, Path]]) -> None:
    w.close()
    files.counts[name] += w.rows
    if w.rows:
        into.append((name, w.path))
        if w.multiline:
            files.multiline.append(w.path)
    else:
        w.path.unlink()


def import_command(server: Neo4jServer, files: ImportFiles, database: str, threads: int | None = None,
                   max_off_heap: str = "2G", heap: str = "1g") -> list[str]:
    """The ``neo4j-admin database import full`` command line (run with NEO4J_HOME/NEO4J_CONF set)."""
    from musicgraph.graph.neo4j_server import ADMIN_CLASS

    h = server.home
    cmd = [server.java(), f"-Xmx{heap}", "-cp", f"{h}/plugins/*:{h}/conf/*:{h}/lib/*", ADMIN_CLASS,
           "database", "import", "full", database, "--overwrite-destination=true", "--bad-tolerance=0",
           "--skip-duplicate-nodes=false", "--skip-bad-relationships=false", "--normalize-types=true",
           f"--array-delimiter=U+{ord(ARRAY_DELIMITER):04X}", f"--max-off-heap-memory={max_off_heap}",
           f"--threads={threads or os.cpu_count() or 1}", f"--report-file={files.directory / 'import.report'}"]
    if files.multiline:
        cmd += ["--multiline-fields-format=v2", "--multiline-fields=" + ",".join(str(p) for p in files.multiline)]
    cmd += [f"--nodes={label}={path}" for label, path in files.nodes]
    cmd += [f"--relationships={rel}={path}" for rel, path in files.relationships]
    return cmd


@dataclass(slots=True)
class BulkReport:
    """What a bulk load did and how long each step took (seconds)."""

    database: str
    nodes: dict[str, int]
    relationships: dict[str, int]
    csv_bytes: int
    seconds: dict[str, float]
    cypher_values: int

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())

    def to_dict(self) -> dict[str, Any]:
        return {"database": self.database, "nodes": self.nodes, "relationships": self.relationships,
                "csv_bytes": self.csv_bytes, "cypher_values": self.cypher_values,
                "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
                "total_seconds": round(self.total_seconds, 2)}


def _database_empty(server: Neo4jServer, database: str) -> tuple[bool, int]:
    from musicgraph.graph.neo4j_store import Neo4jStore

    store = Neo4jStore.from_settings(server.settings, database=database, apply_schema=False)
    try:
        rows = store._read(f"MATCH (n) WHERE NOT n:{META_LABEL} RETURN count(n) AS c")
        count = int(rows[0]["c"])
    finally:
        store.close()
    return count == 0, count


def bulk_load(
    source: EmbeddedStore,
    server: Neo4jServer | None = None,
    *,
    database: str | None = None,
    keep_csv: bool = False,
    max_off_heap: str = "2G",
    heap: str = "1g",
    start_timeout: float = 300.0,
) -> BulkReport:
    """Load ``source``'s whole content into the local server's empty ``database`` with neo4j-admin.

    Args:
        source: the embedded store to copy (e.g. the staging store of ``ingest --bulk``).
        server: the local server (default: ``MUSICGRAPH_HOME/neo4j``, installed and started if needed).
        database: the database (default ``MUSICGRAPH_NEO4J_DATABASE``).
        keep_csv: keep the CSV files (``MUSICGRAPH_HOME/neo4j/import/bulk-<database>``) afterwards.
        max_off_heap, heap: memory of the importer (its off-heap default, 90 % of RAM, is far too
            much on a shared machine).
        start_timeout: seconds to wait for the server to come back.

    Returns:
        A :class:`BulkReport` (the server is left running).

    Raises:
        BulkLoadError: the database holds data, the server is remote (``MUSICGRAPH_NEO4J_URI``), or
            the importer failed (its last lines and report are in the message). On failure after the
            import started, the database is in an undefined state: rerun the bulk load.
    """
    from musicgraph.graph.neo4j_server import Neo4jServer, Neo4jServerError

    try:
        return _bulk_load(source, server or Neo4jServer(), database, keep_csv, max_off_heap, heap, start_timeout)
    except Neo4jServerError as exc:
        raise BulkLoadError(str(exc)) from exc


def _bulk_load(source: EmbeddedStore, server: Neo4jServer, database: str | None, keep_csv: bool,
               max_off_heap: str, heap: str, start_timeout: float) -> BulkReport:
    from musicgraph.graph.neo4j_server import ensure_running
    from musicgraph.graph.neo4j_store import Neo4jStore

    if server is None:
        server = Neo4jServer()
    settings = server.settings
    if settings.neo4j_uri:
        raise BulkLoadError(
            f"--bulk writes the database files of the local server (MUSICGRAPH_HOME/neo4j); "
            f"MUSICGRAPH_NEO4J_URI={settings.neo4j_uri} names another server: unset it, or load incrementally")
    database = database or settings.neo4j_database
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    ensure_running(settings)
    empty, count = _database_empty(server, database)
    if not empty:
        raise BulkLoadError(
            f"Neo4j database {database!r} holds {count:,} nodes: the bulk load only fills an empty database "
            "(`musicgraph ingest --store neo4j` without --bulk adds to it incrementally)")
    seconds["check"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    files = export_csv(source, server.home / "import" / f"bulk-{database}")
    seconds["export_csv"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    server.stop()
    seconds["stop"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    cmd = import_command(server, files, database, max_off_heap=max_off_heap, heap=heap)
    env = {**os.environ, "NEO4J_HOME": str(server.home), "NEO4J_CONF": str(server.home / "conf")}
    log.info("bulk import: %s", " ".join(cmd[:12]) + " ...")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=server.home)
    seconds["import"] = time.perf_counter() - t0
    if proc.returncode != 0:
        report = files.directory / "import.report"
        detail = report.read_text(errors="replace")[-1500:] if report.is_file() else ""
        out = "\n".join((proc.stdout + proc.stderr).splitlines()[-25:])
        server.start(timeout=start_timeout)
        raise BulkLoadError(f"neo4j-admin database import failed (exit {proc.returncode}):\n{out}\n{detail}")

    t0 = time.perf_counter()
    server.start(timeout=start_timeout)
    seconds["start"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    store = Neo4jStore.from_settings(settings, database=database, apply_schema=True)  # waits for the indexes
    seconds["schema"] = time.perf_counter() - t0
    try:
        t0 = time.perf_counter()
        _write_fixups(store, files)
        seconds["cypher_values"] = time.perf_counter() - t0
        nodes, rels = store.count_nodes(), store.count_edges()
    finally:
        store.close()
    want_nodes = {k: files.counts.get(k, 0) for k in LABELS}
    want_rels = {k: files.counts.get(k, 0) for k in REL_TYPES}
    if nodes != want_nodes or rels != want_rels:
        raise BulkLoadError(f"bulk load counts differ from the source: nodes {nodes} vs {want_nodes}, "
                            f"relationships {rels} vs {want_rels}")
    if not keep_csv:
        shutil.rmtree(files.directory, ignore_errors=True)
    report = BulkReport(database, nodes, rels, files.bytes if keep_csv else 0, seconds,
                        len(files.node_fixups) + len(files.edge_fixups))
    log.info("bulk load into %s: %d nodes, %d relationships in %.1f s", database, sum(nodes.values()),
             sum(rels.values()), report.total_seconds)
    return report


def _write_fixups(store: Any, files: ImportFiles) -> None:
    """Write the values CSV could not carry, parameterized (names checked by the store's rules)."""
    from musicgraph.graph.store import check_prop_names

    by_node: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for label, key, prop, value in files.node_fixups:
        check_prop_names({prop: value})
        by_node[(label, prop)].append({"key": key, "value": value})
    for (label, prop), rows in by_node.items():
        cypher = f"UNWIND $rows AS row MATCH (n:`{label}` {{uid: row.key}}) SET n.`{prop}` = row.value"
        for chunk in chunked(rows, 5000):
            store._write(lambda tx, c=chunk, q=cypher: tx.run(q, {"rows": c}).consume())
    by_edge: dict[tuple[str, str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for rel, sl, src, dl, dst, prop, value in files.edge_fixups:
        check_prop_names({prop: value})
        by_edge[(rel, sl, dl, prop)].append({"src": src, "dst": dst, "value": value})
    for (rel, sl, dl, prop), rows in by_edge.items():
        cypher = (f"UNWIND $rows AS row MATCH (a:`{sl}` {{uid: row.src}})-[r:`{rel}`]->(b:`{dl}` {{uid: row.dst}}) "
                  f"SET r.`{prop}` = row.value")
        for chunk in chunked(rows, 5000):
            store._write(lambda tx, c=chunk, q=cypher: tx.run(q, {"rows": c}).consume())


def staging_store_path(home: Path) -> Path:
    """Where ``ingest --bulk`` keeps its embedded staging store."""
    return Path(home) / "bulk" / "staging"


__all__ = ["ARRAY_DELIMITER", "BulkLoadError", "BulkReport", "ImportFiles", "bulk_load", "csv_type",
           "export_csv", "import_command", "staging_store_path"]
