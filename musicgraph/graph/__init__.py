"""The music graph: schema, stores (embedded SQLite and Neo4j), projections, ingest and multi-hop scoring."""

from __future__ import annotations

from musicgraph.config import Settings, get_settings
from musicgraph.graph.embedded import EmbeddedStore
from musicgraph.graph.projection import Projection
from musicgraph.graph.schema import LABELS, REL_TYPES, Label, NodeRef, Rel, SchemaError
from musicgraph.graph.store import Edge, GraphStore, MissingNodeError, Node, StoreError

__all__ = [
    "LABELS",
    "REL_TYPES",
    "Edge",
    "EmbeddedStore",
    "GraphStore",
    "Label",
    "MissingNodeError",
    "Node",
    "NodeRef",
    "Projection",
    "Rel",
    "SchemaError",
    "StoreError",
    "open_store",
]


def open_store(settings: Settings | None = None, backend: str | None = None) -> GraphStore:
    """Open the configured store: Neo4j when ``MUSICGRAPH_NEO4J_URI`` is set (or ``backend="neo4j"``),
    else the embedded store under ``MUSICGRAPH_HOME/stores/<name>``."""
    settings = settings or get_settings()
    backend = backend or ("neo4j" if settings.neo4j_uri else "embedded")
    if backend == "neo4j":
        from musicgraph.graph.neo4j_store import Neo4jStore

        return Neo4jStore.from_settings(settings)
    if backend != "embedded":
        raise ValueError(f"unknown store backend {backend!r}; expected 'embedded' or 'neo4j'")
    return EmbeddedStore(settings.store_dir, batch_size=settings.batch_size)
