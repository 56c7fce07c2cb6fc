"""Neo4j as the graph of record: the :class:`~musicgraph.graph.store.GraphStore` interface over Bolt.

Graph model in Neo4j:

* every node has exactly one schema label (``:Song``, ``:Artist``, ...) and its musicgraph key in the
  property ``uid`` (unique per label, see ``musicgraph/cypher/schema.cypher``; not ``key``, which
  songs use for their musical key); the other properties are stored natively, lists as Neo4j lists;
* relationships are the schema's types, one per (type, source, target), properties native;
* long texts (lyrics) are ``(:Text {ref, text})`` nodes, stored once and referenced from
  ``Song.lyrics_ref`` (a property join, ``MATCH (t:Text {ref: s.lyrics_ref})``, rather than a
  relationship, so relationship counts stay those of the schema); the ``lyrics_text`` full-text
  index is on ``Text.text``;
* ``(:MusicgraphMeta {key, value})`` nodes hold ingest checkpoints and the store version, which every
  write transaction increments;
* node embeddings for the vector indexes live in the property ``embedding`` (written by
  :meth:`Neo4jStore.set_vectors` / :meth:`Neo4jStore.set_embeddings`, not returned with the other
  properties). Each label's vector index is ``<label>_embedding`` (``song_embedding``,
  ``artist_embedding``, ``user_embedding``); ``set_vectors`` (re)creates it with the dimension of the
  vectors written (GNN runs have 64 or 128, the schema default is ``MUSICGRAPH_EMBEDDING_DIM``) and
  records that dimension in the meta node ``vector_dim:<index>``.

Writes are batched ``UNWIND $rows AS row MERGE ...`` statements, one managed write transaction per
batch of ``batch_size`` rows (the driver retries transient errors; each statement is idempotent).
Every value is a parameter: labels, relationship types and property names are the only names in
Cypher text, and they are checked against :mod:`musicgraph.graph.schema` or the identifier rule first.
The merge rules of :mod:`musicgraph.graph.store` hold as in the embedded store: ``None`` is ignored
(dropped before sending), lists are unioned in order (a ``reduce`` over the stored list), scalars are
overwritten (``SET n += row.props``).

User-supplied Cypher (:meth:`Neo4jStore.query`) runs in a read transaction with a timeout; a query
the planner classifies as writing is refused before it runs, and the server refuses writes in a
read transaction anyway.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from musicgraph.graph.projection import Projection, build_projection
from musicgraph.graph.schema import ENDPOINTS, LABELS, REL_TYPES, NodeRef, check_label, check_rel
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

if TYPE_CHECKING:
    from neo4j import Driver, ManagedTransaction

    from musicgraph.config import Settings

from musicgraph.redact import redact, register_secret

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Property names the Neo4j store uses itself.
RESERVED_PROPS = frozenset({"uid", "embedding"})
TEXT_LABEL = "Text"
META_LABEL = "MusicgraphMeta"
_TEXT_BATCH = 500


class ReadOnlyQueryError(StoreError):
    """A query given to :meth:`Neo4jStore.query` would write; nothing was changed."""


class QueryTimeoutError(StoreError):
    """A read query ran past its timeout and was terminated by the server."""


def _node_props(props: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in props.items() if k not in RESERVED_PROPS}


def _split(props: Mapping[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(scalar props, [{name, items}] list props) of already merged, None-free props."""
    scalars: dict[str, Any] = {}
    lists: list[dict[str, Any]] = []
    for name, value in props.items():
        if isinstance(value, (list, tuple)):
            lists.append({"name": name, "items": list(value)})
        else:
            scalars[name] = value
    return scalars, lists


# List union in Cypher: old items first (an absent or non-list old value counts as []), then the new
# items not yet present, in order. ``var`` is the node or relationship variable.
def _set_clause(var: str) -> str:
    return (
        f"SET {var} += row.props "
        f"FOREACH (l IN row.lists | SET {var}[l.name] = reduce("
        f"acc = CASE WHEN {var}[l.name] IS :: LIST<ANY> NOT NULL THEN {var}[l.name] ELSE [] END, "
        "x IN l.items | CASE WHEN x IN acc THEN acc ELSE acc + [x] END))"
    )


_BUMP = (
    f"MERGE (m:{META_LABEL} {{key: 'version'}}) "
    "SET m.value = toString(coalesce(toInteger(m.value), 0) + 1)"
)


class _ProjectionView:
    """The slice of a store that :func:`build_projection` reads, pulled from Neo4j with lean queries:
    one query per label and per (type, source label, target label), each returning three parallel
    lists in a single record (far cheaper for the driver than one record per row)."""

    def __init__(self, store: Neo4jStore):
        self.store = store

    def version(self) -> str:
        return self.store.version()

    def iter_nodes(self, label: str) -> Iterator[Node]:
        (row,) = self.store._read(
            f"MATCH (n:`{check_label(label)}`) RETURN collect([n.uid, n.title, n.name]) AS triples"
        )
        for key, title, name in row["triples"]:
            yield Node(label, key, {k: v for k, v in (("title", title), ("name", name)) if v is not None})

    def iter_edges(self, rel_type: str) -> Iterator[Edge]:
        rel_type = check_rel(rel_type)
        for src_label, dst_label in sorted(ENDPOINTS[rel_type]):
            (row,) = self.store._read(
                f"MATCH (a:`{src_label}`)-[r:`{rel_type}`]->(b:`{dst_label}`) "
                "RETURN collect([a.uid, b.uid, r.weight]) AS triples"
            )
            for src, dst, weight in row["triples"]:
                props = {} if weight is None else {"weight": weight}
                yield Edge(rel_type, NodeRef(src_label, src), NodeRef(dst_label, dst), props)


def _schema_label(labels: Sequence[str]) -> str:
    for label in labels:
        if label in LABELS:
            return label
    return labels[0] if labels else ""


class Neo4jStore(GraphStore):
    """A :class:`GraphStore` on a Neo4j 5 server.

    Args:
        uri: ``bolt://host:port`` (or ``neo4j://``).
        user: user name (ignored when ``password`` is None: auth off).
        password: password, or None for a server with authentication off.
        database: database name.
        batch_size: rows per write transaction.
        embedding_dim: dimension of the vector indexes.
        apply_schema: create the constraints and indexes of ``schema.cypher`` (idempotent) on connect.
        query_timeout: default timeout in seconds of :meth:`query`.
    """

    backend = "neo4j"

    def __init__(
        self,
        uri: str,
        user: str = "neo4j",
        password: str | None = None,
        database: str = "neo4j",
        batch_size: int = 5000,
        embedding_dim: int = 384,
        apply_schema: bool = True,
        query_timeout: float = 60.0,
    ):
        from neo4j import GraphDatabase
        from neo4j.exceptions import AuthError, ServiceUnavailable

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.uri = redact(uri)  # shown in messages and repr: no credentials
        self.database = database
        self.batch_size = batch_size
        self.embedding_dim = embedding_dim
        self.query_timeout = query_timeout
        register_secret(password)  # never in an error or log line
        auth = (user, password) if password else None
        try:
            self._driver: Driver = GraphDatabase.driver(uri, auth=auth, notifications_min_severity="OFF")
        except Exception as exc:  # noqa: BLE001 - a bad URI's message repeats it, credentials included
            raise StoreError(redact(f"cannot use the Neo4j URI {uri!r}: {exc}")) from None
        self._lock = threading.RLock()
        self._projection: Projection | None = None
        self._tx_local = threading.local()  # the explicit transaction of transaction(), per thread
        try:
            self._driver.verify_connectivity()
        except AuthError as exc:
            self._driver.close()
            raise StoreError(redact(
                f"Neo4j at {uri} refused the credentials of user {user!r}"
                f"{'' if password else ' (no password given: set MUSICGRAPH_NEO4J_PASSWORD)'}: {exc}"
            )) from None
        except (ServiceUnavailable, OSError) as exc:
            self._driver.close()
            raise StoreError(redact(
                f"cannot reach Neo4j at {uri}: {exc}; is it running? (`musicgraph neo4j status`, "
                "`musicgraph neo4j start`)"
            )) from None
        if apply_schema:
            self.apply_schema()

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **overrides: Any) -> Neo4jStore:
        """A store for ``MUSICGRAPH_NEO4J_*`` settings (URI default: the local server's Bolt port)."""
        from musicgraph.config import get_settings

        s = settings or get_settings()
        kwargs: dict[str, Any] = {
            "uri": s.neo4j_uri or f"bolt://127.0.0.1:{s.neo4j_bolt_port}",
            "user": s.neo4j_user,
            "password": s.neo4j_password,
            "database": s.neo4j_database,
            "batch_size": s.neo4j_batch_size,
            "embedding_dim": s.embedding_dim,
        }
        kwargs.update(overrides)
        return cls(**kwargs)

    def __repr__(self) -> str:
        return f"Neo4jStore({self.uri!r}, database={self.database!r})"

    # ------------------------------------------------------------- internals
    def _session(self, read: bool = False) -> Any:
        from neo4j import READ_ACCESS, WRITE_ACCESS

        return self._driver.session(
            database=self.database, default_access_mode=READ_ACCESS if read else WRITE_ACCESS
        )

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Every write of the block in one explicit Neo4j transaction (committed at the end, or rolled
        back on an exception); reads of this thread inside the block see its writes. A nested block joins
        the outer transaction. The store version is bumped once, at the commit."""
        if getattr(self._tx_local, "tx", None) is not None:
            yield
            return
        with self._session() as session:
            tx = session.begin_transaction()
            self._tx_local.tx = tx
            try:
                yield
                tx.run(_BUMP).consume()
                tx.commit()
            except BaseException:
                if not tx.closed():
                    tx.rollback()
                raise
            finally:
                self._tx_local.tx = None

    def _write(self, work: Callable[[ManagedTransaction], T]) -> T:
        """Run ``work`` in one managed write transaction (retried on transient errors) that bumps the version
        (inside :meth:`transaction`: in that transaction)."""
        open_tx = getattr(self._tx_local, "tx", None)
        if open_tx is not None:
            return work(open_tx)

        def tx_fn(tx: ManagedTransaction) -> T:
            out = work(tx)
            tx.run(_BUMP).consume()
            return out

        with self._session() as session:
            return session.execute_write(tx_fn)

    def _read(self, cypher: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        open_tx = getattr(self._tx_local, "tx", None)
        if open_tx is not None:
            return [dict(r.items()) for r in open_tx.run(cypher, dict(params or {}))]

        def work(tx: ManagedTransaction) -> list[dict[str, Any]]:
            return [dict(r.items()) for r in tx.run(cypher, dict(params or {}))]

        with self._session(read=True) as session:
            return session.execute_read(work)

    def apply_schema(self) -> None:
        """Create the constraints and indexes of ``schema.cypher`` if missing and wait until online."""
        from musicgraph.cypher import schema_statements

        with self._session() as session:
            for stmt in schema_statements():
                params = {"embedding_dim": self.embedding_dim} if "$embedding_dim" in stmt else {}
                session.run(stmt, params).consume()
            session.run("CALL db.awaitIndexes(300)").consume()
            rows = session.run(
                "SHOW VECTOR INDEXES YIELD name, options RETURN name, options.indexConfig['vector.dimensions'] AS dim"
            ).data()
        for row in rows:
            recorded = self.get_meta(f"vector_dim:{row['name']}")
            if recorded is not None and row["dim"] is not None and int(recorded) == int(row["dim"]):
                continue  # sized by set_vectors for the vectors it holds (e.g. a GNN run's dimension)
            if row["dim"] is not None and int(row["dim"]) != self.embedding_dim:
                log.warning(
                    "vector index %s has %s dimensions but MUSICGRAPH_EMBEDDING_DIM is %d; "
                    "drop it (DROP INDEX %s) to recreate it",
                    row["name"], row["dim"], self.embedding_dim, row["name"],
                )

    # ---------------------------------------------------------------- writes
    def upsert_nodes(self, label: str, rows: Iterable[tuple[str, Mapping[str, Any]]]) -> int:
        label = check_label(label)
        cypher = f"UNWIND $rows AS row MERGE (n:`{label}` {{uid: row.key}}) " + _set_clause("n")
        written = 0
        for batch in chunked(rows, self.batch_size):
            pending: dict[str, dict[str, Any]] = {}
            for key, props in batch:
                if not isinstance(key, str) or not key:
                    raise ValueError(f"{label}: node key must be a non-empty string, got {key!r}")
                check_prop_names(props)
                bad = RESERVED_PROPS.intersection(props)
                if bad:
                    raise ValueError(f"{label} {key!r}: property name(s) {sorted(bad)} are reserved by the Neo4j store")
                pending[key] = merge_props(pending.get(key), props)
            params = []
            for key, props in pending.items():
                scalars, lists = _split(props)
                params.append({"key": key, "props": scalars, "lists": lists})

            def work(tx: ManagedTransaction, params: list[dict[str, Any]] = params) -> None:
                tx.run(cypher, {"rows": params}).consume()

            self._write(work)
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
        src_label, dst_label = check_label(src_label), check_label(dst_label)
        cypher = (
            f"UNWIND $rows AS row MATCH (a:`{src_label}` {{uid: row.src}}) MATCH (b:`{dst_label}` {{uid: row.dst}}) "
            f"MERGE (a)-[r:`{rel_type}`]->(b) " + _set_clause("r")
        )
        missing_q = (
            "UNWIND $keys AS k OPTIONAL MATCH (n:`{label}` {{uid: k}}) WITH k, n WHERE n IS NULL RETURN k"
        )
        written = 0
        for batch in chunked(rows, self.batch_size):
            pending: dict[tuple[str, str], dict[str, Any]] = {}
            for src, dst, props in batch:
                check_prop_names(props)
                pending[(src, dst)] = merge_props(pending.get((src, dst)), props)
            params = []
            for (src, dst), props in pending.items():
                scalars, lists = _split(props)
                params.append({"src": src, "dst": dst, "props": scalars, "lists": lists})
            src_keys = list(dict.fromkeys(s for s, _ in pending))
            dst_keys = list(dict.fromkeys(d for _, d in pending))

            def work(
                tx: ManagedTransaction,
                params: list[dict[str, Any]] = params,
                src_keys: list[str] = src_keys,
                dst_keys: list[str] = dst_keys,
            ) -> None:
                missing = [
                    NodeRef(src_label, r["k"])
                    for r in tx.run(missing_q.format(label=src_label), {"keys": src_keys})
                ]
                missing += [
                    NodeRef(dst_label, r["k"])
                    for r in tx.run(missing_q.format(label=dst_label), {"keys": dst_keys})
                ]
                if missing:
                    raise MissingNodeError(rel_type, list(dict.fromkeys(missing)))
                tx.run(cypher, {"rows": params}).consume()

            self._write(work)
            written += len(batch)
        return written

    def delete_nodes(self, label: str, keys: Iterable[str]) -> int:
        label = check_label(label)
        cypher = f"UNWIND $keys AS k MATCH (n:`{label}` {{uid: k}}) DETACH DELETE n RETURN count(*) AS c"
        deleted = 0
        for batch in chunked(dict.fromkeys(keys), self.batch_size):
            deleted += self._write(lambda tx, b=batch: tx.run(cypher, {"keys": b}).single()["c"])
        return deleted

    def delete_edges(
        self, rel_type: str, src_label: str, dst_label: str, pairs: Iterable[tuple[str, str]]
    ) -> int:
        check_rel(rel_type, src_label, dst_label)
        cypher = (
            f"UNWIND $rows AS row MATCH (a:`{src_label}` {{uid: row[0]}})-[r:`{rel_type}`]->"
            f"(b:`{dst_label}` {{uid: row[1]}}) DELETE r RETURN count(*) AS c"
        )
        deleted = 0
        for batch in chunked(dict.fromkeys(pairs), self.batch_size):
            rows = [[s, d] for s, d in batch]
            deleted += self._write(lambda tx, r=rows: tx.run(cypher, {"rows": r}).single()["c"])
        return deleted

    def put_texts(self, texts: Mapping[str, str]) -> None:
        cypher = f"UNWIND $rows AS row MERGE (t:{TEXT_LABEL} {{ref: row.ref}}) SET t.text = row.text"
        for batch in chunked(texts.items(), min(self.batch_size, _TEXT_BATCH)):
            rows = [{"ref": ref, "text": text} for ref, text in batch]
            self._write(lambda tx, r=rows: tx.run(cypher, {"rows": r}).consume())

    def get_texts(self, refs: Iterable[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for batch in chunked(dict.fromkeys(refs), self.batch_size):
            for row in self._read(
                f"UNWIND $refs AS r MATCH (t:{TEXT_LABEL} {{ref: r}}) RETURN t.ref AS ref, t.text AS text",
                {"refs": batch},
            ):
                out[row["ref"]] = row["text"]
        return out

    def get_meta(self, key: str) -> str | None:
        rows = self._read(f"MATCH (m:{META_LABEL} {{key: $key}}) RETURN m.value AS value", {"key": key})
        return None if not rows or rows[0]["value"] is None else str(rows[0]["value"])

    def set_meta(self, key: str, value: str) -> None:
        cypher = f"MERGE (m:{META_LABEL} {{key: $key}}) SET m.value = $value"
        self._write(lambda tx: tx.run(cypher, {"key": key, "value": str(value)}).consume())

    def delete_meta(self, prefix: str) -> None:
        """Delete metadata keys starting with ``prefix``."""
        cypher = f"MATCH (m:{META_LABEL}) WHERE m.key STARTS WITH $prefix AND m.key <> 'version' DETACH DELETE m"
        self._write(lambda tx: tx.run(cypher, {"prefix": prefix}).consume())

    def set_embeddings(self, label: str, vectors: Mapping[str, Sequence[float]]) -> int:
        """Write node embeddings (for the vector indexes) into ``embedding``; returns nodes updated."""
        label = check_label(label)
        cypher = (
            f"UNWIND $rows AS row MATCH (n:`{label}` {{uid: row.key}}) "
            "CALL db.create.setNodeVectorProperty(n, 'embedding', row.vec) RETURN count(*) AS c"
        )
        updated = 0
        for batch in chunked(vectors.items(), min(self.batch_size, 1000)):
            rows = []
            for key, vec in batch:
                values = [float(x) for x in vec]
                if len(values) != self.embedding_dim:
                    raise ValueError(
                        f"{label} {key!r}: embedding has {len(values)} dimensions, expected {self.embedding_dim}"
                    )
                rows.append({"key": key, "vec": values})
            updated += self._write(lambda tx, r=rows: tx.run(cypher, {"rows": r}).single()["c"])
        return updated

    @staticmethod
    def vector_index_name(label: str) -> str:
        """The vector index of ``label``'s node vectors: ``<label>_embedding``."""
        return f"{check_label(label).lower()}_embedding"

    def vector_index_dim(self, label: str) -> int | None:
        """The dimension of ``label``'s vector index, or None when it has none."""
        rows = self._read(
            "SHOW VECTOR INDEXES YIELD name, options WHERE name = $name "
            "RETURN options.indexConfig['vector.dimensions'] AS dim",
            {"name": self.vector_index_name(label)},
        )
        return int(rows[0]["dim"]) if rows and rows[0]["dim"] is not None else None

    def ensure_vector_index(self, label: str, dim: int) -> bool:
        """Make ``label``'s vector index (cosine) exist with ``dim`` dimensions; returns True when it was
        (re)created. An index of another dimension is dropped first (its vectors could not be searched)."""
        if dim < 1:
            raise ValueError(f"vector dimension must be positive, got {dim}")
        name = self.vector_index_name(label)
        have = self.vector_index_dim(label)
        if have == dim:
            return False
        with self._session() as session:
            if have is not None:
                log.warning("vector index %s has %d dimensions; recreating it with %d", name, have, dim)
                session.run(f"DROP INDEX `{name}` IF EXISTS").consume()
            session.run(
                f"CREATE VECTOR INDEX `{name}` IF NOT EXISTS FOR (n:`{check_label(label)}`) ON n.{VECTOR_PROPERTY} "
                "OPTIONS {indexConfig: {`vector.dimensions`: $dim, `vector.similarity_function`: 'cosine'}}",
                {"dim": int(dim)},
            ).consume()
            session.run("CALL db.awaitIndexes(300)").consume()
        self.set_meta(f"vector_dim:{name}", str(int(dim)))
        return True

    def set_vectors(self, label: str, vectors: Mapping[str, Sequence[float]]) -> int:
        """Replace node vectors (``db.create.setNodeVectorProperty``; never a list union) and size the
        label's vector index to their dimension (see the module docstring)."""
        label = check_label(label)
        dims = {len(v) for v in vectors.values()}
        if len(dims) > 1:
            raise ValueError(f"{label}: vectors of different lengths in one call")
        if not dims:
            return 0
        self.ensure_vector_index(label, dims.pop())
        return self._write_vectors(label, vectors)

    def _write_vectors(self, label: str, vectors: Mapping[str, Sequence[float]]) -> int:
        cypher = (
            f"UNWIND $rows AS row MATCH (n:`{label}` {{uid: row.key}}) "
            f"CALL db.create.setNodeVectorProperty(n, '{VECTOR_PROPERTY}', row.vec) RETURN count(*) AS c"
        )
        updated = 0
        for batch in chunked(vectors.items(), min(self.batch_size, 1000)):
            rows = [{"key": key, "vec": [float(x) for x in vec]} for key, vec in batch]
            updated += self._write(lambda tx, r=rows: tx.run(cypher, {"rows": r}).single()["c"])
        return updated

    def get_vectors(self, label: str, keys: Iterable[str]) -> dict[str, list[float]]:
        label = check_label(label)
        cypher = (f"UNWIND $keys AS k MATCH (n:`{label}` {{uid: k}}) WHERE n.{VECTOR_PROPERTY} IS NOT NULL "
                  f"RETURN n.uid AS key, n.{VECTOR_PROPERTY} AS vec")
        out: dict[str, list[float]] = {}
        for batch in chunked(dict.fromkeys(keys), self.batch_size):
            for row in self._read(cypher, {"keys": batch}):
                out[row["key"]] = [float(x) for x in row["vec"]]
        return out

    def clear_vectors(self, label: str, keys: Iterable[str] | None = None) -> int:
        label = check_label(label)
        if keys is None:
            cypher = (
                f"MATCH (n:`{label}`) WHERE n.{VECTOR_PROPERTY} IS NOT NULL WITH n LIMIT $limit "
                f"REMOVE n.{VECTOR_PROPERTY} RETURN count(*) AS c"
            )
            cleared = 0
            while True:
                n = self._write(lambda tx: tx.run(cypher, {"limit": self.batch_size}).single()["c"])
                cleared += n
                if n < self.batch_size:
                    return cleared
        cypher = (
            f"UNWIND $keys AS k MATCH (n:`{label}` {{uid: k}}) WHERE n.{VECTOR_PROPERTY} IS NOT NULL "
            f"REMOVE n.{VECTOR_PROPERTY} RETURN count(*) AS c"
        )
        cleared = 0
        for batch in chunked(dict.fromkeys(keys), self.batch_size):
            cleared += self._write(lambda tx, b=batch: tx.run(cypher, {"keys": b}).single()["c"])
        return cleared

    def clear(self) -> None:
        """Delete every node and relationship of the database (the schema and the version counter stay)."""
        with self._session() as session:
            session.run(
                f"MATCH (n) WHERE NOT (n:{META_LABEL} AND n.key = 'version') "
                "CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS"
            ).consume()
        self._write(lambda tx: None)  # bump the version: derived caches must notice
        self._projection = None

    def claim_for_tests(self, wipe: bool = False) -> None:
        """Clear the database for a test run, refusing one that holds data not written by tests.

        A database counts as a test database when it is empty or carries the meta key ``test:db``
        (set here). Anything else (e.g. a real ingest) is only cleared with ``wipe=True``
        (``MUSICGRAPH_NEO4J_TEST_WIPE=1`` in the test fixtures).
        """
        marked = self.get_meta("test:db") is not None
        empty = not self._read("MATCH (n) WHERE NOT n:MusicgraphMeta RETURN n LIMIT 1")
        if not (marked or empty or wipe):
            counts = {k: v for k, v in self.count_nodes().items() if v}
            raise StoreError(
                f"Neo4j database {self.database!r} at {self.uri} holds data that tests did not write ({counts}); "
                "tests clear the database, so they refuse to run on it. Set MUSICGRAPH_NEO4J_TEST_WIPE=1 to "
                "allow it, or point MUSICGRAPH_HOME / MUSICGRAPH_NEO4J_BOLT_PORT at another server."
            )
        self.clear()
        self.set_meta("test:db", "1")

    # ----------------------------------------------------------------- reads
    def get_nodes(self, label: str, keys: Iterable[str]) -> dict[str, Node]:
        label = check_label(label)
        out: dict[str, Node] = {}
        cypher = f"UNWIND $keys AS k MATCH (n:`{label}` {{uid: k}}) RETURN n.uid AS key, properties(n) AS props"
        for batch in chunked(dict.fromkeys(keys), self.batch_size):
            for row in self._read(cypher, {"keys": batch}):
                out[row["key"]] = Node(label, row["key"], _node_props(row["props"]))
        return out

    def iter_nodes(self, label: str) -> Iterator[Node]:
        label = check_label(label)
        rows = self._read(f"MATCH (n:`{label}`) RETURN n.uid AS key, properties(n) AS props")
        rows.sort(key=lambda r: r["key"])
        for row in rows:
            yield Node(label, row["key"], _node_props(row["props"]))

    def iter_edges(self, rel_type: str) -> Iterator[Edge]:
        rel_type = check_rel(rel_type)
        rows = self._read(
            f"MATCH (a)-[r:`{rel_type}`]->(b) RETURN labels(a) AS la, a.uid AS ka, labels(b) AS lb, "
            "b.uid AS kb, properties(r) AS props"
        )
        edges = [
            Edge(rel_type, NodeRef(_schema_label(r["la"]), r["ka"]), NodeRef(_schema_label(r["lb"]), r["kb"]), r["props"])
            for r in rows
        ]
        edges.sort(key=lambda e: (e.src.label, e.src.key, e.dst.label, e.dst.key))
        yield from edges

    def neighbors(
        self,
        label: str,
        key: str,
        rel_type: str | None = None,
        direction: Direction = "both",
        limit: int | None = None,
    ) -> list[tuple[Edge, Node]]:
        label = check_label(label)
        rel = "" if rel_type is None else f":`{check_rel(rel_type)}`"
        me = NodeRef(label, key)
        out: list[tuple[Edge, Node]] = []
        patterns = []
        if direction in ("out", "both"):
            patterns.append(("out", f"MATCH (n:`{label}` {{uid: $key}})-[r{rel}]->(o)"))
        if direction in ("in", "both"):
            patterns.append(("in", f"MATCH (n:`{label}` {{uid: $key}})<-[r{rel}]-(o)"))
        for side, match in patterns:
            rows = self._read(
                match + " RETURN type(r) AS t, labels(o) AS lo, o.uid AS ko, properties(r) AS rp, "
                "properties(o) AS op",
                {"key": key},
            )
            part = []
            for r in rows:
                if r["t"] not in REL_TYPES:
                    continue
                other = NodeRef(_schema_label(r["lo"]), r["ko"])
                edge = Edge(r["t"], me, other, r["rp"]) if side == "out" else Edge(r["t"], other, me, r["rp"])
                part.append((edge, Node(other.label, other.key, _node_props(r["op"]))))
            part.sort(key=lambda en: (en[0].type, en[1].label, en[1].key))
            out += part
        return out[:limit] if limit is not None else out

    def count_nodes(self) -> dict[str, int]:
        counts = dict.fromkeys(LABELS, 0)
        for label in LABELS:
            counts[label] = int(self._read(f"MATCH (n:`{label}`) RETURN count(n) AS c")[0]["c"])
        return counts

    def count_edges(self) -> dict[str, int]:
        counts = dict.fromkeys(REL_TYPES, 0)
        for rel in REL_TYPES:
            counts[rel] = int(self._read(f"MATCH ()-[r:`{rel}`]->() RETURN count(r) AS c")[0]["c"])
        return counts

    def version(self) -> str:
        return self.get_meta("version") or "0"

    def projection(self) -> Projection:
        """The CSR projection, pulled with lean queries (keys, names, weights) and cached per version."""
        version = self.version()
        with self._lock:
            if self._projection is not None and self._projection.version == version:
                return self._projection
            proj = build_projection(_ProjectionView(self))  # type: ignore[arg-type]
            self._projection = proj
            return proj

    # ------------------------------------------------------------ user Cypher
    def query(
        self,
        cypher: str,
        params: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Run user-supplied Cypher read-only, with a timeout; rows as dicts (nodes as property maps).

        The text is checked by :func:`musicgraph.cypher.guard.check_user_cypher` (no administration or
        transaction management, no file or URL access outside the import directory), then the planner must
        classify it as a read, and it runs in a read transaction.

        Args:
            limit: stop after this many rows (the rest is never fetched from the server).

        Raises:
            ReadOnlyQueryError: the query would write or administer (refused before running, or by the server).
            QueryTimeoutError: it ran longer than ``timeout`` seconds (default ``query_timeout``).
        """
        from neo4j import unit_of_work
        from neo4j.exceptions import ClientError

        from musicgraph.cypher.guard import RefusedQueryError, check_user_cypher

        params = dict(params or {})
        timeout = self.query_timeout if timeout is None else timeout
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        try:
            check_user_cypher(cypher)
        except RefusedQueryError as exc:
            raise ReadOnlyQueryError(str(exc)) from None
        head = cypher.lstrip().split(None, 1)[0].upper()

        @unit_of_work(timeout=timeout)
        def work(tx: ManagedTransaction) -> list[dict[str, Any]]:
            if head not in ("EXPLAIN", "PROFILE", "CYPHER"):
                summary = tx.run("EXPLAIN " + cypher, params).consume()
                if summary.query_type not in (None, "r"):
                    raise ReadOnlyQueryError(
                        f"refused: the query would write (query type {summary.query_type!r}); "
                        "user Cypher runs read-only — use the store's upsert methods or the ingest command"
                    )
            rows: list[dict[str, Any]] = []
            if limit == 0:
                return rows
            for record in tx.run(cypher, params):
                rows.append(record.data())
                if limit is not None and len(rows) >= limit:
                    break  # streamed: the remaining rows are discarded with the transaction
            return rows

        fetch = None if limit is None else max(1, min(limit, 1000))
        try:
            with self._driver.session(database=self.database, default_access_mode="READ",
                                      **({"fetch_size": fetch} if fetch else {})) as session:
                return session.execute_read(work)
        except ClientError as exc:
            code = exc.code or ""
            if "AccessMode" in code or "ForbiddenOnReadOnly" in code or "WriteOnReadOnlyAccess" in code:
                raise ReadOnlyQueryError(f"refused by the server: writes are not allowed in a read transaction ({exc.message})") from exc
            if "TransactionTimedOut" in code or "Terminated" in code:
                raise QueryTimeoutError(f"query exceeded its timeout of {timeout:g} s and was terminated") from exc
            raise

    def fulltext(self, index: str, text: str, limit: int = 10) -> list[tuple[Node, float]]:
        """Full-text search (Lucene syntax) in one of the schema's full-text indexes, best first."""
        rows = self.query(
            "CALL db.index.fulltext.queryNodes($index, $text, {limit: $limit}) YIELD node, score "
            "RETURN labels(node) AS labels, node.uid AS key, node.ref AS ref, properties(node) AS props, score",
            {"index": index, "text": text, "limit": limit},
        )
        out = []
        for r in rows:
            label = _schema_label(r["labels"])
            out.append((Node(label, r["key"] or r["ref"], _node_props(r["props"])), float(r["score"])))
        return out

    def vector_search(self, label: str, vector: Sequence[float], k: int = 10) -> list[tuple[Node, float]]:
        """Nearest nodes of ``label`` by cosine similarity of ``embedding`` (vector index), best first."""
        index = self.vector_index_name(label)
        if self.vector_index_dim(label) is None:
            raise ValueError(f"no vector index for label {label!r} (write vectors first: musicgraph gnn embed)")
        rows = self.query(
            "CALL db.index.vector.queryNodes($index, $k, $vector) YIELD node, score "
            "RETURN node.uid AS key, properties(node) AS props, score",
            {"index": index, "k": k, "vector": [float(x) for x in vector]},
        )
        return [(Node(label, r["key"], _node_props(r["props"])), float(r["score"])) for r in rows]

    def close(self) -> None:
        self._driver.close()
