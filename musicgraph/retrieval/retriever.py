"""The library front-end of hybrid retrieval: a process-wide :class:`HybridRetriever` and ``retrieve()``.

The retriever itself lives in :mod:`musicgraph.retrieval.hybrid`; this module keeps one instance per
store and index directory and maps the keyword arguments of :func:`retrieve` (``user=``,
``filters=``, component switches) onto a :class:`~musicgraph.retrieval.request.Request`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from musicgraph.graph.results import Result
from musicgraph.graph.store import GraphStore
from musicgraph.retrieval.hybrid import COMPONENTS, HybridRetriever
from musicgraph.retrieval.request import Request

__all__ = ["COMPONENTS", "HybridRetriever", "describe", "get_retriever", "parse_query", "retrieve"]


def describe(request: Request) -> str:
    """One line summarizing a request (for ``--explain``)."""
    return request.describe()


_DEFAULT: dict[str, HybridRetriever] = {}
_DEFAULT_LOCK = threading.Lock()


def get_retriever(store: GraphStore | None = None, index_dir: Path | None = None) -> HybridRetriever:
    """A process-wide retriever for the configured store and index (built on first call).

    Args:
        store: the store (default: the configured one, opened here).
        index_dir: the retrieval index directory (default ``MUSICGRAPH_HOME/indexes/<store name>``).

    Returns:
        The cached :class:`HybridRetriever` for that store and directory; without ``store``, a new one
        once the store has changed since its indexes were loaded.

    Raises:
        FileNotFoundError: the retrieval indexes are not built (``musicgraph index build``).
    """
    from musicgraph.config import get_settings
    from musicgraph.graph import open_store

    settings = get_settings()
    key = f"{id(store)}:{index_dir}:{settings.home}:{settings.store_name}:{settings.neo4j_uri}"
    with _DEFAULT_LOCK:
        r = _DEFAULT.get(key)
        if r is None or (store is None and r.store.version() != r.bundle.manifest.get("store_version")):
            r = HybridRetriever(store or open_store(), index_dir=index_dir, gnn="auto")
            _DEFAULT[key] = r
        return r


def retrieve(
    query: str | Request | Mapping[str, Any],
    k: int | None = None,
    user: str | None = None,
    exclude_known: bool = True,
    filters: Mapping[str, Any] | None = None,
    use_bm25: bool = True,
    use_dense: bool = True,
    use_graph: bool = True,
    use_emotion: bool = True,
    use_audio: bool = True,
    explain: bool = False,
    use_gnn: bool = True,
    *,
    store: GraphStore | None = None,
    index_dir: Path | None = None,
    fusion: str | None = None,
    use_trending: bool = False,
) -> list[Result]:
    """Hybrid retrieval over the configured store (``musicgraph.retrieve``).

    Args:
        query: free text, a :class:`Request`, or its JSON form.
        k: number of results (default: the request's, 10 for free text).
        user: a user key (``hetrec:2``, ``me:alex``) whose listening personalizes the results.
        exclude_known: leave out the user's known items (and never return the seeds).
        filters: extra hard filters over songs (:mod:`musicgraph.retrieval.filters`).
        use_bm25, use_dense, use_graph, use_emotion, use_audio, use_gnn: component switches.
        explain: add ``evidence["explain"]`` lines (the parsed request, component ranks).
        store, index_dir: the store and index directory (default: the configured ones).
        fusion: ``rrf`` or ``linear`` for this call.
        use_trending: move songs on the current trend lists up (off by default; ``musicgraph trends fetch``).

    Returns:
        The top results, best first; each result's ``evidence`` holds its component scores and ranks.

    Raises:
        RequestError: an empty or invalid request.
        UnknownEntityError: an unknown user or entity.
        FileNotFoundError: the indexes are not built (the message says what to run).
    """
    r = get_retriever(store, index_dir)
    cfg = replace(r.config, method=fusion) if fusion else None
    return r.retrieve(query, k=k, user=user, exclude_known=exclude_known, filters=filters, use_bm25=use_bm25,
                      use_dense=use_dense, use_graph=use_graph, use_emotion=use_emotion, use_audio=use_audio,
                      explain=explain, config=cfg, use_gnn=use_gnn, use_trending=use_trending)


def parse_query(query: str, *, store: GraphStore | None = None, index_dir: Path | None = None) -> Request:
    """The request ``query`` describes, parsed with the configured catalog (``--explain``)."""
    return get_retriever(store, index_dir).parse(query)

