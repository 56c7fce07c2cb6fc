"""Retrieval: one request model, one retriever interface, several retrievers.

* :class:`Request` (:mod:`~musicgraph.retrieval.request`): seeds with relations, conjunctive
  constraints, soft targets, output kind; :class:`RequestParser` turns free text into one.
* :class:`Retriever` (:mod:`~musicgraph.retrieval.base`): ``search(request) -> list[Result]``,
  implemented by :class:`GraphRetriever`, :class:`BM25Retriever`, :class:`DenseRetriever`,
  :class:`GNNRetriever` and :class:`HybridRetriever`.

Heavy parts (FAISS, the encoder, torch) load only when a retriever that needs them is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from musicgraph.lazy import lazy_getattr
from musicgraph.retrieval.base import Retriever
from musicgraph.retrieval.request import (
    Constraints,
    Diversity,
    EntityRef,
    Relation,
    Request,
    Seed,
    Targets,
    parse_request,
    request_from_file,
)

if TYPE_CHECKING:
    from musicgraph.graph.store import GraphStore

__all__ = [
    "BM25Retriever",
    "Constraints",
    "DenseIndex",
    "DenseRetriever",
    "Diversity",
    "Encoder",
    "EntityRef",
    "FAISS_THREADS",
    "GNNRetriever",
    "GraphRetriever",
    "HashingEncoder",
    "HybridRetriever",
    "Relation",
    "Request",
    "RequestParser",
    "Retriever",
    "Seed",
    "SongTable",
    "TORCH_THREADS",
    "Targets",
    "ThreadLimit",
    "lyric_summary",
    "parse_request",
    "request_from_file",
    "retriever_by_name",
    "textualize",
]

_LAZY = {
    "GraphRetriever": "musicgraph.retrieval.graph_retriever",
    "BM25Retriever": "musicgraph.retrieval.bm25_retriever",
    "DenseRetriever": "musicgraph.retrieval.dense_retriever",
    "GNNRetriever": "musicgraph.retrieval.gnn_retriever",
    "HybridRetriever": "musicgraph.retrieval.hybrid",
    "RequestParser": "musicgraph.retrieval.parser",
    "SongTable": "musicgraph.retrieval.catalog",
    "DenseIndex": "musicgraph.retrieval.dense",
    "Encoder": "musicgraph.retrieval.encoder",
    "HashingEncoder": "musicgraph.retrieval.encoder",
    "textualize": "musicgraph.retrieval.textualize",
    "lyric_summary": "musicgraph.retrieval.textualize",
    "ThreadLimit": "musicgraph.retrieval.threads",
    "TORCH_THREADS": "musicgraph.retrieval.threads",
    "FAISS_THREADS": "musicgraph.retrieval.threads",
}


__getattr__ = lazy_getattr(__name__, _LAZY)


def retriever_by_name(name: str, store: GraphStore) -> Retriever:
    """The retriever ``name`` (graph, hybrid, bm25, dense, gnn) over ``store``, sharing its resources.

    Raises:
        RequestError: an unknown name. FileNotFoundError: its indexes or embeddings are missing.
    """
    from musicgraph.errors import RequestError

    if name == "hybrid":
        from musicgraph.retrieval.retriever import get_retriever

        return get_retriever(store)
    if name == "graph":
        from musicgraph.retrieval.graph_retriever import GraphRetriever
        from musicgraph.retrieval.index import IndexBundle, default_index_dir
        from musicgraph.retrieval.resources import resources_for

        # the bundle and the resources of one store version: a catalog change committing between the two
        # calls would otherwise pair the new store with the old bundle (issue 15); the second round loads
        # the new bundle (after the change's index update: the index directory's lock)
        for _ in range(5):
            version = store.version()
            bundle = _bundle_if_built(IndexBundle, default_index_dir(), store)
            resources = resources_for(store, bundle)
            if resources.version == version and (bundle is None or bundle.manifest.get("store_version") == version):
                break
        return GraphRetriever(resources=resources)
    if name in ("bm25", "dense", "gnn"):
        from musicgraph.retrieval.retriever import get_retriever

        hybrid = get_retriever(store)
        if name == "bm25":
            from musicgraph.retrieval.bm25_retriever import BM25Retriever

            return BM25Retriever(hybrid.resources)
        if name == "dense":
            from musicgraph.retrieval.dense_retriever import DenseRetriever

            return DenseRetriever(hybrid.resources, encoder=hybrid.encoder)
        from musicgraph.retrieval.gnn_retriever import GNNRetriever

        return GNNRetriever(hybrid.resources)
    raise RequestError(f"unknown retriever {name!r}; expected graph, hybrid, bm25, dense or gnn", field="retriever")


_BUNDLES: dict[tuple[int, str], Any] = {}


def _bundle_if_built(bundle_cls: Any, directory: Any, store: GraphStore) -> Any:
    """The index bundle of ``directory`` when it is built for this store version (None otherwise)."""
    key = (id(store), str(directory))
    hit = _BUNDLES.get(key)
    if hit is not None and hit.manifest.get("store_version") == store.version():
        return hit
    try:
        bundle = bundle_cls.load(directory, dense=False, sparse=False)  # the graph retriever reads its catalog
    except (FileNotFoundError, ValueError):
        return None
    if bundle.manifest.get("store_version") not in (None, store.version()):
        return None
    _BUNDLES[key] = bundle
    return bundle
