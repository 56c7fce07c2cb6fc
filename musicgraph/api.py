"""The small top-level library API: ``musicgraph.recommend``, ``musicgraph.retrieve``, ``musicgraph.ask``.

Each opens the configured store (embedded by default, Neo4j when ``MUSICGRAPH_NEO4J_URI`` is set)
unless one is passed, and keeps it open for later calls in the same process.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from musicgraph.config import get_settings
from musicgraph.graph import GraphStore, open_store
from musicgraph.graph.results import Result

if TYPE_CHECKING:
    pass

_DEFAULT_STORE: GraphStore | None = None


def default_store() -> GraphStore:
    """The process-wide store opened from the settings (created on first use)."""
    global _DEFAULT_STORE
    if _DEFAULT_STORE is None:
        _DEFAULT_STORE = open_store(get_settings())
    return _DEFAULT_STORE


def set_default_store(store: GraphStore | None) -> None:
    """Replace (or forget, with None) the process-wide store."""
    global _DEFAULT_STORE
    _DEFAULT_STORE = store


def recommend(
    *,
    user: str | None = None,
    artists: Sequence[str] = (),
    songs: Sequence[str] = (),
    tags: Sequence[str] = (),
    moods: Sequence[str] = (),
    k: int = 10,
    kind: str = "song",
    exclude_known: bool = True,
    store: GraphStore | None = None,
    **options: Any,
) -> list[Result]:
    """Multi-hop recommendations from seeds, each with explanation paths.

    Example::

        >>> import musicgraph
        >>> for r in musicgraph.recommend(artists=["Radiohead"], k=5):
        ...     print(r.rank, r.display(), r.paths[0].sentence())

    See :func:`musicgraph.graph.multihop.recommend` for every option.
    """
    from musicgraph.graph.multihop import recommend as _recommend

    return _recommend(
        store or default_store(),
        user=user,
        artists=artists,
        songs=songs,
        tags=tags,
        moods=moods,
        k=k,
        kind=kind,
        exclude_known=exclude_known,
        **options,
    )


def retrieve(query: str, k: int = 10, *, store: GraphStore | None = None, **options: Any) -> list[Result]:
    """Hybrid retrieval (BM25 + dense + graph, emotion/audio rerank) for a free-text request.

    See :func:`musicgraph.retrieval.retriever.retrieve`.
    """
    from musicgraph.retrieval.retriever import retrieve as _retrieve

    return _retrieve(query, k=k, store=store or default_store(), **options)


def ask(question: str, k: int = 5, *, store: GraphStore | None = None, **options: Any) -> Any:
    """A grounded answer in words, citing retrieved songs. See :func:`musicgraph.rag.ask.ask`."""
    from musicgraph.rag.ask import ask as _ask

    return _ask(question, k=k, store=store or default_store(), **options)
