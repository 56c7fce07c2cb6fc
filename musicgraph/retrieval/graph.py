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
from musicgraph.retrieval.metapath import CoListening, song_artist_nodes

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
        self._PT = self.scorer.PT.astype(np.float32)
        #: rows = out-edges: the early, local steps of a walk read only the rows holding mass
        self._P32 = self.scorer.P.astype(np.float32).tocsr()
        self._dangling_idx = np.flatnonzero(self.scorer.dangling)
        # the walk's own numbering (see ``reorder``): position i holds node _perm[i]
        n_nodes = projection.num_nodes
        if reorder and n_nodes:
            self._perm = np.argsort(-np.diff(self._PT.indptr), kind="stable")
            self._inv = np.empty_like(self._perm)
            self._inv[self._perm] = np.arange(n_nodes)
            self._PTw = _relabel(self._PT, self._perm, self._inv)
            self._P32w = _relabel(self._P32, self._perm, self._inv)
        else:
            self._perm = self._inv = None
            self._PTw, self._P32w = self._PT, self._P32
        self._row_nnz = np.diff(self._P32w.indptr)
        self._dangling_w = self._dangling_idx if self._inv is None else self._inv[self._dangling_idx]
        self.cache_size = cache_size
        self.sparse_fraction = sparse_fraction
        self._walks: OrderedDict[tuple[tuple[int, float], ...], np.ndarray] = OrderedDict()
        self._walk_lock = threading.Lock()
        #: cache hits and uncached walks so far
        self.walk_stats = {"hits": 0, "walks": 0}
        self.popularity_damping = popularity_damping
        lo, hi = projection.label_ranges.get(Label.SONG, (0, 0))
        self._song_lo, self._song_hi = lo, hi
        self.row_to_node = np.full(len(catalog), -1, dtype=np.int64)
        for i, key in enumerate(catalog.keys):
            idx = projection.index(Label.SONG, key)
            if idx is not None:
                self.row_to_node[i] = idx
        self.node_to_row = {int(v): i for i, v in enumerate(self.row_to_node) if v >= 0}
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

    def _ppr(self, seed_index: Mapping[int, float]) -> np.ndarray:
        """The foundation's PPR iteration (restart, dangling mass back to the seeds) in float32.

        Cached per normalized seed group (see ``cache_size``); the returned array is shared with the
        cache and read-only.
        """
        total = float(sum(seed_index.values()))
        key = tuple(sorted((int(i), float(w) / total) for i, w in seed_index.items())) if total > 0 else ()
        if self.cache_size > 0 and key:
            with self._walk_lock:
                hit = self._walks.get(key)
                if hit is not None:
                    self._walks.move_to_end(key)
                    self.walk_stats["hits"] += 1
                    return hit
        r = self._walk(seed_index)
        if self.cache_size > 0 and key:
            r.setflags(write=False)
            with self._walk_lock:
                self._walks[key] = r
                while len(self._walks) > self.cache_size:
                    self._walks.popitem(last=False)
        return r

    def _walk(self, seed_index: Mapping[int, float]) -> np.ndarray:
        """One uncached walk: ``max_iter`` steps (or until the L1 change is below ``tol``), float32."""
        sc = self.scorer
        self.walk_stats["walks"] += 1
        s = np.zeros(self.projection.num_nodes, dtype=np.float32)
        for idx, w in seed_index.items():
            s[idx] += w
        s /= s.sum()  # normalized in the original numbering: the same rounding as the plain walk
        if self._perm is not None:
            s = s[self._perm]
        r = s.copy()
        damp = np.float32(1.0 - sc.restart)
        restart = np.float32(sc.restart)
        budget = self.sparse_fraction * self._P32w.nnz
        seeds = np.flatnonzero(s)
        s_seeds = s[seeds]
        support: np.ndarray | None = seeds if self._perm is None else self._inv[np.sort(self._perm[seeds])]
        diff = np.empty_like(r)
        for _ in range(self.max_iter):
            dangling = r[self._dangling_w].sum() if len(self._dangling_w) else np.float32(0.0)
            if support is not None and self._row_nnz[support].sum() < budget:
                # few rows hold all the mass: push it along their out-edges only
                step = self._P32w[support].T @ r[support]
            else:
                step = self._PTw @ r
                support = None
            # r_next = damp * step + (restart + damp * dangling) * s, with s nonzero at the seeds only
            r_next = np.multiply(step, damp, out=step)
            r_next[seeds] += (restart + damp * dangling) * s_seeds
            np.subtract(r_next, r, out=diff)
            err = float(np.abs(diff, out=diff).sum())
            r = r_next
            if support is not None:
                support = np.flatnonzero(r)
                if self._perm is not None:  # in original node order: contributions summed as in the plain walk
                    support = self._inv[np.sort(self._perm[support])]
            if err < self.tol:
                break
        return (r if self._inv is None else r[self._inv]).astype(np.float64)

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
