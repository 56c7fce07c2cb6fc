"""The embedded default store: SQLite (WAL) as the record, a cached CSR projection for traversal.

Layout of the store directory::

    graph.sqlite       nodes, edges, texts, meta (transactional, WAL mode)
    projection.bin     cached :class:`~musicgraph.graph.projection.Projection` (memory-mapped), rebuilt when stale

Every write batch is one transaction and bumps the store version, so a process killed mid-ingest
leaves whole batches only, and derived caches notice any change. :meth:`EmbeddedStore.transaction`
groups several writes into one transaction (nested blocks are savepoints), so a whole catalog file
commits at once or not at all.

Concurrency: writes go through one connection guarded by a lock (and SQLite's own write lock across
processes, waited for up to ``busy_timeout`` seconds); reads use one connection per thread, so readers
run in parallel with each other and with a writer (WAL), each seeing committed data only. A thread
that holds an open :meth:`~EmbeddedStore.transaction` reads through the writer connection and sees its
own uncommitted writes.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from musicgraph.graph.projection import PROJECTION_CACHE, Projection, ProjectionTables, build_projection
from musicgraph.graph.schema import LABELS, REL_TYPES, NodeRef, check_label, check_rel
from musicgraph.graph.store import (
    VECTOR_PROPERTY,
    Direction,
    Edge,
    GraphStore,
    MissingNodeError,
    Node,
    StoreError,
    check_prop_names,
    chunked,
    merge_props,
)

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS nodes (
    id INTEGER PRIMARY KEY,
    label TEXT NOT NULL,
    key TEXT NOT NULL,
    props TEXT NOT NULL,
    UNIQUE (label, key)
);
CREATE TABLE IF NOT EXISTS edges (
    type TEXT NOT NULL,
    src INTEGER NOT NULL REFERENCES nodes(id),
    dst INTEGER NOT NULL REFERENCES nodes(id),
    props TEXT NOT NULL,
    PRIMARY KEY (type, src, dst)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS edges_by_src ON edges (src, type);
CREATE INDEX IF NOT EXISTS edges_by_dst ON edges (dst, type);
CREATE TABLE IF NOT EXISTS texts (ref TEXT PRIMARY KEY, text TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_CHUNK = 900  # stays under SQLite's default limit of bound parameters per statement


def _dumps(props: Mapping[str, Any]) -> str:
    return json.dumps(props, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


class StoreLockedError(StoreError):
    """Another process kept the store's SQLite write lock longer than the busy timeout."""


class _Reader:
    """A thread's read-only connection; closed when the thread's local storage goes away."""

    def __init__(self, path: Path, timeout: float):
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=timeout)
        self.conn.execute("PRAGMA query_only=ON")
        self.thread = threading.current_thread()

    def close(self) -> None:
        try:
            self.conn.close()
        except sqlite3.ProgrammingError:
            pass

    def __del__(self) -> None:
        self.close()


class EmbeddedStore(GraphStore):
    """In-process graph store persisted to ``path`` (a directory).

    Args:
        path: store directory (created if missing).
        batch_size: rows per write transaction.
        busy_timeout: seconds a write waits for another process's write lock before
            :class:`StoreLockedError`.
    """

    backend = "embedded"

    def __init__(self, path: str | Path, batch_size: int = 5000, busy_timeout: float = 30.0):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.batch_size = batch_size
        self.busy_timeout = busy_timeout
        self._lock = threading.RLock()  # the writer connection
        self._db = sqlite3.connect(self.path / "graph.sqlite", check_same_thread=False, isolation_level=None,
                                   timeout=busy_timeout)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        with self._lock:
            self._db.executescript(_SCHEMA)
        self._tx_owner: int | None = None  # thread holding the open transaction
        self._tx_depth = 0
        self._local = threading.local()
        self._readers: weakref.WeakSet[_Reader] = weakref.WeakSet()
        self._readers_lock = threading.Lock()
        self._projection: Projection | None = None
        self._projection_lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"EmbeddedStore({str(self.path)!r})"

    # ------------------------------------------------------------- internals
    def _tx(self) -> _Transaction:
        return _Transaction(self)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Every write of the block in one SQLite transaction: all committed at the end, or none.

        Nested blocks are savepoints (an exception inside rolls back that block only, if caught). The
        store version is bumped once, at the commit. Reads of the same thread inside the block see its
        writes; other threads and processes see the state before the block until it commits.
        """
        with self._tx():
            yield

    def _reader(self) -> sqlite3.Connection:
        """The connection for a read: the writer's inside this thread's transaction, else the thread's own."""
        if self._tx_owner == threading.get_ident():
            return self._db
        if self._closed:
            raise StoreError(f"{self!r} is closed")
        reader = getattr(self._local, "reader", None)
        if reader is None:
            reader = _Reader(self.path / "graph.sqlite", self.busy_timeout)
            self._local.reader = reader
            with self._readers_lock:
                self._readers.add(reader)
        return reader.conn

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A connection with a consistent snapshot for several statements (a read transaction)."""
        db = self._reader()
        if db is self._db or db.in_transaction:
            yield db
            return
        db.execute("BEGIN")
        try:
            yield db
        finally:
            db.execute("COMMIT")

    def _bump_version(self) -> None:
        self._db.execute(
            "INSERT INTO meta(key, value) VALUES('version', '1') "
            "ON CONFLICT(key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)"
        )

    def _ids(self, label: str, keys: list[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for chunk in chunked(dict.fromkeys(keys), _CHUNK):
            q = f"SELECT key, id FROM nodes WHERE label = ? AND key IN ({','.join('?' * len(chunk))})"
            out.update(self._db.execute(q, [label, *chunk]).fetchall())
        return out

    # ---------------------------------------------------------------- writes
    def upsert_nodes(self, label: str, rows: Iterable[tuple[str, Mapping[str, Any]]]) -> int:
        check_label(label)
        written = 0
        for batch in chunked(rows, self.batch_size):
            pending: dict[str, dict[str, Any]] = {}
            order: list[str] = []
            for key, props in batch:
                if not isinstance(key, str) or not key:
                    raise ValueError(f"{label}: node key must be a non-empty string, got {key!r}")
                check_prop_names(props)
                if key not in pending:
                    order.append(key)
                pending[key] = merge_props(pending.get(key), props)
            with self._tx():
                existing: dict[str, dict[str, Any]] = {}
                for chunk in chunked(order, _CHUNK):
                    q = f"SELECT key, props FROM nodes WHERE label = ? AND key IN ({','.join('?' * len(chunk))})"
                    for key, props in self._db.execute(q, [label, *chunk]):
                        existing[key] = json.loads(props)
                self._db.executemany(
                    "INSERT INTO nodes(label, key, props) VALUES (?, ?, ?) "
                    "ON CONFLICT(label, key) DO UPDATE SET props = excluded.props",
                    [(label, key, _dumps(merge_props(existing.get(key), pending[key]))) for key in order],
                )
            written += len(batch)
        return written

    def upsert_edges(
        self,
        rel_type: str,
        src_label: str,
        dst_label: str,
        rows: Iterable[tuple[str, str, Mapping[str, Any]]],
    ) -> int:
        check_rel(rel_type, src_label, dst_label)
        written = 0
        for batch in chunked(rows, self.batch_size):
            with self._tx():
                src_ids = self._ids(src_label, [r[0] for r in batch])
                dst_ids = self._ids(dst_label, [r[1] for r in batch])
                missing = [NodeRef(src_label, r[0]) for r in batch if r[0] not in src_ids]
                missing += [NodeRef(dst_label, r[1]) for r in batch if r[1] not in dst_ids]
                if missing:
                    raise MissingNodeError(rel_type, list(dict.fromkeys(missing)))
                pending: dict[tuple[int, int], dict[str, Any]] = {}
                for src, dst, props in batch:
                    check_prop_names(props)
                    pair = (src_ids[src], dst_ids[dst])
                    pending[pair] = merge_props(pending.get(pair), props)
                existing: dict[tuple[int, int], dict[str, Any]] = {}
                for chunk in chunked(sorted({s for s, _ in pending}), _CHUNK):
                    q = f"SELECT src, dst, props FROM edges WHERE type = ? AND src IN ({','.join('?' * len(chunk))})"
                    for s, d, props in self._db.execute(q, [rel_type, *chunk]):
                        if (s, d) in pending:
                            existing[(s, d)] = json.loads(props)
                self._db.executemany(
                    "INSERT INTO edges(type, src, dst, props) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(type, src, dst) DO UPDATE SET props = excluded.props",
                    [(rel_type, s, d, _dumps(merge_props(existing.get((s, d)), p))) for (s, d), p in pending.items()],
                )
            written += len(batch)
        return written

    def delete_nodes(self, label: str, keys: Iterable[str]) -> int:
        check_label(label)
        deleted = 0
        for batch in chunked(keys, self.batch_size):
            with self._tx():
                ids = list(self._ids(label, batch).values())
                for chunk in chunked(ids, _CHUNK):
                    marks = ",".join("?" * len(chunk))
                    self._db.execute(f"DELETE FROM edges WHERE src IN ({marks})", chunk)
                    self._db.execute(f"DELETE FROM edges WHERE dst IN ({marks})", chunk)
                    deleted += self._db.execute(f"DELETE FROM nodes WHERE id IN ({marks})", chunk).rowcount
        return deleted

    def delete_edges(
        self, rel_type: str, src_label: str, dst_label: str, pairs: Iterable[tuple[str, str]]
    ) -> int:
        check_rel(rel_type, src_label, dst_label)
        deleted = 0
        for batch in chunked(pairs, self.batch_size):
            with self._tx():
                src_ids = self._ids(src_label, [p[0] for p in batch])
                dst_ids = self._ids(dst_label, [p[1] for p in batch])
                rows = [
                    (rel_type, src_ids[s], dst_ids[d]) for s, d in batch if s in src_ids and d in dst_ids
                ]
                for row in rows:
                    deleted += self._db.execute(
                        "DELETE FROM edges WHERE type = ? AND src = ? AND dst = ?", row
                    ).rowcount
        return deleted

    def set_vectors(self, label: str, vectors: Mapping[str, Sequence[float]]) -> int:
        check_label(label)
        items = [(k, [float(x) for x in v]) for k, v in vectors.items()]
        if len({len(v) for _, v in items}) > 1:
            raise ValueError(f"{label}: vectors of different lengths in one call")
        path = f"$.{VECTOR_PROPERTY}"
        updated = 0
        for batch in chunked(items, self.batch_size):
            with self._tx():
                for key, vec in batch:
                    updated += self._db.execute(
                        "UPDATE nodes SET props = json_set(props, ?, json(?)) WHERE label = ? AND key = ?",
                        (path, json.dumps(vec), label, key),
                    ).rowcount
        return updated

    def get_vectors(self, label: str, keys: Iterable[str]) -> dict[str, list[float]]:
        out = {}
        for key, node in self.get_nodes(label, keys).items():
            v = node.props.get(VECTOR_PROPERTY)
            if isinstance(v, list):
                out[key] = [float(x) for x in v]
        return out

    def clear_vectors(self, label: str, keys: Iterable[str] | None = None) -> int:
        check_label(label)
        path = f"$.{VECTOR_PROPERTY}"
        if keys is None:
            with self._tx():
                return self._db.execute(
                    "UPDATE nodes SET props = json_remove(props, ?) WHERE label = ? AND json_type(props, ?) IS NOT NULL",
                    (path, label, path),
                ).rowcount
        cleared = 0
        for batch in chunked(dict.fromkeys(keys), _CHUNK):
            with self._tx():
                cleared += self._db.execute(
                    f"UPDATE nodes SET props = json_remove(props, ?) WHERE label = ? AND key IN ({','.join('?' * len(batch))}) "
                    "AND json_type(props, ?) IS NOT NULL",
                    [path, label, *batch, path],
                ).rowcount
        return cleared

    def put_texts(self, texts: Mapping[str, str]) -> None:
        items = list(texts.items())
        for batch in chunked(items, self.batch_size):
            with self._tx():
                self._db.executemany(
                    "INSERT INTO texts(ref, text) VALUES (?, ?) ON CONFLICT(ref) DO UPDATE SET text = excluded.text",
                    batch,
                )

    def get_texts(self, refs: Iterable[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        with self._read() as db:
            for chunk in chunked(dict.fromkeys(refs), _CHUNK):
                q = f"SELECT ref, text FROM texts WHERE ref IN ({','.join('?' * len(chunk))})"
                out.update(db.execute(q, chunk).fetchall())
        return out

    def iter_texts(self) -> Iterator[tuple[str, str]]:
        """Every stored text as ``(ref, text)``, in ref order."""
        with self._lock:
            rows = self._db.execute("SELECT ref, text FROM texts ORDER BY ref").fetchall()
        yield from rows

    def iter_meta(self) -> Iterator[tuple[str, str]]:
        """Every metadata entry as ``(key, value)`` (checkpoints, version), in key order."""
        with self._lock:
            rows = self._db.execute("SELECT key, value FROM meta ORDER BY key").fetchall()
        yield from rows

    def get_meta(self, key: str) -> str | None:
        row = self._reader().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._tx():
            self._db.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def delete_meta(self, prefix: str) -> None:
        """Delete metadata keys starting with ``prefix``."""
        with self._tx():
            self._db.execute("DELETE FROM meta WHERE key >= ? AND key < ?", (prefix, prefix + "\uffff"))

    # ----------------------------------------------------------------- reads
    def get_nodes(self, label: str, keys: Iterable[str]) -> dict[str, Node]:
        check_label(label)
        out: dict[str, Node] = {}
        with self._read() as db:
            for chunk in chunked(dict.fromkeys(keys), _CHUNK):
                q = f"SELECT key, props FROM nodes WHERE label = ? AND key IN ({','.join('?' * len(chunk))})"
                for key, props in db.execute(q, [label, *chunk]):
                    out[key] = Node(label, key, json.loads(props))
        return out

    def iter_nodes(self, label: str) -> Iterator[Node]:
        check_label(label)
        rows = self._reader().execute(
            "SELECT key, props FROM nodes WHERE label = ? ORDER BY key", (label,)
        ).fetchall()
        for key, props in rows:
            yield Node(label, key, json.loads(props))

    def iter_edges(self, rel_type: str) -> Iterator[Edge]:
        check_rel(rel_type)
        rows = self._reader().execute(
            "SELECT s.label, s.key, d.label, d.key, e.props FROM edges e "
            "JOIN nodes s ON s.id = e.src JOIN nodes d ON d.id = e.dst "
            "WHERE e.type = ? ORDER BY s.label, s.key, d.label, d.key",
            (rel_type,),
        ).fetchall()
        for sl, sk, dl, dk, props in rows:
            yield Edge(rel_type, NodeRef(sl, sk), NodeRef(dl, dk), json.loads(props))

    def neighbors(
        self,
        label: str,
        key: str,
        rel_type: str | None = None,
        direction: Direction = "both",
        limit: int | None = None,
    ) -> list[tuple[Edge, Node]]:
        check_label(label)
        if rel_type is not None:
            check_rel(rel_type)
        with self._read() as db:
            row = db.execute("SELECT id FROM nodes WHERE label = ? AND key = ?", (label, key)).fetchone()
            if row is None:
                return []
            node_id = row[0]
            me = NodeRef(label, key)
            out: list[tuple[Edge, Node]] = []
            type_cond = "" if rel_type is None else " AND e.type = ?"
            type_param = [] if rel_type is None else [rel_type]
            if direction in ("out", "both"):
                for t, ol, ok, ep, op in db.execute(
                    "SELECT e.type, o.label, o.key, e.props, o.props FROM edges e JOIN nodes o ON o.id = e.dst "
                    f"WHERE e.src = ?{type_cond} ORDER BY e.type, o.label, o.key",
                    [node_id, *type_param],
                ):
                    out.append((Edge(t, me, NodeRef(ol, ok), json.loads(ep)), Node(ol, ok, json.loads(op))))
            if direction in ("in", "both"):
                for t, ol, ok, ep, op in db.execute(
                    "SELECT e.type, o.label, o.key, e.props, o.props FROM edges e JOIN nodes o ON o.id = e.src "
                    f"WHERE e.dst = ?{type_cond} ORDER BY e.type, o.label, o.key",
                    [node_id, *type_param],
                ):
                    out.append((Edge(t, NodeRef(ol, ok), me, json.loads(ep)), Node(ol, ok, json.loads(op))))
        return out[:limit] if limit is not None else out

    def count_nodes(self) -> dict[str, int]:
        counts = dict.fromkeys(LABELS, 0)
        counts.update(self._reader().execute("SELECT label, COUNT(*) FROM nodes GROUP BY label").fetchall())
        return counts

    def count_edges(self) -> dict[str, int]:
        counts = dict.fromkeys(REL_TYPES, 0)
        counts.update(self._reader().execute("SELECT type, COUNT(*) FROM edges GROUP BY type").fetchall())
        return counts

    def version(self) -> str:
        return self.get_meta("version") or "0"

    def projection(self) -> Projection:
        """The CSR projection, from memory or ``projection.bin`` when current, else rebuilt and cached."""
        version = self.version()
        proj = self._projection
        if proj is not None and proj.version == version:
            return proj
        with self._projection_lock:  # one thread builds, the others wait for it
            with self._read():  # one snapshot for the version and every row the build reads
                version = self.version()
                if self._projection is not None and self._projection.version == version:
                    return self._projection
                cache = self.path / PROJECTION_CACHE
                if cache.exists():
                    try:
                        proj = Projection.load(cache)
                        if proj.version == version:
                            self._projection = proj
                            return proj
                    except Exception as exc:  # noqa: BLE001 - a damaged cache is rebuilt, whatever the damage
                        log.warning("ignoring unreadable projection cache %s (rebuilt): %s", cache, exc)
                proj = build_projection(self)
            proj.save(cache)
            (self.path / "projection.npz").unlink(missing_ok=True)  # the cache of format 1 (fixed-width keys)
            self._projection = proj
            return proj

    def projection_tables(self) -> ProjectionTables | None:
        """Node keys and names per label and edge arrays per type, for :func:`build_projection`.

        Read in one read transaction with integer node ids (no per-row JSON decoding in Python):
        the same tables the generic node-by-node reading gives, much faster on large stores.
        Falls back to that reading when SQLite cannot parse a row's JSON (``NaN`` written by an older
        version).
        """
        try:
            with self._read() as db:  # one snapshot for the version, the nodes and the edges
                return self._projection_tables(db)
        except sqlite3.OperationalError as exc:
            if "JSON" not in str(exc).upper():
                raise
            log.info("projection: reading node by node (%s)", exc)
            return None

    def _projection_tables(self, db: sqlite3.Connection) -> ProjectionTables:
        version = self.version()
        (max_id,) = db.execute("SELECT coalesce(max(id), 0) FROM nodes").fetchone()
        where = np.full(int(max_id) + 1, -1, dtype=np.int64)
        nodes: dict[str, tuple[list[str], list[str]]] = {}
        at = 0
        for label in LABELS:
            rows = db.execute(
                "SELECT id, key, json_extract(props, '$.title'), json_extract(props, '$.name') "
                "FROM nodes WHERE label = ? ORDER BY key", (label,)).fetchall()
            rows.sort(key=lambda r: r[1])  # Python's order (already sorted: timsort checks it in one pass)
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            where[ids] = np.arange(at, at + len(rows))
            nodes[label] = ([r[1] for r in rows], [str(r[2] or r[3] or r[1]) for r in rows])
            at += len(rows)
        edges: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        weight = ("CASE json_type(props, '$.weight') WHEN 'integer' THEN json_extract(props, '$.weight') "
                  "WHEN 'real' THEN json_extract(props, '$.weight') WHEN 'true' THEN 1.0 WHEN 'false' THEN 0.0 "
                  "ELSE 1.0 END")
        for rel in REL_TYPES:
            cur = db.execute(f"SELECT src, dst, {weight} FROM edges WHERE type = ?", (rel,))
            parts: list[np.ndarray] = []
            while chunk := cur.fetchmany(1 << 20):
                parts.append(np.array(chunk, dtype=np.float64).reshape(-1, 3))
            block = np.concatenate(parts) if parts else np.empty((0, 3))
            src, dst = block[:, 0].astype(np.int64), block[:, 1].astype(np.int64)
            edges[rel] = (where[src], where[dst], block[:, 2].copy())
        return nodes, edges, version

    def close(self) -> None:
        """Close the store: later calls raise :class:`StoreError`.

        The read connections of this thread and of finished threads are closed now. A live thread's
        connection may be in the middle of a statement (closing it under the statement crashes SQLite),
        so it is closed when that thread's local storage goes away; the thread gets no new reads.
        """
        self._closed = True
        me = threading.current_thread()
        with self._readers_lock:
            readers = list(self._readers)
        for reader in readers:
            if reader.thread is me or not reader.thread.is_alive():
                reader.close()
        with self._lock:
            self._db.close()


class _Transaction:
    """``with store._tx():`` one SQLite transaction that bumps the store version on commit.

    Inside an open transaction of the same thread it is a savepoint. The writer lock is released on
    every path out, including a ``BEGIN`` that fails because another process holds SQLite's write lock.
    """

    def __init__(self, store: EmbeddedStore):
        self.store = store

    def __enter__(self) -> None:
        st = self.store
        st._lock.acquire()
        try:
            if st._closed:
                raise StoreError(f"{st!r} is closed")
            if st._tx_depth == 0:
                st._db.execute("BEGIN IMMEDIATE")
                st._tx_owner = threading.get_ident()
            else:
                st._db.execute(f"SAVEPOINT sp{st._tx_depth}")
        except sqlite3.OperationalError as exc:
            st._lock.release()
            if "locked" in str(exc) or "busy" in str(exc):
                raise StoreLockedError(
                    f"{st!r} is locked by another writer (waited {st.busy_timeout:g} s): {exc}; "
                    "try again when the other `musicgraph` command has finished") from exc
            raise
        except BaseException:
            st._lock.release()
            raise
        st._tx_depth += 1

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        st = self.store
        try:
            st._tx_depth -= 1
            depth = st._tx_depth
            if depth > 0:
                if exc_type is None:
                    st._db.execute(f"RELEASE sp{depth}")
                else:
                    st._db.execute(f"ROLLBACK TO sp{depth}")
                    st._db.execute(f"RELEASE sp{depth}")
                return
            st._tx_owner = None
            if exc_type is None:
                try:
                    st._bump_version()
                    st._db.execute("COMMIT")
                except BaseException:
                    if st._db.in_transaction:
                        st._db.execute("ROLLBACK")
                    raise
            else:
                st._db.execute("ROLLBACK")
        finally:
            st._lock.release()
