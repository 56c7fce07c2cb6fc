"""musicgraph: a knowledge-graph-centric, multi-hop retrieval engine for music recommendation.

The top-level API is small::

    import musicgraph
    musicgraph.recommend(artists=["Eminem"], relation="fans_of", tags=["rock"], kind="artist")  # multi-hop graph
    musicgraph.retrieve("rock artists that fans of Eminem listen to")   # free text -> request -> hybrid
    musicgraph.search(request, retriever="graph")                        # a structured Request, any retriever
    musicgraph.parse("sad songs like Radiohead")                         # the Request a text describes
    musicgraph.ask("melancholic songs like Radiohead")                   # grounded answer in words

Everything else lives in the subpackages: ``graph`` (schema, stores, ingest, multi-hop),
``loaders`` (datasets and APIs), ``retrieval``, ``gnn``, ``rag``, ``evaluation``.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "ask", "parse", "recommend", "retrieve", "search"]


def __getattr__(name: str) -> Any:
    # Lazy, so `import musicgraph` stays cheap.
    if name in ("recommend", "retrieve", "ask", "search", "parse"):
        from musicgraph import api

        return getattr(api, name)
    raise AttributeError(f"module 'musicgraph' has no attribute {name!r}")
