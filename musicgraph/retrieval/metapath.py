"""Meta-path scoring: "fans of Y also listen to A" as an exact count over the listening graph.

A personalized PageRank from an artist spreads over every relationship (genres, tags, playlists,
listeners) and, through low-degree listeners, gives a lot of mass to artists that a single fan of
the seed happens to play. The question users ask with an artist seed ("like Y", "artists that fans
of Y also listen to", "artists similar to Y" when the catalog has no similarity edges) is a
*meta-path* question: ``Y <-LISTENED_TO- user -LISTENED_TO-> A``. Counting its instances, as
PathSim-style meta-path measures do, answers it directly:

* ``share(A | Y) = |fans(Y) ∩ fans(A)| / |fans(Y)|``: the fraction of Y's listeners who also listen
  to A (Last.fm's "fans also listen to"), for one or several (weighted) seed artists;
* a song inherits its main artist's share;
* the explanation is the meta-path instance itself, with the shared listener who plays both the
  most as the witness: ``Y ← listened to by ← user → listened to → A ← performed by ← S``.

Everything is sparse matrix arithmetic over the store's projection: one seed costs the summed
degree of its listeners (a few thousand multiply-adds on HetRec), not a walk over the whole graph.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from musicgraph.graph.projection import Projection
from musicgraph.graph.results import ExplanationPath
from musicgraph.graph.schema import Label, Rel

log = logging.getLogger(__name__)


def listening_matrices(
    projection: Projection, users: tuple[int, int], artists: tuple[int, int]
) -> tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix, sp.csr_matrix]:
    """The ``LISTENED_TO`` block between the node ranges ``users`` and ``artists`` of ``projection``:
    ``(W, L, LT, WT)``, play counts W (float32, users x artists), binary L, and the transposes (artists
    x users, sorted indices). Empty matrices of that shape when there is no listening."""
    (u_lo, u_hi), (a_lo, a_hi) = users, artists
    mat = projection.matrices.get(Rel.LISTENED_TO)
    n_users, n_artists = u_hi - u_lo, a_hi - a_lo
    if mat is None or mat.nnz == 0 or n_users == 0 or n_artists == 0:
        w = sp.csr_matrix((n_users, n_artists), dtype=np.float32)
    else:
        w = sp.csr_matrix(mat[u_lo:u_hi, a_lo:a_hi], dtype=np.float32)
        w.eliminate_zeros()
    binary = w.copy()
    binary.data[:] = 1.0
    binary_t = binary.T.tocsr()
    binary_t.sort_indices()
    w_t = w.T.tocsr()
    w_t.sort_indices()
    return w, binary, binary_t, w_t


class CoListening:
    """Artist–artist affinity through shared listeners over a :class:`Projection`.

    Args:
        projection: the graph projection (needs ``LISTENED_TO`` edges from users to artists).
        song_artist_nodes: optional, per catalog row the projection index of the song's main artist
            (-1 when unknown): enables :meth:`song_shares`.

    Attributes:
        available: whether the projection has listening data at all.
    """

    def __init__(self, projection: Projection, song_artist_nodes: np.ndarray | None = None):
        self.projection = projection
        self.u_lo, self.u_hi = projection.label_ranges.get(Label.USER, (0, 0))
        self.a_lo, self.a_hi = projection.label_ranges.get(Label.ARTIST, (0, 0))
        #: users x artists play counts, binary users x artists, and the transposes (artists x users)
        self.W, self.L, self.LT, self.WT = listening_matrices(projection, (self.u_lo, self.u_hi), (self.a_lo, self.a_hi))
        self.fans = np.diff(self.LT.indptr).astype(np.int64)
        self.available = self.W.nnz > 0
        self.song_artist_nodes = song_artist_nodes

    # ------------------------------------------------------------------ scores
    def _fans(self, a: int) -> np.ndarray:
        """Sorted user positions of artist position ``a`` (a CSR slice, no scipy indexing)."""
        return self.LT.indices[self.LT.indptr[a]:self.LT.indptr[a + 1]]

    def is_artist(self, node: int) -> bool:
        return self.a_lo <= node < self.a_hi

    def shares(self, seeds: Mapping[int, float]) -> np.ndarray:
        """Per artist (index ``node - a_lo``): weighted mean over the artist seeds of ``share(A | Y)``.

        Seeds that are not artists, or have no listeners, are ignored; the seeds themselves get 0.
        """
        out = np.zeros(self.a_hi - self.a_lo, dtype=np.float64)
        total = 0.0
        for node, w in seeds.items():
            if not self.is_artist(node) or w <= 0:
                continue
            y = node - self.a_lo
            n_fans = self.fans[y]
            if n_fans == 0:
                continue
            users = self._fans(y)
            ptr = self.L.indptr
            listened = np.concatenate([self.L.indices[ptr[u]:ptr[u + 1]] for u in users.tolist()])
            common = np.bincount(listened, minlength=self.a_hi - self.a_lo)  # shared listeners per artist
            out += w * common / n_fans
            total += w
        if total > 0:
            out /= total
        for node in seeds:
            if self.is_artist(node):
                out[node - self.a_lo] = 0.0
        return out

    def song_shares(self, seeds: Mapping[int, float]) -> np.ndarray:
        """Per catalog row: the co-listening share of the song's main artist (see :meth:`shares`)."""
        if self.song_artist_nodes is None:
            raise RuntimeError("CoListening.song_shares needs song_artist_nodes")
        art = self.shares(seeds)
        nodes = self.song_artist_nodes
        out = np.zeros(len(nodes), dtype=np.float64)
        ok = (nodes >= self.a_lo) & (nodes < self.a_hi)
        out[ok] = art[nodes[ok] - self.a_lo]
        return out

    def pair_share(self, seed: int, artist: int) -> float:
        """``share(artist | seed)`` for one pair (a sorted-index intersection, no full vector)."""
        fy = self._fans(seed - self.a_lo)
        if len(fy) == 0:
            return 0.0
        fa = self._fans(artist - self.a_lo)
        return len(np.intersect1d(fy, fa, assume_unique=True)) / len(fy)

    # ------------------------------------------------------------ explanation
    def witness(self, seed: int, artist: int) -> int | None:
        """The listener of both artists who plays them most (max of the smaller play count), as a node index."""
        if not (self.is_artist(seed) and self.is_artist(artist)):
            return None
        wt = self.WT

        def row(a: int) -> tuple[np.ndarray, np.ndarray]:
            lo, hi = wt.indptr[a], wt.indptr[a + 1]
            return wt.indices[lo:hi], wt.data[lo:hi]

        uy, wy = row(seed - self.a_lo)
        ua, wa = row(artist - self.a_lo)
        common, iy, ia = np.intersect1d(uy, ua, assume_unique=True, return_indices=True)
        if len(common) == 0:
            return None
        strength = np.minimum(wy[iy], wa[ia])
        best = int(common[np.lexsort((common, -strength))[0]])
        return self.u_lo + best

    def path(self, seeds: Sequence[int], song: int, artist: int | None) -> ExplanationPath | None:
        """``Y <-LISTENED_TO- u -LISTENED_TO-> A <-PERFORMED_BY- S`` for the seed sharing most fans with A.

        ``song`` is the song's projection index and ``artist`` its main artist's (None: a path that
        ends at the artist would be the caller's business). Returns None when no seed shares a listener.
        """
        if artist is None or not self.is_artist(artist):
            return None
        best: tuple[float, int, int] | None = None
        for y in seeds:
            if not self.is_artist(y) or y == artist or self.fans[y - self.a_lo] == 0:
                continue
            share = self.pair_share(y, artist)
            if share > 0 and (best is None or share > best[0]):
                best = (share, y, 0)
        if best is None:
            return None
        share, y, _ = best
        u = self.witness(y, artist)
        if u is None:
            return None
        proj = self.projection
        nodes = [y, u, artist, song]
        return ExplanationPath(
            nodes=[proj.ref(i) for i in nodes],
            names=[str(proj.names[i]) for i in nodes],
            rels=[f"<-{Rel.LISTENED_TO}", Rel.LISTENED_TO, f"<-{Rel.PERFORMED_BY}"],
            score=share,
        )


def label_nodes(projection: Projection, label: str, keys: Sequence[str]) -> np.ndarray:
    """Per key, the projection index of node ``(label, key)`` (-1 when absent or the key is empty).

    The answers of :meth:`Projection.index` for a whole column (a catalog's song or artist keys) from
    the projection's shared :meth:`~Projection.key_table` instead of a call per key.
    """
    table = projection.key_table(label)
    return np.fromiter((table.get(k, -1) if k else -1 for k in keys), dtype=np.int64, count=len(keys))


def song_artist_nodes(projection: Projection, artist_keys: Sequence[str]) -> np.ndarray:
    """Per catalog row, the projection index of its main artist (-1 when absent)."""
    return label_nodes(projection, Label.ARTIST, artist_keys)


__all__ = ["CoListening", "label_nodes", "song_artist_nodes"]
