"""The graph retriever: each seed's relation compiles to a graph operator; constraints filter first.

>>> from musicgraph.retrieval import GraphRetriever, Request, Seed, Constraints   # doctest: +SKIP
>>> r = GraphRetriever(store)
>>> r.search(Request(seeds=[Seed(label="Artist", name="Eminem", relation="fans_of")],
...                  constraints=Constraints(tags=["rock"]), kind="artist"))

Scores come from :mod:`musicgraph.retrieval.operators` (co-listening counts with hub damping for
``fans_of``, PPR only where no meta-path fits), combined across seeds by
:func:`~musicgraph.retrieval.assembly.seed_scores`; constraints, exclusions, the seeds themselves and a
seed user's known items are masked before the exact top-k (:meth:`ItemSpace.select`).
"""

from __future__ import annotations

from typing import Any

from musicgraph.graph.results import Result
from musicgraph.graph.store import GraphStore
from musicgraph.retrieval.assembly import assemble, prepare, seed_scores
from musicgraph.retrieval.base import Retriever
from musicgraph.retrieval.request import Request
from musicgraph.retrieval.resources import GraphResources, resources_for

__all__ = ["GraphRetriever"]

#: Per-artist cap for song and album answers when the request does not set one.
DEFAULT_MAX_PER_ARTIST = 2


class GraphRetriever(Retriever):
    """Multi-hop retrieval over the graph alone (no text indexes needed).

    Args:
        store: the graph store (ignored when ``resources`` is given).
        resources: shared projection, catalog and operators (default: :func:`resources_for`).
        paths: build explanation paths for the results.
    """

    name = "graph"

    def __init__(self, store: GraphStore | None = None, resources: GraphResources | None = None, paths: bool = True):
        if resources is None:
            if store is None:
                raise TypeError("GraphRetriever needs a store or resources")
            resources = resources_for(store)
        self.resources = resources
        self.paths = paths

    def parse(self, text: str) -> Request:
        from musicgraph.retrieval.parser import RequestParser

        return RequestParser.for_resources(self.resources).parse(text)

    def get_search_results(self, request: Request) -> list[Result]:
        res = self.resources
        prep = prepare(res, request)
        scores, parts = seed_scores(res, prep)
        cap = request.diversity.max_per_artist
        if cap is None and request.kind in ("song", "album"):
            cap = DEFAULT_MAX_PER_ARTIST
        selected = res.space.select(request.kind, scores, prep.mask, request.k, cap)
        components: dict[str, Any] = {"graph": scores}
        return assemble(res, prep, selected, components, paths=self.paths)
