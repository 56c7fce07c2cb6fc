"""musicgraph: a knowledge-graph-centric, multi-hop retrieval engine for music recommendation.

The top-level API is small::

    import musicgraph
    musicgraph.recommend(artists=["Radiohead"], k=10)          # multi-hop graph recommendation
    musicgraph.retrieve("sad songs for a rainy night", k=10)   # hybrid retrieval
    musicgraph.ask("melancholic songs like Radiohead")          # grounded answer in words

Everything else lives in the subpackages: ``graph`` (schema, stores, ingest, multi-hop),
``loaders`` (datasets and APIs), ``retrieval``, ``gnn``, ``rag``, ``evaluation``.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "ask", "recommend", "retrieve"]


def __getattr__(name: str) -> Any:
    # Lazy, so `import musicgraph` stays cheap.
    if name in ("recommend", "retrieve", "ask"):
        from musicgraph import api

        return getattr(api, name)
    raise AttributeError(f"module 'musicgraph' has no attribute {name!r}")
