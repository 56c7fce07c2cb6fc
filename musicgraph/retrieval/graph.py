"""The PPR engine of retrieval: personalized PageRank walks over the projection, cached and fast.

(Entity linking lives in :mod:`musicgraph.retrieval.linking`; the relation operators that use these
walks where no meta-path fits are in :mod:`musicgraph.retrieval.operators`.)

:class:`GraphComponent` runs the foundation's personalized PageRank
(:class:`musicgraph.graph.multihop.MultiHopScorer`) from the linked seeds (and the user, when
given) and reports each song's score with its best explanation paths. For artist seeds it blends in
the co-listening meta-path (:class:`musicgraph.retrieval.metapath.CoListening`: the share of the
seed's listeners who also play a song's artist), which answers "like Y" / "fans of Y also listen
to" directly where the walk dilutes it, and explains such songs with that meta-path.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from musicgraph.graph.projection import Projection
from musicgraph.graph.results import ExplanationPath
from musicgraph.graph.schema import Label, Rel
from musicgraph.retrieval.catalog import SongTable
from musicgraph.retrieval.metapath import CoListening, label_nodes, song_artist_nodes

log = logging.getLogger(__name__)

#: Restart weight of a seed by label (tags are noisier than named artists).
SEED_WEIGHTS: dict[str, float] = {
    Label.ARTIST: 1.0,
    Label.SONG: 1.0,
    Label.MOOD: 0.8,
    Label.GENRE: 0.6,
    Label.TAG: 0.5,
    Label.USER: 1.0,
}
@dataclass(slots=True)
class GraphScores:
    """Graph scores of catalog rows for one request, with what is needed to explain them."""

    scores: np.ndarray  # per catalog row, 0 where unreached
    ppr: np.ndarray | None
    seed_index: dict[int, float]


@dataclass(slots=True)
class WalkMatrices:
    """The float32 operators of :meth:`GraphComponent._walk`, in the walk's own numbering.

    Attributes:
        PT: the transposed transition matrix (original numbering; the plain walk's operator).
        P32: the transition matrix (rows = out-edges), original numbering.
        perm, inv: position ``i`` of the walk's numbering holds node ``perm[i]``; ``inv`` inverts it
            (both None without reordering).
        PTw, P32w: ``PT`` and ``P32`` renumbered (the same objects without reordering).
        row_nnz: out-edges per row of ``P32w``.
        dangling_w: the dangling nodes' positions in the walk's numbering.
    """

    PT: sp.csr_matrix
    P32: sp.csr_matrix
    perm: np.ndarray | None
    inv: np.ndarray | None
    PTw: sp.csr_matrix
    P32w: sp.csr_matrix
    row_nnz: np.ndarray
    dangling_w: np.ndarray


def _positions(m: WalkMatrices, rows: tuple[int, int]) -> np.ndarray:
    """Where nodes ``lo:hi`` (original numbering) stand in the walk's numbering, in that order."""
    return np.arange(rows[0], rows[1]) if m.inv is None else m.inv[rows[0]:rows[1]]


class GraphComponent:
    """Multi-hop scoring from linked seeds over the store's projection.

    Args:
        projection: the graph projection.
        catalog: the song catalog (rows are mapped to projection indexes by key).
        hidden_moods: song keys whose HAS_MOOD edges are removed first (held-out evaluation).
        hidden_users: user keys whose LISTENED_TO edges are removed first (held-out evaluation).
        max_iter, tol: power-iteration limits (fewer than the foundation's defaults: a ranking, not
            converged probabilities, is needed).
        popularity_damping: scores are divided by ``degree ** popularity_damping``.
        colisten_weight: for requests whose seeds are entities including artists, the weight of the
            co-listening share in ``weight * share / max(share) + (1 - weight) * ppr / max(ppr)``
            (0 turns it off; the walk still scores songs whose artists have no listening data).
        cache_size: walks kept per seed group (least recently used first out; 0 = none). A walk
            depends only on its normalized seed weights, so a repeated group (the mood node of
            "sad ...", a tag) is a dictionary look-up; :meth:`warm_up` walks every mood node ahead.
        sparse_fraction: early walk steps whose mass sits on rows holding less than this share of
            the edges propagate from those rows only (the first two or three hops from a few
            seeds) instead of a full sparse matrix-vector product (0 = always the full product).
        reorder: walk on a copy of the graph with nodes renumbered by decreasing degree (hubs first:
            their entries of the walk vector stay in cache), which makes each sparse product about
            40% cheaper. Every row keeps its entries in the original order, so each sum is taken
            in the same order and the mapped-back vectors are bit-for-bit the plain walk's.
    """

    def __init__(
        self,
        projection: Projection,
        catalog: SongTable,
        hidden_moods: Collection[str] = (),
        hidden_users: Collection[str] = (),
        rel_weights: Mapping[str, float] | None = None,
        max_iter: int = 10,
        tol: float = 1e-4,
        popularity_damping: float = 0.3,
        colisten_weight: float = 0.95,
        cache_size: int = 64,
        sparse_fraction: float = 0.25,
        reorder: bool = True,
    ):
        from musicgraph.graph.multihop import MultiHopScorer

        if hidden_moods:
            projection = _without_edges(projection, Rel.HAS_MOOD, Label.SONG, hidden_moods)
        if hidden_users:
            projection = _without_edges(projection, Rel.LISTENED_TO, Label.USER, hidden_users)
        self.projection = projection
        self.scorer = MultiHopScorer(projection, rel_weights, max_iter=max_iter, tol=tol)
        self.max_iter, self.tol = max_iter, tol
        self._reorder = reorder
        self._matrices: WalkMatrices | None = None  # built on the first walk (many requests never walk)
        self.cache_size = cache_size
        self.sparse_fraction = sparse_fraction
        self._walks: OrderedDict[tuple[tuple[int, float], ...], np.ndarray] = OrderedDict()
        self._walk_lock = threading.Lock()
        #: rows (lo, hi) -> those rows of the walk's operator (:meth:`_rows_operator`)
        self._row_ops: dict[tuple[int, int], sp.csr_matrix] = {}
        #: cache hits and uncached walks so far
        self.walk_stats = {"hits": 0, "walks": 0}
        self.popularity_damping = popularity_damping
        lo, hi = projection.label_ranges.get(Label.SONG, (0, 0))
        self._song_lo, self._song_hi = lo, hi
        self.row_to_node = label_nodes(projection, Label.SONG, catalog.keys)
        ok_rows = np.flatnonzero(self.row_to_node >= 0)
        self.node_to_row = dict(zip(self.row_to_node[ok_rows].tolist(), ok_rows.tolist(), strict=True))
        self.colisten = CoListening(projection, song_artist_nodes(projection, catalog.artist_keys))
        self.colisten_weight = float(colisten_weight)
        self._deg_damp = np.power(np.maximum(self.scorer.degree, 1e-12), popularity_damping)
        # a tie-breaker far below score differences: among equally reached songs (all songs of one
        # mood label, say), the better-connected ones (more playlists, albums, sources) come first
        # (own degree, then the summed degree of its neighbours: a song by a widely played artist
        # before an obscure one)
        deg = self.scorer.degree
        second = deg * (self.scorer.P @ deg)
        prior = np.log1p(deg) / max(float(np.log1p(deg).max()), 1e-12) + np.log1p(second) / max(
            float(np.log1p(second).max()), 1e-12)
        self._tiebreak = 1.0 + 5e-4 * prior
        ok = self.row_to_node >= 0
        self._ok_rows = np.flatnonzero(ok)
        self._ok_nodes = self.row_to_node[ok]
        self._ok_damp = self._deg_damp[self._ok_nodes]
        self._ok_tiebreak = self._tiebreak[self._ok_nodes]

    def walk_matrices(self) -> WalkMatrices:
        """The walk's operators (:class:`WalkMatrices`), built on first use (once, thread-safe)."""
        mats = self._matrices
        if mats is not None:
            return mats
        with self._walk_lock:
            if self._matrices is None:
                sc = self.scorer
                PT = sc.PT.astype(np.float32)
                #: rows = out-edges: the early, local steps of a walk read only the rows holding mass
                P32 = sc.P.astype(np.float32).tocsr()
                dangling = np.flatnonzero(sc.dangling)
                n_nodes = self.projection.num_nodes
                if self._reorder and n_nodes:  # the walk's own numbering (see ``reorder``)
                    perm = np.argsort(-np.diff(PT.indptr), kind="stable")
                    inv = np.empty_like(perm)
                    inv[perm] = np.arange(n_nodes)
                    PTw, P32w = _relabel(PT, perm, inv), _relabel(P32, perm, inv)
                    self._matrices = WalkMatrices(PT, P32, perm, inv, PTw, P32w, np.diff(P32w.indptr), inv[dangling])
                else:
                    self._matrices = WalkMatrices(PT, P32, None, None, PT, P32, np.diff(P32.indptr), dangling)
            return self._matrices

    def clear_walks(self, keep_moods: bool = True) -> None:
        """Empty the walk cache (``keep_moods``: except the single-mood walks of :meth:`warm_up`)."""
        lo, hi = self.projection.label_ranges.get(Label.MOOD, (0, 0))
        with self._walk_lock:
            for key in list(self._walks):
                if not (keep_moods and len(key) == 1 and lo <= key[0][0] < hi):
                    del self._walks[key]

    def warm_up(self) -> None:
        """Walk every mood node once (cached) and build the explanation look-up tables."""
        lo, hi = self.projection.label_ranges.get(Label.MOOD, (0, 0))
        for idx in range(lo, hi):
            self._ppr({idx: 1.0})
        if self.projection.num_nodes:
            self.scorer._rel_table()

    def seed_indexes(self, seeds: Sequence[Any], user: str | None = None, moods: Sequence[str] = ()) -> dict[int, float]:
        """Projection indexes (with restart weights) of the seeds, the user and the mood nodes."""
        out: dict[int, float] = {}
        for seed in seeds:
            idx = self.projection.index(seed.label, seed.key)
            if idx is not None:
                out[idx] = out.get(idx, 0.0) + SEED_WEIGHTS.get(seed.label, 0.5) * seed.score
        for mood in moods:
            idx = self.projection.index(Label.MOOD, mood)
            if idx is not None:
                out[idx] = out.get(idx, 0.0) + SEED_WEIGHTS[Label.MOOD]
        if user is not None:
            from musicgraph.graph.resolve import user_key

            idx = self.projection.index(Label.USER, user_key(user))
            if idx is None:
                raise LookupError(f"unknown user {user!r} (expected e.g. 'hetrec:2')")
            out[idx] = out.get(idx, 0.0) + SEED_WEIGHTS[Label.USER]
        return out

    def _groups(self, seed_index: Mapping[int, float]) -> list[dict[int, float]]:
        """Seeds split into constraint groups: entities (artists, songs, users...), tags/genres, moods."""
        groups: dict[str, dict[int, float]] = {}
        ranges = self.projection.label_ranges
        for idx, w in seed_index.items():
            label = next((lab for lab, (lo, hi) in ranges.items() if lo <= idx < hi), "")
            kind = "attr" if label in (Label.TAG, Label.GENRE) else "mood" if label == Label.MOOD else "entity"
            groups.setdefault(kind, {})[idx] = w
        return list(groups.values())

    def score(self, seed_index: Mapping[int, float], conjunctive: bool = True) -> GraphScores:
        """Damped PPR score of every catalog row from ``seed_index``.

        With seeds of several kinds (an artist and a tag, say) and ``conjunctive``, each kind gets its
        own walk and a row's score is the geometric mean of its damped scores: an answer must be close
        to the artist *and* to the tag or mood, instead of close to either (one walk restarting at all
        seeds is dominated by whichever seed fans out least).
        """
        n = len(self.row_to_node)
        if not seed_index:
            return GraphScores(np.zeros(n, dtype=np.float32), None, {})
        groups = self._groups(seed_index) if conjunctive else [dict(seed_index)]
        if len(groups) > 1:
            parts = [self.score(g, conjunctive=False) for g in groups]
            combined = np.ones(n, dtype=np.float64)
            for part in parts:
                combined *= np.maximum(part.scores.astype(np.float64), 0.0)
            combined = np.power(combined, 1.0 / len(parts))
            ppr = np.mean([p.ppr for p in parts if p.ppr is not None], axis=0)
            ppr.setflags(write=False)  # shared by every explanation of this request
            return GraphScores(combined.astype(np.float32), ppr, dict(seed_index))
        r = self._ppr(seed_index)
        scores = np.zeros(n, dtype=np.float64)
        scores[self._ok_rows] = r[self._ok_nodes] / self._ok_damp * self._ok_tiebreak
        scores = self._blend_colistening(scores, seed_index)
        for idx in seed_index:  # a seed is not its own recommendation
            row = self.node_to_row.get(int(idx))
            if row is not None:
                scores[row] = 0.0
        return GraphScores(scores.astype(np.float32), r, dict(seed_index))

    def _colisten_seeds(self, seed_index: Mapping[int, float]) -> dict[int, float]:
        """The artist seeds of an all-entity seed set (empty when co-listening does not apply).

        A seed set that mixes artists with tags, genres or moods in one walk (a non-conjunctive call)
        is left to the walk: the co-listening share would drown the other constraints.
        """
        if self.colisten_weight <= 0 or not self.colisten.available:
            return {}
        ranges = self.projection.label_ranges
        attrs = [ranges.get(lab, (0, 0)) for lab in (Label.TAG, Label.GENRE, Label.MOOD)]
        if any(lo <= i < hi for i in seed_index for lo, hi in attrs):
            return {}
        return {i: w for i, w in seed_index.items() if self.colisten.is_artist(i)}

    def _blend_colistening(self, scores: np.ndarray, seed_index: Mapping[int, float]) -> np.ndarray:
        """``weight * share / max(share) + (1 - weight) * scores / max(scores)`` for artist seeds."""
        arts = self._colisten_seeds(seed_index)
        if not arts:
            return scores
        share = self.colisten.song_shares(arts)
        top = float(share.max())
        if top <= 0:
            return scores
        m = float(scores.max())
        w = self.colisten_weight
        return w * share / top + (1.0 - w) * (scores / m if m > 0 else scores)

    def _ppr(self, seed_index: Mapping[int, float], rows: tuple[int, int] | None = None) -> np.ndarray:
        """The foundation's PPR iteration (restart, dangling mass back to the seeds) in float32.

        Cached per normalized seed group (see ``cache_size``); the returned array is shared with the
        cache and read-only. With ``rows = (lo, hi)`` only ``r[lo:hi]`` is returned (bit for bit the
        same values): the last step then multiplies only those rows (:meth:`_walk`), and a full walk
        of the same seeds already in the cache answers by slicing.
        """
        total = float(sum(seed_index.values()))
        key = tuple(sorted((int(i), float(w) / total) for i, w in seed_index.items())) if total > 0 else ()
        cached = self.cache_size > 0 and bool(key)
        slice_key = (*key, ("rows", *rows)) if rows is not None else key
        if cached:
            with self._walk_lock:
                hit = self._walks.get(slice_key)
                if hit is None and rows is not None:
                    full = self._walks.get(key)
                    hit = full[rows[0]:rows[1]] if full is not None else None
                    key_hit = key
                else:
                    key_hit = slice_key
                if hit is not None:
                    self._walks.move_to_end(key_hit)
                    self.walk_stats["hits"] += 1
                    return hit
        r = self._walk(seed_index, rows)
        if cached:
            r.setflags(write=False)
            with self._walk_lock:
                self._walks[slice_key] = r
                while len(self._walks) > self.cache_size:
                    self._walks.popitem(last=False)
        return r

    def _rows_operator(self, rows: tuple[int, int]) -> sp.csr_matrix:
        """The rows ``lo:hi`` (original numbering, in that order) of the walk's operator, built once.

        Each row keeps its entries in the walk matrix's order, so its products are the full
        product's entries bit for bit.
        """
        op = self._row_ops.get(rows)
        if op is None:
            m = self.walk_matrices()
            op = m.PTw[_positions(m, rows)]
            op.has_sorted_indices = False  # keep the entry order (no re-sorting before a product)
            self._row_ops[rows] = op
        return op

    def _walk(self, seed_index: Mapping[int, float], rows: tuple[int, int] | None = None) -> np.ndarray:
        """One uncached walk: ``max_iter`` steps (or until the L1 change is below ``tol``), float32.

        Bit for bit the plain power iteration (``r <- damp * P^T r + (restart + damp * dangling) s``,
        one full product per step), computed with less work: early steps whose mass sits on few rows
        push it from those rows only (``sparse_fraction``); the L1 change, needed only to decide
        whether to stop, is summed only when the seeds' own entries do not already exceed ``tol``
        (a sum of non-negative floats is at least each of its terms, so that decides it the same
        way); the last step's change is not computed at all; and with ``rows`` only those rows of
        the last step are multiplied.
        """
        sc = self.scorer
        m = self.walk_matrices()
        perm, inv = m.perm, m.inv
        self.walk_stats["walks"] += 1
        n = self.projection.num_nodes
        single = len(seed_index) == 1 and 0 < np.float32(next(iter(seed_index.values()))) < np.inf
        s = np.zeros(n, dtype=np.float32)
        if single:  # w / w: exactly one at the seed, as the general normalization gives
            (idx,) = seed_index
            s[int(idx) if inv is None else int(inv[int(idx)])] = 1.0
        else:
            for idx, w in seed_index.items():
                s[idx] += w
            s /= s.sum()  # normalized in the original numbering: the same rounding as the plain walk
            if perm is not None:
                s = s[perm]
        r = s.copy()
        damp = np.float32(1.0 - sc.restart)
        restart = np.float32(sc.restart)
        budget = self.sparse_fraction * m.P32w.nnz
        seeds = np.flatnonzero(s)
        s_seeds = s[seeds]
        support: np.ndarray | None = seeds if perm is None else inv[np.sort(perm[seeds])]
        if support is not None and not m.row_nnz[support].sum() < budget:
            support = None
        diff = np.empty_like(r)
        last = self.max_iter - 1
        for it in range(self.max_iter):
            dangling = r[m.dangling_w].sum() if len(m.dangling_w) else np.float32(0.0)
            if it == last and rows is not None and support is None:
                # only rows lo:hi of the last step are wanted
                step = self._rows_operator(rows) @ r
                step = np.multiply(step, damp, out=step)
                orig = seeds if perm is None else perm[seeds]
                inside = (orig >= rows[0]) & (orig < rows[1])
                step[orig[inside] - rows[0]] += (restart + damp * dangling) * s_seeds[inside]
                return step.astype(np.float64)
            if support is not None:
                # few rows hold all the mass: push it along their out-edges only
                step = m.P32w[support].T @ r[support]
            else:
                step = m.PTw @ r
            # r_next = damp * step + (restart + damp * dangling) * s, with s nonzero at the seeds only
            r_next = np.multiply(step, damp, out=step)
            r_next[seeds] += (restart + damp * dangling) * s_seeds
            stop = False
            if it < last and float(np.abs(r_next[seeds] - r[seeds]).max(initial=0.0)) < self.tol:
                np.subtract(r_next, r, out=diff)
                stop = float(np.abs(diff, out=diff).sum()) < self.tol
            r = r_next
            if support is not None:
                held = r != 0
                # the rows' edge count first: listing a large scattered support costs more than a product
                if not int(np.dot(m.row_nnz, held)) < budget:
                    support = None
                else:  # in original node order: contributions summed as in the plain walk
                    nz = np.flatnonzero(held)
                    support = nz if perm is None else inv[np.sort(perm[nz])]
            if stop:
                break
        if rows is not None:
            return r[_positions(m, rows)].astype(np.float64)
        return (r if inv is None else r[inv]).astype(np.float64)

    def known_rows(self, seed_index: Mapping[int, float]) -> set[int]:
        """Catalog rows a user already "has" per the foundation (listened artists' songs, seeds)."""
        from musicgraph.graph.multihop import known_items

        user_lo, user_hi = self.projection.label_ranges.get(Label.USER, (0, 0))
        users = [i for i in seed_index if user_lo <= i < user_hi]
        songs = [i for i in seed_index if self._song_lo <= i < self._song_hi]
        known = known_items(self.scorer, users + songs, "song") if users or songs else set()
        return {self.node_to_row[i] for i in known if i in self.node_to_row}

    def paths(self, gs: GraphScores, row: int, top: int = 2) -> list[ExplanationPath]:
        """The best explanation paths (at most three hops) from the seeds to catalog row ``row``."""
        node = int(self.row_to_node[row])
        if node < 0 or not gs.seed_index or gs.scores[row] <= 0:
            return []
        groups = self._groups(gs.seed_index)
        if len(groups) > 1:
            # conjunctive scores: explain each constraint (the artist side and the tag/mood side)
            out: list[ExplanationPath] = []
            for group in groups:
                meta = self._colisten_path(group, row, node)
                if meta is not None:  # the artist side was scored by co-listening: that is its reason
                    out.append(meta)
                    continue
                g_seeds = sorted(group, key=lambda i: -group[i])[:4]
                found = self.scorer.paths(g_seeds, node, max_hops=3, top=1, relevance=gs.ppr, prefer_short=True)
                out += found
            return out[: max(top, len(groups))]
        meta = self._colisten_path(gs.seed_index, row, node)
        if meta is not None:
            rest = self._walk_paths(gs, node, top)
            return [meta, *[p for p in rest if p.nodes != meta.nodes]][:top]
        return self._walk_paths(gs, node, top)

    def _colisten_path(self, group: Mapping[int, float], row: int, node: int) -> ExplanationPath | None:
        arts = self._colisten_seeds(group)
        if not arts:
            return None
        artist = int(self.colisten.song_artist_nodes[row])
        return self.colisten.path(sorted(arts, key=lambda i: -arts[i]), node, artist if artist >= 0 else None)

    def _walk_paths(self, gs: GraphScores, node: int, top: int) -> list[ExplanationPath]:
        seeds = sorted(gs.seed_index, key=lambda i: -gs.seed_index[i])[:4]
        # short paths first: the 3-hop search is the expensive one and rarely needed
        return self.scorer.paths(seeds, node, max_hops=3, top=top, relevance=gs.ppr, prefer_short=True)


def _relabel(mat: sp.csr_matrix, perm: np.ndarray, inv: np.ndarray) -> sp.csr_matrix:
    """``mat`` with rows and columns renumbered (new row i = old row ``perm[i]``, old column j -> ``inv[j]``).

    Each row keeps its entries in their stored order (the column indices are not re-sorted), so a
    matrix-vector product sums every row in the same order as ``mat`` does.
    """
    lens = np.diff(mat.indptr)[perm]
    indptr = np.zeros(len(perm) + 1, dtype=np.int64)
    np.cumsum(lens, out=indptr[1:])
    gather = np.repeat(mat.indptr[perm].astype(np.int64) - indptr[:-1], lens) + np.arange(indptr[-1], dtype=np.int64)
    out = sp.csr_matrix((mat.data[gather], inv[mat.indices[gather]].astype(mat.indices.dtype),
                         indptr.astype(mat.indptr.dtype)), shape=mat.shape)
    out.has_sorted_indices = False
    return out


def _without_edges(projection: Projection, rel: str, label: str, sources: Collection[str]) -> Projection:
    """A copy of ``projection`` without the ``rel`` edges that leave the given ``label`` nodes."""
    mat = projection.matrices.get(rel)
    if mat is None:
        return projection
    rows = [projection.index(label, k) for k in sources]
    drop = np.zeros(projection.num_nodes, dtype=bool)
    drop[[r for r in rows if r is not None]] = True
    keep = sp.diags((~drop).astype(np.float64))
    matrices = dict(projection.matrices)
    matrices[rel] = (keep @ mat).tocsr()
    matrices[rel].eliminate_zeros()
    return Projection(keys=projection.keys, names=projection.names, label_ranges=projection.label_ranges,
                      matrices=matrices, version=projection.version + f"-without-{rel}-{len(sources)}")
