"""The one store interface that every graph backend implements.

A store holds nodes (label, key, properties) and typed relationships between them, plus a small
text table (lyrics, stored once and referenced from songs by ``lyrics_ref``) and a metadata table
(ingest checkpoints). Writes are batched upserts with these merge rules, identical in every backend:

* a property whose new value is ``None`` is left as it was;
* a list property is unioned: old items first, then new items not yet present, in order;
* any other property is overwritten by the new value.

Property values are scalars (str, int, float, bool) or lists of scalars, which both SQLite/JSON and
Neo4j store natively. Property names must be identifiers (``[A-Za-z_][A-Za-z0-9_]*``).

Node vectors (GNN embeddings) are not ordinary list properties: a list is unioned on upsert, which
would mix an old vector with a new one. They live in :data:`VECTOR_PROPERTY` and are written with
:meth:`GraphStore.set_vectors` (replacing, never merging) and removed with
:meth:`GraphStore.clear_vectors`; in Neo4j they also feed the label's vector index.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any, Literal

from musicgraph.errors import MusicgraphError
from musicgraph.graph.schema import NodeRef

if TYPE_CHECKING:
    from musicgraph.graph.projection import Projection

PropValue = str | int | float | bool | list[Any]
Props = dict[str, Any]
Direction = Literal["out", "in", "both"]

_PROP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

#: The node property that holds a node's vector (GNN embedding); see :meth:`GraphStore.set_vectors`.
VECTOR_PROPERTY = "embedding"


class StoreError(MusicgraphError, RuntimeError):
    """Base class of store errors."""


class MissingNodeError(StoreError):
    """A relationship names an endpoint node that is not in the store."""

    def __init__(self, rel_type: str, missing: Sequence[NodeRef]):
        self.rel_type = rel_type
        self.missing = list(missing)
        shown = ", ".join(str(ref) for ref in self.missing[:5])
        more = f" and {len(self.missing) - 5} more" if len(self.missing) > 5 else ""
        super().__init__(f"{rel_type}: endpoint node(s) not in the store: {shown}{more}")


@dataclass(slots=True)
class Node:
    """A node: label, key and properties."""

    label: str
    key: str
    props: Props = field(default_factory=dict)

    @property
    def ref(self) -> NodeRef:
        """The node's ``(label, key)`` reference."""
        return NodeRef(self.label, self.key)

    @property
    def name(self) -> str:
        """The display name: ``title`` for songs, ``name`` otherwise, else the key."""
        return str(self.props.get("title") or self.props.get("name") or self.key)


@dataclass(slots=True)
class Edge:
    """A relationship ``(src)-[type]->(dst)`` with its properties."""

    type: str
    src: NodeRef
    dst: NodeRef
    props: Props = field(default_factory=dict)


def check_prop_names(props: Mapping[str, Any]) -> None:
    """Raise ValueError if a property name is not an identifier (they may reach Cypher text)."""
    for name in props:
        if not _PROP_NAME.match(name):
            raise ValueError(f"invalid property name {name!r}: use letters, digits and '_'")


def merge_props(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> Props:
    """Merge ``new`` into ``old`` with the store's rules (see the module docstring)."""
    merged: Props = dict(old or {})
    for name, value in new.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            current = merged.get(name)
            items = list(current) if isinstance(current, list) else []
            for item in value:
                if item not in items:
                    items.append(item)
            merged[name] = items
        else:
            merged[name] = value
    return merged


def chunked(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """``items`` in lists of ``size`` (the last one shorter), in order: the write batches of the stores."""
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


class GraphStore(ABC):
    """Interface of a music-graph store (embedded SQLite or Neo4j).

    Implementations must keep the merge rules of :func:`merge_props`, reject labels and
    relationship types that are not in :mod:`musicgraph.graph.schema`, and be safe to call
    repeatedly with the same rows (idempotent upserts).
    """

    backend: str = "abstract"

    # ---------------------------------------------------------------- writes
    @abstractmethod
    def upsert_nodes(self, label: str, rows: Iterable[tuple[str, Mapping[str, Any]]]) -> int:
        """Create or update nodes ``(key, props)`` of ``label``; returns the number of rows written.

        Properties merge into an existing node by :func:`merge_props` (lists are unioned, None leaves a
        value as it is).

        Raises:
            SchemaError: ``label`` is not in the schema.
            ValueError: an empty key or an invalid property name.
        """

    @abstractmethod
    def upsert_edges(
        self,
        rel_type: str,
        src_label: str,
        dst_label: str,
        rows: Iterable[tuple[str, str, Mapping[str, Any]]],
    ) -> int:
        """Create or update relationships ``(src_key, dst_key, props)`` of ``rel_type``.

        Args:
            rel_type: the relationship type (:class:`~musicgraph.graph.schema.Rel`).
            src_label, dst_label: the endpoint labels; the pair must be one the schema allows for the type.
            rows: ``(source key, target key, properties)``; properties merge like nodes'.

        Returns:
            The number of rows written.

        Raises:
            SchemaError: an unknown type or label, or an endpoint pair the type does not join.
            MissingNodeError: an endpoint node is absent (nothing of that batch is written).
        """

    @abstractmethod
    def delete_nodes(self, label: str, keys: Iterable[str]) -> int:
        """Delete nodes and every relationship touching them; returns the number deleted."""

    @abstractmethod
    def delete_edges(
        self, rel_type: str, src_label: str, dst_label: str, pairs: Iterable[tuple[str, str]]
    ) -> int:
        """Delete the relationships ``(src_key, dst_key)`` of ``rel_type`` between ``src_label`` and
        ``dst_label`` nodes; pairs that are absent are skipped. Returns the number deleted."""

    @abstractmethod
    def put_texts(self, texts: Mapping[str, str]) -> None:
        """Store long texts (lyrics) under content references."""

    @abstractmethod
    def get_texts(self, refs: Iterable[str]) -> dict[str, str]:
        """Texts by reference (missing references are absent from the result)."""

    @abstractmethod
    def get_meta(self, key: str) -> str | None:
        """A metadata value (ingest checkpoints), or None."""

    @abstractmethod
    def set_meta(self, key: str, value: str) -> None:
        """Set a metadata value."""

    # ----------------------------------------------------------------- reads
    @abstractmethod
    def get_nodes(self, label: str, keys: Iterable[str]) -> dict[str, Node]:
        """Nodes of ``label`` by key (missing keys are absent from the result)."""

    @abstractmethod
    def iter_nodes(self, label: str) -> Iterator[Node]:
        """Every node of ``label``, in key order."""

    @abstractmethod
    def iter_edges(self, rel_type: str) -> Iterator[Edge]:
        """Every relationship of ``rel_type``, ordered by (src, dst)."""

    @abstractmethod
    def neighbors(
        self,
        label: str,
        key: str,
        rel_type: str | None = None,
        direction: Direction = "both",
        limit: int | None = None,
    ) -> list[tuple[Edge, Node]]:
        """Relationships touching a node, with the node at the other end.

        Args:
            label, key: the node.
            rel_type: only relationships of this type (default: all).
            direction: ``out`` (the node is the source), ``in`` (the target) or ``both``.
            limit: the most pairs returned (default: all).

        Returns:
            ``(edge, other node)`` pairs ordered by type, label and key (outgoing first); empty when
            the node is absent.

        Raises:
            SchemaError: an unknown label or relationship type.
        """

    @abstractmethod
    def count_nodes(self) -> dict[str, int]:
        """Node count per label (labels with no node are 0)."""

    @abstractmethod
    def count_edges(self) -> dict[str, int]:
        """Relationship count per type (types with none are 0)."""

    @abstractmethod
    def version(self) -> str:
        """A token that changes whenever the store's content changes (for derived caches)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""

    # --------------------------------------------------------------- vectors
    @abstractmethod
    def set_vectors(self, label: str, vectors: Mapping[str, Sequence[float]]) -> int:
        """Set the vector (:data:`VECTOR_PROPERTY`) of existing nodes of ``label``, replacing any old one.

        Keys without a node are ignored; returns the number of nodes updated. All vectors of one call
        must have the same length.
        """

    @abstractmethod
    def get_vectors(self, label: str, keys: Iterable[str]) -> dict[str, list[float]]:
        """The vectors of these nodes of ``label`` (nodes without one are absent)."""

    @abstractmethod
    def clear_vectors(self, label: str, keys: Iterable[str] | None = None) -> int:
        """Remove the vector of the given nodes (``None``: of every node of ``label``); returns how many."""

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Make the writes of the block one transaction: committed together at the end, or not at all.

        Reads of the same thread inside the block see its writes. The embedded and the Neo4j store both
        implement it; this default (for other backends) only runs the block.
        """
        yield

    # ------------------------------------------------------------ conveniences
    def get_node(self, label: str, key: str) -> Node | None:
        """One node by key, or None."""
        return self.get_nodes(label, [key]).get(key)

    def node_keys(self, label: str) -> list[str]:
        """All keys of ``label``, sorted."""
        return [node.key for node in self.iter_nodes(label)]

    def is_empty(self) -> bool:
        """Whether the store holds no node at all."""
        return sum(self.count_nodes().values()) == 0

    def projection(self) -> Projection:
        """A compact CSR projection of the whole graph (cached by backends that can)."""
        from musicgraph.graph.projection import build_projection

        return build_projection(self)

    def to_networkx(self) -> Any:
        """A networkx ``MultiDiGraph`` view for analysis and GraphML export (not the hot path)."""
        from musicgraph.graph.projection import to_networkx

        return to_networkx(self)

    def __enter__(self) -> GraphStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def content_checksum(store: GraphStore, with_props: bool = True) -> str:
    """SHA-1 over every node (label, key, props) and relationship (type, ends, props), in sorted order.

    Two stores with the same content give the same checksum, whatever the backend or write order.
    """
    import hashlib
    import json

    from musicgraph.graph.schema import LABELS, REL_TYPES

    h = hashlib.sha1()
    for label in LABELS:
        for node in sorted(store.iter_nodes(label), key=lambda n: n.key):
            h.update(f"N|{label}|{node.key}".encode())
            if with_props:
                h.update(json.dumps(node.props, sort_keys=True, ensure_ascii=False).encode())
    for rel in REL_TYPES:
        for edge in sorted(store.iter_edges(rel), key=lambda e: (str(e.src), str(e.dst))):
            h.update(f"E|{rel}|{edge.src}|{edge.dst}".encode())
            if with_props:
                h.update(json.dumps(edge.props, sort_keys=True, ensure_ascii=False).encode())
    return h.hexdigest()
