"""BM25 alone over the song documents (title, artist, album, tags, genres, moods, lyrics).

Songs are ranked by BM25 over the request's terms (the parser's content words, or the text's
tokens); artist, album and playlist answers take their best song's score. Constraints, exclusions
and seeds are masked first (:func:`~musicgraph.retrieval.assembly.prepare`), so the top-k is exact.
"""

from __future__ import annotations

import numpy as np

from musicgraph.retrieval.base import SongScoreRetriever
from musicgraph.retrieval.request import Request
from musicgraph.retrieval.resources import GraphResources
from musicgraph.retrieval.text import tokenize

__all__ = ["BM25Retriever"]


class BM25Retriever(SongScoreRetriever):
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

    def song_scores(self, request: Request, mask: np.ndarray, pool: int) -> np.ndarray:
        """BM25 score per catalog row (0 for rows not among the ``pool`` best allowed ones)."""
        terms = request.terms or tokenize(request.text or "")
        out = np.zeros(len(mask))
        if not terms:
            return out
        for h in self.index.search(terms, k=pool, mask=mask):
            out[h.row] = max(float(h.score), 1e-9)
        return out
