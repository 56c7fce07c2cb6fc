"""BM25 alone over the song documents (title, artist, album, tags, genres, moods, lyrics).

Songs are ranked by BM25 over the request's terms (the parser's content words, or the text's
tokens); artist, album and playlist answers take their best song's score. Constraints, exclusions
and seeds are masked first (:func:`~musicgraph.retrieval.assembly.prepare`), so the top-k is exact.
"""

from __future__ import annotations

import numpy as np

from musicgraph.graph.results import Result
from musicgraph.retrieval.assembly import assemble, prepare
from musicgraph.retrieval.base import Retriever
from musicgraph.retrieval.request import Request
from musicgraph.retrieval.resources import GraphResources
from musicgraph.retrieval.text import tokenize

__all__ = ["BM25Retriever"]

#: Songs scored before lifting them to artists, albums or playlists.
POOL = 2000


class BM25Retriever(Retriever):
    """BM25 over the retrieval index's song documents.

    Args:
        resources: shared graph resources whose ``bundle`` holds the BM25 index.
    """

    name = "bm25"

    def __init__(self, resources: GraphResources):
        if resources.bundle is None or resources.bundle.sparse is None:
            raise FileNotFoundError("no BM25 index: run `musicgraph index build`")
        self.resources = resources
        self.index = resources.bundle.sparse

    def parse(self, text: str) -> Request:
        from musicgraph.retrieval.parser import RequestParser

        return RequestParser.for_resources(self.resources).parse(text)

    def song_scores(self, request: Request, mask: np.ndarray, pool: int) -> np.ndarray:
        """BM25 score per catalog row (0 for rows not among the ``pool`` best allowed ones)."""
        terms = request.terms or tokenize(request.text or "")
        out = np.zeros(len(mask))
        if not terms:
            return out
        for h in self.index.search(terms, k=pool, mask=mask):
            out[h.row] = max(float(h.score), 1e-9)
        return out

    def get_search_results(self, request: Request) -> list[Result]:
        res = self.resources
        prep = prepare(res, request)
        kind = request.kind
        if kind == "song":
            # a wider pool than k: equal scores at the cut are then ordered by row, as everywhere
            scores = self.song_scores(request, prep.mask, max(request.k * 4, request.k + 50))
        else:
            scores = res.space.from_songs(kind, self.song_scores(request, res.catalog.alive, POOL))
        selected = res.space.select(kind, scores, prep.mask, request.k, request.diversity.max_per_artist)
        return assemble(res, prep, selected, {"bm25": scores})
