"""Dense retrieval alone: the request's text embedded (MiniLM) against the songs' vectors (FAISS).

Songs are ranked by cosine similarity to the embedded request; artist, album and playlist answers
take their best song's. The FAISS search runs over allowed rows only (ID selection or exact brute
force inside :class:`~musicgraph.retrieval.dense.DenseIndex`), so the top-k under constraints is exact.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from musicgraph.retrieval.base import SongScoreRetriever
from musicgraph.retrieval.request import Request
from musicgraph.retrieval.resources import GraphResources

__all__ = ["DenseRetriever"]


class DenseRetriever(SongScoreRetriever):
    """Cosine similarity of the embedded request to the dense index.

    Args:
        resources: shared graph resources whose ``bundle`` holds the dense index.
        encoder: the query encoder (default MiniLM, loaded on first use).
    """

    name = "dense"

    def __init__(self, resources: GraphResources, encoder: Any = None):
        if resources.bundle is None or resources.bundle.dense is None:
            raise FileNotFoundError("no dense index: run `musicgraph index build` (with --dense)")
        self.resources = resources
        self.index = resources.bundle.dense
        self._encoder = encoder

    @property
    def encoder(self) -> Any:
        """The query encoder, loaded on first use."""
        if self._encoder is None:
            from musicgraph.retrieval.encoder import Encoder

            self._encoder = Encoder()
        return self._encoder

    def song_scores(self, request: Request, mask: np.ndarray, pool: int) -> np.ndarray:
        """Similarity per catalog row shifted to (0, 2] (0 for rows outside the ``pool`` best allowed)."""
        text = request.dense_text or request.text or ""
        out = np.zeros(len(mask))
        if not text.strip() or not mask.any():
            return out
        enc = self.encoder
        vec = enc.encode_query(text) if hasattr(enc, "encode_query") else enc.encode([text])[0]
        scores, rows = self.index.search(np.asarray(vec, dtype=np.float32)[None, :], k=pool, mask=mask)
        ok = rows[0] >= 0
        out[rows[0][ok]] = np.maximum(scores[0][ok] + 1.0, 1e-9)
        return out
