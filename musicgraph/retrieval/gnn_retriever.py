"""Graph-embedding retrieval: answers ranked by the cosine of their GNN vectors to the seeds'.

The vectors come from a trained model (``musicgraph gnn train`` then ``gnn embed``, read through
:class:`~musicgraph.gnn.embed.GnnIndex`), or are passed in directly (held-out evaluation trains on
the visible listeners only). A request's seed vector is the weighted mean of its seeds' vectors
(a song seed uses its artist's when songs have none); artists are scored by cosine, songs and
albums inherit their artist's score, and a user seed scores artists by the model's user-artist dot
product. Seeds without a vector make the request unanswerable by this retriever (no results).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from musicgraph.graph.results import Result
from musicgraph.graph.schema import Label
from musicgraph.retrieval.assembly import assemble, prepare
from musicgraph.retrieval.base import Retriever
from musicgraph.retrieval.request import Request
from musicgraph.retrieval.resources import GraphResources

__all__ = ["GNNRetriever"]


class GNNRetriever(Retriever):
    """Nearest neighbours in the GNN embedding space.

    Args:
        resources: shared graph resources.
        vectors: ``{label: (keys, array)}`` (default: read from the GNN index of the store).
    """

    name = "gnn"

    def __init__(self, resources: GraphResources, vectors: Mapping[str, tuple[Sequence[str], np.ndarray]] | None = None):
        self.resources = resources
        if vectors is None:
            vectors = _vectors_from_index()
        space = resources.space
        self.artist = np.zeros((space.n("artist"), 0), dtype=np.float32)
        self.user: dict[str, np.ndarray] = {}
        keys, arr = vectors.get(Label.ARTIST, ([], np.zeros((0, 0), dtype=np.float32)))
        if len(keys) == 0:
            raise FileNotFoundError("the GNN embeddings have no artist vectors: run `musicgraph gnn train` and `gnn embed`")
        dim = arr.shape[1]
        self.artist = np.zeros((space.n("artist"), dim), dtype=np.float32)
        self.has_vector = np.zeros(space.n("artist"), dtype=bool)
        proj = space.projection
        for key, vec in zip(keys, arr, strict=True):
            idx = proj.index(Label.ARTIST, str(key))
            if idx is not None:
                self.artist[idx - space.a_lo] = vec
                self.has_vector[idx - space.a_lo] = True
        norms = np.linalg.norm(self.artist, axis=1, keepdims=True)
        self.artist_unit = self.artist / np.maximum(norms, 1e-12)
        ukeys, uarr = vectors.get(Label.USER, ([], np.zeros((0, dim), dtype=np.float32)))
        self.user = {str(k): v for k, v in zip(ukeys, uarr, strict=True)}

    def parse(self, text: str) -> Request:
        from musicgraph.retrieval.parser import RequestParser

        return RequestParser.for_resources(self.resources).parse(text)

    def artist_scores(self, request: Request, seeds: Sequence[tuple[int, float]]) -> np.ndarray:
        """Per artist item, the score from the seeds (0 where an artist has no vector)."""
        space = self.resources.space
        proj = space.projection
        total = np.zeros(space.n("artist"))
        weight = 0.0
        for node, w in seeds:
            label = proj.label_of(node)
            if label == Label.USER:
                vec = self.user.get(str(proj.keys[node]))
                if vec is not None:
                    total += w * (self.artist @ vec)
                    weight += w
                continue
            a = None
            if label == Label.ARTIST:
                a = node - space.a_lo
            elif label == Label.SONG:
                row = space.item_of_node("song", node)
                a = int(space.song_artist[row]) if row is not None and space.song_artist[row] >= 0 else None
            if a is not None and self.has_vector[a]:
                total += w * (self.artist_unit @ self.artist_unit[a])
                weight += w
        if weight == 0:
            return np.zeros(space.n("artist"))
        out = total / weight
        out = out - out[self.has_vector].min(initial=0.0) + 1e-6  # positive for every embedded artist
        return np.where(self.has_vector, out, 0.0)

    def get_search_results(self, request: Request) -> list[Result]:
        res = self.resources
        prep = prepare(res, request)
        seeds = [(sn.node, sn.seed.weight) for sn in prep.seeds]
        artist = self.artist_scores(request, seeds)
        scores = res.space.from_artists(request.kind, artist)
        cap = request.diversity.max_per_artist
        if cap is None and request.kind in ("song", "album"):
            cap = 2
        selected = res.space.select(request.kind, scores, prep.mask, request.k, cap)
        return assemble(res, prep, selected, {"gnn": scores})


def _vectors_from_index() -> dict[str, tuple[list[str], np.ndarray]]:
    from musicgraph.gnn.embed import GnnIndex

    idx = GnnIndex.load()
    out: dict[str, tuple[list[str], list[np.ndarray]]] = {}
    for ref, pos in idx.pos.items():
        label, key = ref
        keys, vecs = out.setdefault(label, ([], []))
        keys.append(key)
        vecs.append(idx.index.reconstruct(pos))
    return {label: (keys, np.stack(vecs).astype(np.float32)) for label, (keys, vecs) in out.items()}
