"""What the retrievers of one store share, built once: projection, song catalog, items, operators.

:class:`GraphResources` loads lazily, so a retriever that never walks the graph never builds the
PPR operator. One instance per (store, index directory, held-out sets) is cached by
:func:`resources_for`; a store whose version moved on gets a fresh one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from musicgraph.graph.store import GraphStore

if TYPE_CHECKING:
    from musicgraph.graph.projection import Projection
    from musicgraph.retrieval.catalog import SongTable
    from musicgraph.retrieval.graph import GraphComponent
    from musicgraph.retrieval.index import IndexBundle
    from musicgraph.retrieval.linking import EntityLinker
    from musicgraph.retrieval.operators import GraphOperators
    from musicgraph.retrieval.space import ItemSpace

log = logging.getLogger(__name__)

__all__ = ["GraphResources", "resources_for"]


class GraphResources:
    """Lazily built, shared parts of the retrievers over one store.

    Args:
        store: the graph store.
        bundle: the retrieval indexes (its song catalog is reused); None: the catalog is read from
            the store, and text retrievers are unavailable.
        hidden_users: users whose listening the graph must not see (held-out evaluation).
        hidden_moods: songs whose mood labels the graph must not see (held-out evaluation).
        colisten_beta, colisten_k0: hub damping of the co-listening operator.
    """

    def __init__(self, store: GraphStore, bundle: IndexBundle | None = None, *,
                 hidden_users: Collection[str] = (), hidden_moods: Collection[str] = (),
                 colisten_beta: float = 0.5, colisten_k0: float = 10.0, vad: Any = None, data_dir: Path | None = None):
        self.store = store
        self.bundle = bundle
        self.hidden_users = frozenset(hidden_users)
        self.hidden_moods = frozenset(hidden_moods)
        self.colisten_beta, self.colisten_k0 = colisten_beta, colisten_k0
        self._vad, self._data_dir = vad, data_dir
        self._lock = threading.RLock()
        self._catalog: SongTable | None = bundle.catalog if bundle is not None else None
        self._walker: GraphComponent | None = None
        self._space: ItemSpace | None = None
        self._ops: GraphOperators | None = None
        self._linker: EntityLinker | None = None
        self._emotion: Any = None
        self.version = store.version()

    @property
    def catalog(self) -> SongTable:
        with self._lock:
            if self._catalog is None:
                from musicgraph.retrieval.catalog import SongTable

                self._catalog = SongTable.from_store(self.store, hidden_moods=self.hidden_moods)
            return self._catalog

    @property
    def walker(self) -> GraphComponent:
        """The PPR engine over the (held-out-reduced) projection."""
        with self._lock:
            if self._walker is None:
                from musicgraph.errors import EmptyStoreError
                from musicgraph.retrieval.graph import GraphComponent

                projection = self.store.projection()
                if projection.num_nodes == 0:
                    raise EmptyStoreError("the store is empty: run `musicgraph ingest` (or `musicgraph demo`) first")
                self._walker = GraphComponent(projection, self.catalog, hidden_moods=self.hidden_moods,
                                              hidden_users=self.hidden_users)
            return self._walker

    @property
    def projection(self) -> Projection:
        """The projection every operator reads (held-out edges removed)."""
        return self.walker.projection

    @property
    def space(self) -> ItemSpace:
        with self._lock:
            if self._space is None:
                from musicgraph.retrieval.space import ItemSpace

                self._space = ItemSpace(self.projection, self.catalog)
            return self._space

    @property
    def ops(self) -> GraphOperators:
        with self._lock:
            if self._ops is None:
                from musicgraph.retrieval.operators import GraphOperators

                self._ops = GraphOperators(self.space, self.walker, beta=self.colisten_beta, k0=self.colisten_k0)
            return self._ops

    @property
    def emotion(self) -> Any:
        with self._lock:
            if self._emotion is None:
                from musicgraph.retrieval.emotion import EmotionAnalyzer

                self._emotion = EmotionAnalyzer(data_dir=self._data_dir, vad=self._vad)
            return self._emotion

    @property
    def linker(self) -> EntityLinker:
        with self._lock:
            if self._linker is None:
                from musicgraph.retrieval.linking import EntityLinker

                # the held-out-reduced projection: its degrees are the priors of disambiguation
                self._linker = EntityLinker(self.projection, self.catalog,
                                            vocabulary=self.emotion.vad.keys())
            return self._linker

    def warm_up(self) -> None:
        """Build everything ahead of the first request."""
        _ = self.ops, self.linker
        self.walker.warm_up()


_CACHE: dict[tuple, GraphResources] = {}
_CACHE_LOCK = threading.Lock()


def resources_for(store: GraphStore, bundle: IndexBundle | None = None) -> GraphResources:
    """The shared :class:`GraphResources` of ``store`` (and ``bundle``), rebuilt when the store changed."""
    key = (id(store), id(bundle))
    with _CACHE_LOCK:
        res = _CACHE.get(key)
        if res is None or res.version != store.version() or res.store is not store:
            res = GraphResources(store, bundle)
            _CACHE[key] = res
        return res
