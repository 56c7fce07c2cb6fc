"""The retriever interface: every retriever answers a :class:`~musicgraph.retrieval.request.Request`.

Shaped like neo4j-graphrag's ``Retriever``: :meth:`Retriever.search` validates its input (a
:class:`Request`, a mapping in its JSON form, or free text that the retriever's parser turns into
one) and calls the implementation's :meth:`Retriever.get_search_results`. Implementations, one file
each: :class:`~musicgraph.retrieval.graph_retriever.GraphRetriever` (relation operators over the
graph), :class:`~musicgraph.retrieval.bm25_retriever.BM25Retriever`,
:class:`~musicgraph.retrieval.dense_retriever.DenseRetriever`,
:class:`~musicgraph.retrieval.gnn_retriever.GNNRetriever` and
:class:`~musicgraph.retrieval.hybrid.HybridRetriever` (which fuses them).

Every implementation keeps the same contract (``tests/retrieval/test_retriever_contract.py``):
constraints filter before the top-k, which stays exact; at most ``k`` results, fewer only when
fewer answers satisfy the constraints; the per-artist cap never returns fewer than ``k`` when
enough answers exist; seeds and a seed user's known items are excluded unless asked for; every
result has the requested kind.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from musicgraph.graph.results import Result
from musicgraph.retrieval.request import Request, parse_request

if TYPE_CHECKING:
    from musicgraph.retrieval.resources import GraphResources

__all__ = ["Retriever", "SongScoreRetriever"]

#: Songs a :class:`SongScoreRetriever` scores before lifting them to artists, albums or playlists.
SONG_POOL = 2000


class Retriever(ABC):
    """A source of ranked results for a :class:`Request`.

    Subclasses set :attr:`name` and implement :meth:`get_search_results`; :attr:`kinds` lists the
    output kinds they can return (all four by default).
    """

    name: ClassVar[str] = "retriever"
    kinds: ClassVar[frozenset[str]] = frozenset({"song", "artist", "album", "playlist"})

    def search(self, request: Request | Mapping[str, Any] | str, **changes: Any) -> list[Result]:
        """Validate ``request`` (free text is parsed), apply ``changes`` (``k=20``), and search.

        Raises:
            RequestError: an invalid request (one line naming the field).
            UnknownEntityError: a seed or exclusion that is not in the graph.
        """
        req = self.parse(request) if isinstance(request, str) else parse_request(request)
        if changes:
            req = req.with_(**changes)
        return self.get_search_results(req)

    def parse(self, text: str) -> Request:
        """The request that ``text`` describes (retrievers with a parser override this)."""
        from musicgraph.retrieval.parser import text_only_request

        return text_only_request(text)

    @abstractmethod
    def get_search_results(self, request: Request) -> list[Result]:
        """The top ``request.k`` results of ``request.kind`` (see the module docstring)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class SongScoreRetriever(Retriever):
    """A retriever driven by one score per catalog song (BM25, dense similarity).

    Subclasses implement :meth:`song_scores`. Songs are ranked by it over the allowed rows (a pool
    wider than ``k``, so equal scores at the cut are ordered by row, as everywhere); artist, album and
    playlist answers take their best song's score. Constraints, exclusions and seeds are masked first
    (:func:`~musicgraph.retrieval.assembly.prepare`), so the top-k is exact.
    """

    resources: GraphResources

    def parse(self, text: str) -> Request:
        from musicgraph.retrieval.parser import RequestParser

        return RequestParser.for_resources(self.resources).parse(text)

    @abstractmethod
    def song_scores(self, request: Request, mask: np.ndarray, pool: int) -> np.ndarray:
        """A positive score per catalog row among the ``pool`` best rows allowed by ``mask``, else 0."""

    def get_search_results(self, request: Request) -> list[Result]:
        from musicgraph.retrieval.assembly import assemble, prepare

        res = self.resources
        prep = prepare(res, request)
        kind = request.kind
        if kind == "song":
            scores = self.song_scores(request, prep.mask, max(request.k * 4, request.k + 50))
        else:
            scores = res.space.from_songs(kind, self.song_scores(request, res.catalog.alive, SONG_POOL))
        selected = res.space.select(kind, scores, prep.mask, request.k, request.diversity.max_per_artist)
        return assemble(res, prep, selected, {self.name: scores})
