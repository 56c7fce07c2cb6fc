"""Where ``musicgraph gnn train`` reads its graph: one interface, "interactions plus tables".

A :class:`GraphSource` gives the two things training needs:

* :meth:`~GraphSource.interactions`: the HetRec user -> artist listening to split
  (:class:`~musicgraph.gnn.splits.Interactions`, keys sorted, so every source gives the same split);
* :meth:`~GraphSource.hetero`: the whole graph as a PyG ``HeteroData`` with its id map
  (:func:`~musicgraph.gnn.data.store_to_hetero`), with the tag assignments of held-out pairs hidden
  (:meth:`~GraphSource.hide_heldout`).

Implementations:

* :class:`EmbeddedSource`: the embedded SQLite store (its cached CSR projection);
* :class:`Neo4jSource`: a Neo4j server; the interactions come from one Cypher query
  (``MATCH (u:User)-[r:LISTENED_TO]->(a:Artist) WHERE u.uid STARTS WITH 'hetrec:'``), the graph
  from the store's lean projection queries;
* :class:`HetrecFilesSource`: the raw HetRec files (experiments and protocol checks).

:func:`open_source` picks the configured one: ``--source hetrec``, else Neo4j when
``MUSICGRAPH_NEO4J_URI`` is set (or ``--backend neo4j``), else the embedded store. Imported personal
histories (``me:<name>`` users) are never part of training (:func:`~musicgraph.gnn.data.tables_from_store`
leaves them out): the model is the same whoever imported what, and a person's data stays out of it.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any

from musicgraph.graph.resolve import HETREC, source_prefix

if TYPE_CHECKING:
    from musicgraph.config import Settings
    from musicgraph.gnn.splits import Interactions, Split
    from musicgraph.graph.store import GraphStore

log = logging.getLogger(__name__)

BACKENDS = ("embedded", "neo4j")


class GraphSource(ABC):
    """The graph a GNN trains on (see the module docstring)."""

    name: str = "abstract"

    @abstractmethod
    def interactions(self) -> Interactions:
        """HetRec user -> artist interactions, keys sorted."""

    @abstractmethod
    def hetero(self, *, text: bool = False, exclude_pairs: set[tuple[str, str]] | None = None) -> tuple[Any, dict[str, Any]]:
        """``(HeteroData, id map)`` of the whole graph; ``exclude_pairs``: (user, artist) pairs whose tag
        assignments must not be seen (the validation and test pairs)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    def __enter__(self) -> GraphSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _StoreSource(GraphSource):
    """A source over a :class:`~musicgraph.graph.store.GraphStore`."""

    def __init__(self, store: GraphStore, data_dir: Path | None = None, own: bool = True):
        self.store = store
        self.data_dir = data_dir
        self._own = own

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.store!r})"

    def interactions(self) -> Interactions:
        from musicgraph.gnn.splits import interactions_from_store

        return interactions_from_store(self.store, user_source=HETREC)

    def hetero(self, *, text: bool = False, exclude_pairs: set[tuple[str, str]] | None = None) -> tuple[Any, dict[str, Any]]:
        from musicgraph.gnn.data import store_to_hetero

        data, keys = store_to_hetero(self.store, text=text)
        if exclude_pairs:
            self.hide_heldout(data, keys, exclude_pairs)
        return data, keys

    def hide_heldout(self, data: Any, keys: dict[str, Any], held: set[tuple[str, str]]) -> None:
        """Rebuild TAGGED/USED_TAG without the tag assignments of ``held`` (user key, artist key) pairs.

        HetRec tags are (user, artist, tag) triples: a user's own tags on a held-out artist would lead
        to it. Needs the HetRec files; without them the store's aggregated tag edges are kept (a warning).
        """
        from musicgraph.gnn.data import replace_edges_from_projection
        from musicgraph.graph.heldout import tag_matrices_without

        data_dir = self.data_dir
        if data_dir is None or not (data_dir / "hetrec_lastfm2k").is_dir():
            log.warning("no HetRec files in %s: tag edges keep held-out users' tags (a small leak)", data_dir)
            return
        proj = self.store.projection()
        tagged, used = tag_matrices_without(proj, data_dir, held)
        replace_edges_from_projection(data, proj, "TAGGED", tagged, keys)
        replace_edges_from_projection(data, proj, "USED_TAG", used, keys)

    def close(self) -> None:
        if self._own:
            self.store.close()


class EmbeddedSource(_StoreSource):
    """The embedded store at ``path`` (``MUSICGRAPH_HOME/stores/<name>`` by default)."""

    name = "embedded"

    @classmethod
    def open(cls, path: Path, data_dir: Path | None = None) -> EmbeddedSource:
        from musicgraph.graph.embedded import EmbeddedStore

        if not (path / "graph.sqlite").exists():
            raise FileNotFoundError(f"no embedded store at {path} (run `musicgraph ingest` first, or --source hetrec)")
        return cls(EmbeddedStore(path), data_dir)


class Neo4jSource(_StoreSource):
    """A Neo4j server (``MUSICGRAPH_NEO4J_*``); interactions straight from Cypher."""

    name = "neo4j"

    INTERACTIONS = (
        "MATCH (u:User)-[r:LISTENED_TO]->(a:Artist) WHERE u.uid STARTS WITH $prefix "
        "RETURN collect([u.uid, a.uid, coalesce(r.weight, 1.0)]) AS rows"
    )

    @classmethod
    def open(cls, settings: Settings, data_dir: Path | None = None) -> Neo4jSource:
        from musicgraph.graph.neo4j_store import Neo4jStore

        return cls(Neo4jStore.from_settings(settings), data_dir)

    def interactions(self) -> Interactions:
        from musicgraph.gnn.splits import Interactions

        rows = self.store.query(self.INTERACTIONS, {"prefix": source_prefix(HETREC)}, timeout=600)[0]["rows"]  # type: ignore[attr-defined]
        if not rows:
            raise ValueError(f"{self.store!r}: no LISTENED_TO relationships from {HETREC} users (run ingest first)")
        return Interactions.from_pairs([(str(u), str(a), float(w)) for u, a, w in rows])


class HetrecFilesSource(GraphSource):
    """The HetRec files of ``data_dir`` (keys ``hetrec:<id>`` for users and artists)."""

    name = "hetrec"

    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)

    def interactions(self) -> Interactions:
        from musicgraph.gnn.splits import interactions_from_hetrec

        return interactions_from_hetrec(self.data_dir)

    def hetero(self, *, text: bool = False, exclude_pairs: set[tuple[str, str]] | None = None) -> tuple[Any, dict[str, Any]]:
        from musicgraph.gnn.data import tables_from_hetrec, tables_to_hetero

        if text:
            raise ValueError("text features need the store's names: use --source store")
        tables = tables_from_hetrec(self.data_dir, exclude_pairs=exclude_pairs)
        return tables_to_hetero(tables), tables.keys


def open_source(
    source: str = "store",
    *,
    backend: str | None = None,
    store_dir: Path | None = None,
    data_dir: Path | None = None,
    settings: Settings | None = None,
) -> GraphSource:
    """The configured :class:`GraphSource`.

    Args:
        source: ``store`` (the graph store) or ``hetrec`` (the raw files).
        backend: ``embedded`` or ``neo4j`` (default: Neo4j when ``MUSICGRAPH_NEO4J_URI`` is set, or when
            ``store_dir`` is not given and the settings name a Neo4j server; else embedded).
        store_dir: the embedded store directory (default ``MUSICGRAPH_HOME/stores/<name>``).
        data_dir: the datasets folder (HetRec files for the leak-free tag edges).
        settings: settings (default: the environment's).
    """
    from musicgraph.config import get_settings

    s = settings or get_settings()
    ddir = Path(data_dir) if data_dir is not None else s.data_dir
    if source == "hetrec":
        return HetrecFilesSource(ddir)
    if source != "store":
        raise ValueError(f"unknown source {source!r}; expected store or hetrec")
    if backend is None:
        backend = "neo4j" if s.neo4j_uri and store_dir is None else "embedded"
    if backend == "neo4j":
        return Neo4jSource.open(s, ddir)
    if backend != "embedded":
        raise ValueError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    return EmbeddedSource.open(Path(store_dir) if store_dir else s.store_dir, ddir)


def held_pairs(split: Split) -> set[tuple[str, str]]:
    """The (user key, item key) pairs of a split's validation and test parts."""
    return {
        (str(split.user_keys[u]), str(split.item_keys[i]))
        for users, items in ((split.valid_user, split.valid_item), (split.test_user, split.test_item))
        for u, i in zip(users.tolist(), items.tolist(), strict=True)
    }
