"""Multi-hop recommendation: personalized PageRank over the typed, weighted graph, with paths.

Scoring is a random walk with restart from the seeds (users, artists, songs, tags, genres, moods)
over the projection's adjacency, every relationship walked both ways with a per-type weight
(:data:`DEFAULT_REL_WEIGHTS`) and heavy weights (play counts) damped by ``log1p``. Each step is one
sparse matrix-vector product (scipy), so a query over the ~100k-node shared graph takes
milliseconds. Dangling nodes return their mass to the seeds, as networkx's ``pagerank`` does with a
personalization vector, so the two agree (``tests/graph/test_multihop.py`` checks it; the speed ratio
and the same top-20 on the real graph: ``bench_ppr_vs_networkx`` in ``benchmarks/bench_graph.py``).

Explanations: for each result, the best paths of up to three hops from any seed, found exactly by
meeting in the middle — one hop out from the seeds, one hop back from the target, and the sparse
block of edges between the two sets — and scored by the product of transition probabilities.
"""

from __future__ import annotations

import difflib
import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from musicgraph.errors import EmptyStoreError, UnknownEntityError
from musicgraph.graph.projection import Projection
from musicgraph.graph.resolve import artist_key, fold, normalize_tag, song_key, user_key
from musicgraph.graph.results import ExplanationPath, Result
from musicgraph.graph.store import GraphStore

log = logging.getLogger(__name__)

__all__ = ["EmptyStoreError", "MultiHopScorer", "UnknownEntityError", "recommend", "scorer_for"]

#: Multiplier of each relationship type in the walk.
DEFAULT_REL_WEIGHTS: dict[str, float] = {
    "LISTENED_TO": 1.0,
    "TAGGED": 1.0,
    "USED_TAG": 0.2,
    "FRIEND_OF": 0.3,
    "PERFORMED_BY": 1.0,
    "ON_ALBUM": 0.5,
    "ALBUM_BY": 0.5,
    "HAS_GENRE": 0.6,
    "HAS_MOOD": 0.8,
    "IN_PLAYLIST": 0.6,
    "SIMILAR_TO": 1.0,
    "MEMBER_OF": 0.5,
}


@dataclass(slots=True)
class Seeds:
    """Resolved seeds: node index → restart weight."""

    weights: dict[int, float] = field(default_factory=dict)
    described: list[str] = field(default_factory=list)

    def add(self, idx: int, weight: float, what: str) -> None:
        self.weights[idx] = self.weights.get(idx, 0.0) + weight
        self.described.append(what)

    def __bool__(self) -> bool:
        return bool(self.weights)


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """``a . b`` without BLAS (a multi-threaded BLAS dot stalls for milliseconds on a busy machine)."""
    return float(np.einsum("i,i->", a, b))


class _SymmetricSystem:
    """``M z = b`` with ``M = I - d N`` for CG, ``N`` (:attr:`MultiHopScorer.S`) renumbered by decreasing degree.

    ``M`` is stored as such (its diagonal included), so a step is one sparse product and no extra pass
    over the vectors. Hubs first keeps their entries of the vectors in cache during the products
    (about 40 % cheaper each); ``perm[i]`` is the node at position ``i``. The first steps from a few
    seeds touch only the rows holding mass (the Krylov vectors grow one hop per step), read from the
    symmetric matrix's rows instead of a full product.
    """

    #: rows holding less than this share of the entries are multiplied on their own
    SPARSE_FRACTION = 0.25
    MAX_STEPS = 200

    def __init__(self, S: sp.csr_matrix, degree: np.ndarray, d: float):
        n = S.shape[0]
        self.d = d
        self.has_dangling = bool((degree == 0).any())
        self.sqrt_deg = np.sqrt(degree)
        self.inv_sqrt_deg = np.zeros_like(degree)
        ok = degree > 0
        self.inv_sqrt_deg[ok] = 1.0 / self.sqrt_deg[ok]
        counts = np.diff(S.indptr)
        self.perm = np.argsort(-counts, kind="stable")
        inv = np.empty_like(self.perm)
        inv[self.perm] = np.arange(n)
        lens = counts[self.perm]
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lens, out=indptr[1:])
        gather = np.repeat(S.indptr[self.perm].astype(np.int64) - indptr[:-1], lens) + np.arange(
            indptr[-1], dtype=np.int64)
        idx_type = np.int32 if n < 2**31 and indptr[-1] + n < 2**31 else np.int64
        N = sp.csr_matrix((S.data[gather].astype(np.float64), inv[S.indices[gather]].astype(idx_type),
                           indptr.astype(idx_type)), shape=S.shape)
        self.M = (sp.identity(n, dtype=np.float64, format="csr") - d * N).tocsr()
        self.M.sort_indices()
        self.row_nnz = np.diff(self.M.indptr)
        self.budget = self.SPARSE_FRACTION * max(int(self.M.nnz), 1)

    def _apply(self, p: np.ndarray, support: np.ndarray | None) -> np.ndarray:
        if support is not None:
            return self.M[support].T @ p[support]  # M is symmetric: its rows are its columns
        return self.M @ p

    def solve(self, b: np.ndarray, target: float) -> tuple[np.ndarray, float]:
        """``(z, ||b - M z||)`` with the residual (recomputed, not the recurrence's) below ``target``."""
        z = np.zeros_like(b)
        r = b.copy()
        steps = 0
        while True:
            steps = self._cg(z, r, target, steps)
            np.subtract(b, self.M @ z, out=r)  # the true residual: the recurrence's drifts with rounding
            res = float(np.sqrt(_dot(r, r)))
            if res <= target or steps >= self.MAX_STEPS:
                if res > target:
                    log.warning("PPR: CG stopped at %d steps with residual %.3g > %.3g", steps, res, target)
                return z, res

    def _cg(self, z: np.ndarray, r: np.ndarray, target: float, steps: int) -> int:
        p = r.copy()
        rr = _dot(r, r)
        if np.sqrt(rr) <= target:
            return steps
        tmp = np.empty_like(r)
        support: np.ndarray | None = np.flatnonzero(p)
        while steps < self.MAX_STEPS:
            if support is not None and self.row_nnz[support].sum() >= self.budget:
                support = None
            q = self._apply(p, support)  # M p
            alpha = rr / _dot(p, q)
            np.multiply(p, alpha, out=tmp)
            z += tmp
            np.multiply(q, alpha, out=tmp)
            r -= tmp
            rr_next = _dot(r, r)
            steps += 1
            if np.sqrt(rr_next) <= target:
                break
            p *= rr_next / rr
            p += r
            rr = rr_next
            if support is not None:
                support = np.flatnonzero(p)
        return steps

    def solve_many(self, B: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`solve` for the columns of ``B`` at once (a step size per column)."""
        Z = np.zeros_like(B)
        R = B.copy()
        P = R.copy()
        rr = np.einsum("ij,ij->j", R, R)
        done = np.sqrt(rr) <= targets
        for _ in range(self.MAX_STEPS):
            if done.all():
                break
            Q = self.M @ P
            pq = np.einsum("ij,ij->j", P, Q)
            alpha = np.where(done, 0.0, rr / np.where(pq > 0, pq, 1.0))
            Z += P * alpha
            R -= Q * alpha
            rr_next = np.einsum("ij,ij->j", R, R)
            done |= np.sqrt(rr_next) <= targets
            beta = np.where(done, 0.0, rr_next / np.where(rr > 0, rr, 1.0))
            P *= beta
            P += R
            rr = rr_next
        res = B - self.M @ Z
        return Z, np.sqrt(np.einsum("ij,ij->j", res, res))


class MultiHopScorer:
    """Personalized PageRank and path finding over a :class:`Projection`.

    :meth:`ppr` solves the walk's fixed point with conjugate gradients on the symmetric form of the
    system (below) and certifies the result: every coordinate is within ``cg_tol * sqrt(degree)`` of
    the exact PPR vector (:meth:`ppr_certified` returns the bound). The power iteration the scores
    were first computed with stays available (``solver="power"``) as the reference.

    Why CG applies: the adjacency ``A`` is symmetric (every relationship is walked both ways), so with
    ``D`` the weighted degrees, ``(I - d A D^-1) x = s`` becomes ``(I - d N) z = D^-1/2 s`` with
    ``N = D^-1/2 A D^-1/2`` (symmetric, eigenvalues in [-1, 1]) and ``x = D^1/2 z``: a symmetric
    positive definite system with eigenvalues in ``[1 - d, 1 + d]``, where CG needs about half the
    matrix-vector products of the power iteration for a thousand times smaller error. ``N`` is the
    edge-strength matrix :attr:`S` itself.

    Args:
        projection: the graph projection.
        rel_weights: multiplier per relationship type (default :data:`DEFAULT_REL_WEIGHTS`).
        restart: restart probability of the walk (1 - networkx's ``alpha``).
        max_iter: power-iteration limit; ``tol`` is the L1 change at which it stops (``solver="power"``
            and :meth:`ppr_many` with that solver).
        dtype: float type of the power iteration (float32 halves memory traffic; float64 for exactness).
        user_path_penalty: paths through anonymous users are multiplied by this when ranking
            explanations (tags, genres and artists read better).
        solver: ``"cg"`` (certified conjugate gradients, the default) or ``"power"``.
        cg_tol: certified accuracy of the CG solver: ``|r_i - exact_i| <= cg_tol * sqrt(degree_i)``.
    """

    def __init__(
        self,
        projection: Projection,
        rel_weights: Mapping[str, float] | None = None,
        restart: float = 0.25,
        max_iter: int = 50,
        tol: float = 1e-5,
        user_path_penalty: float = 0.3,
        dtype: type = np.float32,
        solver: str = "cg",
        cg_tol: float = 1e-9,
    ):
        if not 0.0 < restart < 1.0:
            raise ValueError(f"restart must be in (0, 1), got {restart}")
        if solver not in ("cg", "power"):
            raise ValueError(f"solver must be 'cg' or 'power', got {solver!r}")
        if not cg_tol > 0:
            raise ValueError(f"cg_tol must be positive, got {cg_tol}")
        self.projection = projection
        self.rel_weights = dict(DEFAULT_REL_WEIGHTS if rel_weights is None else rel_weights)
        self.restart = restart
        self.max_iter = max_iter
        self.tol = tol
        self.solver = solver
        self.cg_tol = cg_tol
        self.user_path_penalty = user_path_penalty
        adj = projection.adjacency(self.rel_weights, symmetric=True, transform="log1p")
        deg = np.asarray(adj.sum(axis=1)).ravel()
        self.degree = deg
        self.dangling = deg == 0
        inv = np.zeros_like(deg)
        inv[~self.dangling] = 1.0 / deg[~self.dangling]
        adj.sort_indices()
        #: row-stochastic transition matrix P[u, v] = probability of stepping u → v
        self.P: sp.csr_matrix = (sp.diags(inv) @ adj).tocsr()
        self.dtype = dtype
        # A is symmetric, so P^T = A D^-1: A's rows with every entry scaled by the inverse degree of
        # its column. The same values in the same (sorted) order as transposing P, without the transpose.
        pt = sp.csr_matrix((adj.data * inv[adj.indices], adj.indices, adj.indptr), shape=adj.shape)
        #: P transposed, in ``dtype`` (the power iteration's operator)
        self.PT: sp.csr_matrix = pt.astype(dtype)
        #: symmetric edge strength sqrt(P[u,v] * P[v,u]) used to rank explanation paths: an edge
        #: counts when it matters from both ends (a tag many users put on both artists beats a tag
        #: typed once, and beats a hub tag on half the catalog). It equals D^-1/2 A D^-1/2.
        self.S: sp.csr_matrix
        if np.array_equal(self.P.indptr, pt.indptr) and np.array_equal(self.P.indices, pt.indices):
            # the same pattern: the elementwise product is a product of the data arrays
            self.S = sp.csr_matrix((np.sqrt(self.P.data * pt.data), pt.indices.copy(), pt.indptr.copy()),
                                   shape=pt.shape)
            self.S.eliminate_zeros()
        else:
            self.S = self.P.multiply(pt).sqrt().tocsr()
        del pt
        self.S.sort_indices()
        self._labels = projection.labels_array()
        self._user_range = projection.label_ranges.get("User", (0, 0))
        self._build_lock = threading.Lock()
        # built on first use: degree ** exponent per exponent, the CG system, the relationship table,
        # the mean of the last read-only relevance vector
        self._damping: dict[float, np.ndarray] = {}
        self._cg_system: _SymmetricSystem | None = None
        self._rel_table_cache: tuple[tuple[np.ndarray, np.ndarray], list[str]] | None = None
        self._rel_mean_cache: tuple[np.ndarray, float] | None = None

    def degree_damping(self, exponent: float) -> np.ndarray:
        """``max(degree, 1e-12) ** exponent`` per node, computed once per exponent (read-only)."""
        cache = self._damping
        out = cache.get(float(exponent))
        if out is None:
            out = np.power(np.maximum(self.degree, 1e-12), exponent)
            out.setflags(write=False)
            cache[float(exponent)] = out
        return out

    def songs_by_artist(self) -> sp.csr_matrix:
        """PERFORMED_BY transposed (artist row → song columns), built once per scorer."""
        if getattr(self, "_songs_by_artist", None) is None:
            performed = self.projection.matrices["PERFORMED_BY"]
            self._songs_by_artist = performed.T.tocsr()
        return self._songs_by_artist

    # ------------------------------------------------------------------ scoring
    def _seed_vector(self, seeds: Mapping[int, float] | np.ndarray, dtype: type) -> np.ndarray:
        n = self.projection.num_nodes
        if isinstance(seeds, np.ndarray):
            s = seeds.astype(dtype).ravel()
        else:
            s = np.zeros(n, dtype=dtype)
            for idx, w in seeds.items():
                s[idx] += w
        total = s.sum()
        if total <= 0:
            raise ValueError("seed weights must be positive")
        s /= total
        return s

    def ppr(self, seeds: Mapping[int, float] | np.ndarray) -> np.ndarray:
        """Personalized PageRank vector (sums to 1) for restart distribution ``seeds``.

        ``seeds`` is a mapping node index → weight, or a dense vector; it is normalized to sum 1.
        With the CG solver every coordinate is within ``cg_tol * sqrt(degree)`` of the exact vector.
        """
        if self.solver == "power":
            return self._ppr_power(seeds)
        return self.ppr_certified(seeds)[0]

    def _ppr_power(self, seeds: Mapping[int, float] | np.ndarray) -> np.ndarray:
        """The power iteration: ``max_iter`` steps at most, until the L1 change is below ``tol``."""
        s = self._seed_vector(seeds, self.dtype)
        r = s.copy()
        damp = 1.0 - self.restart
        PT = self.PT
        for _ in range(self.max_iter):
            dangling_mass = r[self.dangling].sum()
            r_next = damp * (PT @ r) + (self.restart + damp * dangling_mass) * s
            err = np.abs(r_next - r).sum()
            r = r_next
            if err < self.tol:
                break
        return r.astype(np.float64)

    def ppr_certified(self, seeds: Mapping[int, float] | np.ndarray) -> tuple[np.ndarray, float]:
        """PPR by conjugate gradients, with its certificate.

        Returns:
            ``(r, eps)``: the PPR vector (float64, sums to 1 up to ``eps``) and a bound such that
            ``|r[i] - exact[i]| <= eps * sqrt(degree[i])`` for every node ``i`` (``eps <= cg_tol``
            unless the iteration limit of 200 steps was reached first). The bound comes from the true
            residual ``b - (I - dN) z`` recomputed at the end: ``||z - z*|| <= ||residual|| / (1 - d)``
            (the smallest eigenvalue of ``I - dN`` is at least ``1 - d``).
        """
        s = self._seed_vector(seeds, np.float64)
        system = self._system()
        d = 1.0 - self.restart
        # dangling nodes have no edge at all (the adjacency is symmetric): their mass returns to the
        # seeds, which scales the solution of the system without them by gamma (Sherman-Morrison)
        s_dangling = float(s[self.dangling].sum()) if system.has_dangling else 0.0
        gamma = (1.0 - d) / (1.0 - d * s_dangling)
        b = s * system.inv_sqrt_deg
        target = self.cg_tol * (1.0 - d) / gamma  # residual norm that certifies cg_tol
        z, res = system.solve(b[system.perm], target)
        x = np.empty_like(z)
        x[system.perm] = z
        x *= system.sqrt_deg
        if system.has_dangling:
            x[self.dangling] = s[self.dangling]
        x *= gamma
        return x, gamma * res / (1.0 - d)

    def _system(self) -> _SymmetricSystem:
        system = self._cg_system
        if system is None:
            with self._build_lock:
                system = self._cg_system
                if system is None:
                    system = self._cg_system = _SymmetricSystem(self.S, self.degree, 1.0 - self.restart)
        return system

    def certified_top(
        self,
        r: np.ndarray,
        eps: float,
        ranked: Sequence[int],
        candidates: np.ndarray,
        popularity_damping: float,
    ) -> bool:
        """Whether ``ranked`` (node indexes, best first) is the exact top of ``candidates`` for sure.

        Scores are ``r / degree ** popularity_damping`` with ``r`` from :meth:`ppr_certified` (bound
        ``eps``). Certified when each ranked item's lower bound is above the next one's upper bound
        and the last one's lower bound is above every other candidate's upper bound; items whose
        computed scores are exactly equal (structurally identical nodes: equal in exact arithmetic too)
        count as ties, which the caller orders by its own tie-breaker.
        """
        damp = self.degree_damping(popularity_damping)
        slack = eps * np.sqrt(self.degree) / damp
        score = r / damp
        ranked = np.asarray(ranked, dtype=np.int64)
        if len(ranked) == 0:
            return True
        lo, hi = score[ranked] - slack[ranked], score[ranked] + slack[ranked]
        for i in range(len(ranked) - 1):
            if score[ranked[i]] != score[ranked[i + 1]] and lo[i] <= hi[i + 1]:
                return False
        rest = np.setdiff1d(np.asarray(candidates, dtype=np.int64), ranked)
        if len(rest) == 0:
            return True
        last = ranked[-1]
        others = rest[score[rest] != score[last]]
        return bool(len(others) == 0 or lo[-1] > float((score[others] + slack[others]).max()))

    def ppr_many(self, seed_matrix: sp.spmatrix | np.ndarray) -> np.ndarray:
        """PPR for many seed distributions at once (columns of ``seed_matrix``, n x q) → n x q.

        With the CG solver each column carries the certificate of :meth:`ppr_certified` (one block
        iteration, a step size per column); with ``solver="power"``, the power iteration.
        """
        S = seed_matrix.toarray() if sp.issparse(seed_matrix) else np.asarray(seed_matrix)
        if self.solver == "cg":
            S = S.astype(np.float64)
            S = S / np.maximum(S.sum(axis=0, keepdims=True), 1e-300)
            system = self._system()
            d = 1.0 - self.restart
            s_dangling = S[self.dangling].sum(axis=0) if system.has_dangling else np.zeros(S.shape[1])
            gamma = (1.0 - d) / (1.0 - d * s_dangling)
            B = S * system.inv_sqrt_deg[:, None]
            Z, _ = system.solve_many(B[system.perm], self.cg_tol * (1.0 - d) / gamma)
            X = np.empty_like(Z)
            X[system.perm] = Z
            X *= system.sqrt_deg[:, None]
            if system.has_dangling:
                X[self.dangling] = S[self.dangling]
            return X * gamma[None, :]
        S = S.astype(self.dtype)
        S = S / np.maximum(S.sum(axis=0, keepdims=True), 1e-300)
        R = S.copy()
        damp = 1.0 - self.restart
        PT = self.PT
        for _ in range(self.max_iter):
            dangling_mass = R[self.dangling].sum(axis=0, keepdims=True)
            R_next = damp * (PT @ R) + (self.restart + damp * dangling_mass) * S
            err = np.abs(R_next - R).sum(axis=0).max()
            R = R_next
            if err < self.tol:
                break
        return R.astype(np.float64)

    # -------------------------------------------------------------------- paths
    @staticmethod
    def _weight(mat: sp.csr_matrix, u: int, v: int) -> float:
        """``mat[u, v]`` by binary search in the sorted CSR row (scipy's scalar indexing is slow)."""
        lo, hi = mat.indptr[u], mat.indptr[u + 1]
        if lo == hi:
            return 0.0
        row = mat.indices[lo:hi]
        j = int(np.searchsorted(row, v))
        return float(mat.data[lo + j]) if j < len(row) and row[j] == v else 0.0

    def _rel_table(self) -> tuple[np.ndarray, list[str]]:
        """Sorted ``u * n + v`` keys of every linked pair with the index of its strongest type (built once).

        The winner per pair is the one :meth:`_rel_between` would pick: the largest
        ``weight * rel_weight`` over the types in projection order, forward before backward, the
        first one on ties.
        """
        table = self._rel_table_cache
        if table is not None:
            return table
        derived_name = self._derived_name("reltable")
        kept = self.projection.derived(derived_name)
        if kept is not None:
            table = (kept["keys"], kept["codes"]), [str(x) for x in kept["names"]]
            self._rel_table_cache = table
            return table
        n = self.projection.num_nodes
        keys_l: list[np.ndarray] = []
        vals_l: list[np.ndarray] = []
        codes_l: list[np.ndarray] = []
        names: list[str] = []
        for rel, mat in self.projection.matrices.items():
            w_rel = self.rel_weights.get(rel, 0.0)
            if w_rel == 0.0 or mat.nnz == 0:
                continue
            coo = mat.tocoo()
            nz = coo.data != 0
            rows, cols = coo.row[nz].astype(np.int64), coo.col[nz].astype(np.int64)
            cand = np.asarray(coo.data[nz], dtype=np.float64) * w_rel
            for name, (u, v) in ((rel, (rows, cols)), (f"<-{rel}", (cols, rows))):
                keys_l.append(u * n + v)
                vals_l.append(cand)
                codes_l.append(np.full(len(u), len(names), dtype=np.int64))
                names.append(name)
        if not keys_l:
            table = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)), names
        else:
            keys, vals, codes = np.concatenate(keys_l), np.concatenate(vals_l), np.concatenate(codes_l)
            order = np.lexsort((codes, -vals, keys))
            keys, codes = keys[order], codes[order]
            first = np.ones(len(keys), dtype=bool)
            first[1:] = keys[1:] != keys[:-1]
            table = (keys[first], codes[first]), names
        self._rel_table_cache = table
        (keys, codes), names = table
        self.projection.save_derived(derived_name, {"keys": keys, "codes": codes, "names": np.array(names, dtype=str)})
        return table

    def _derived_name(self, what: str) -> str:
        """A file-name-safe name for a table derived from the projection with these relationship weights."""
        import hashlib
        import json

        digest = hashlib.sha1(json.dumps(sorted(self.rel_weights.items())).encode()).hexdigest()[:12]
        return f"{what}-{digest}"

    def _rels_between(self, u: np.ndarray, v: np.ndarray) -> list[str]:
        """:meth:`_rel_between` for arrays of node pairs (one binary search in a per-pair table)."""
        (keys, codes), names = self._rel_table()
        u = np.asarray(u, dtype=np.int64)
        v = np.asarray(v, dtype=np.int64)
        if len(keys) == 0:
            return ["RELATED_TO"] * len(u)
        want = u * self.projection.num_nodes + v
        pos = np.minimum(np.searchsorted(keys, want), len(keys) - 1)
        hit = keys[pos] == want
        return [names[c] if h else "RELATED_TO" for c, h in zip(codes[pos].tolist(), hit.tolist(), strict=True)]

    def _rel_between(self, u: int, v: int) -> str:
        """The strongest relationship type linking u and v (``<-TYPE`` if stored as v → u)."""
        return self._rels_between(np.array([u]), np.array([v]))[0]

    def _make_path(self, nodes: list[int], score: float, rels: list[str] | None = None) -> ExplanationPath:
        proj = self.projection
        if rels is None:
            rels = self._rels_between(np.array(nodes[:-1]), np.array(nodes[1:]))
        return ExplanationPath(
            nodes=[proj.ref(i) for i in nodes],
            names=[str(proj.names[i]) for i in nodes],
            rels=rels,
            score=float(score),
        )

    def _penalty(self, idx: int) -> float:
        lo, hi = self._user_range
        base = self.user_path_penalty if lo <= idx < hi else 1.0
        rel = getattr(self, "_rel", None)
        return base * float(rel[idx]) if rel is not None else base

    def _penalties(self, nodes: np.ndarray, relevance: np.ndarray | None, rel_mean: float) -> np.ndarray:
        """Vectorized :meth:`_penalty`: the user-path penalty times ``sqrt(relevance / mean)``."""
        lo, hi = self._user_range
        base = np.where((nodes >= lo) & (nodes < hi), self.user_path_penalty, 1.0)
        if relevance is None:
            return base
        return base * np.sqrt(np.maximum(relevance[nodes] / rel_mean, 1e-12))

    def _relevance_mean(self, relevance: np.ndarray) -> float:
        """``max(mean, 1e-300)`` of a relevance vector, remembered for the last read-only one."""
        hit = self._rel_mean_cache
        if hit is not None and hit[0] is relevance:
            return hit[1]
        mean = max(float(relevance.mean()), 1e-300)
        if not relevance.flags.writeable:  # cannot change under us: keep it for the next call
            self._rel_mean_cache = (relevance, mean)
        return mean

    def _row(self, u: int) -> tuple[np.ndarray, np.ndarray]:
        """Neighbours and edge strengths of ``u`` in :attr:`S` (sorted by neighbour)."""
        lo, hi = self.S.indptr[u], self.S.indptr[u + 1]
        return self.S.indices[lo:hi], self.S.data[lo:hi]

    def _gather(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, column, strength) of every entry of :attr:`S` in ``rows``, row by row."""
        indptr = self.S.indptr
        starts = indptr[rows].astype(np.int64)
        lens = indptr[rows + 1].astype(np.int64) - starts
        total = int(lens.sum())
        if total == 0:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty, np.empty(0)
        offsets = np.repeat(starts - np.concatenate(([0], np.cumsum(lens)[:-1])), lens)
        pos = offsets + np.arange(total, dtype=np.int64)
        return np.repeat(rows, lens), self.S.indices[pos].astype(np.int64), self.S.data[pos]

    def paths(
        self,
        seeds: Iterable[int],
        target: int,
        max_hops: int = 3,
        top: int = 2,
        relevance: np.ndarray | None = None,
        prefer_short: bool = False,
    ) -> list[ExplanationPath]:
        """The ``top`` best paths of at most ``max_hops`` hops from any seed to ``target``.

        Exact over all such paths (simple paths, no seed in the middle), ranked by the product of
        transition probabilities (with :attr:`user_path_penalty` per anonymous user on the way).
        With ``relevance`` (the PPR vector of the same seeds), every intermediate node's factor is
        also multiplied by its relevance relative to the mean, so paths through nodes central to the
        seeds (a shared genre tag) beat paths through incidental ones (a tag one user typed once).

        With ``prefer_short``, three-hop paths are searched only when no path of one or two hops
        exists (the same answer as a two-hop call followed, when it finds nothing, by a three-hop one).

        Vectorized: one slice of the symmetric strength matrix per seed and the target, a sorted
        intersection for two hops, and one gathered block of edges between the seed's and the
        target's neighbours for three hops; equal scores are ordered by node index.
        """
        rel_mean = self._relevance_mean(relevance) if relevance is not None else 1.0
        n = self.projection.num_nodes
        seed_list = [s for s in dict.fromkeys(int(s) for s in seeds) if s != target]
        blocked = np.zeros(n, dtype=bool)  # seeds (and the target) cannot be intermediate nodes
        blocked[seed_list] = True
        blocked[target] = True
        candidates: list[tuple[float, list[int]]] = []
        b_idx, b_val = self._row(target)
        b_idx = b_idx.astype(np.int64)
        in_b = np.zeros(n, dtype=bool)
        in_b[b_idx] = True
        block_b: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # rows of S at the b side
        for s in seed_list:
            a_idx, a_val = self._row(s)
            a_idx = a_idx.astype(np.int64)
            j = int(np.searchsorted(a_idx, target))
            if j < len(a_idx) and a_idx[j] == target:
                candidates.append((float(a_val[j]), [s, target]))
            if max_hops >= 2:
                ia = np.flatnonzero(in_b[a_idx] & ~blocked[a_idx])
                if len(ia):
                    mids = a_idx[ia]
                    sc = a_val[ia] * b_val[np.searchsorted(b_idx, mids)] * self._penalties(mids, relevance, rel_mean)
                    for m, v in zip(mids.tolist(), sc.tolist(), strict=True):
                        candidates.append((v, [s, m, target]))
        if prefer_short and candidates:
            max_hops = 2
        for s in seed_list if max_hops >= 3 else ():
            a_idx, a_val = self._row(s)
            a_idx = a_idx.astype(np.int64)
            if len(a_idx) and len(b_idx):
                keep_a = a_idx[~blocked[a_idx]]
                keep_b = b_idx[~blocked[b_idx] | (b_idx == target)]
                if len(keep_a) == 0 or len(keep_b) == 0:
                    continue
                # the block of S between a (out of s) and b (into target), gathered from the smaller side
                if len(keep_b) <= len(keep_a):
                    if block_b is None:
                        block_b = self._gather(b_idx)
                    rb, ca, vals = block_b
                    in_a = np.zeros(n, dtype=bool)
                    in_a[keep_a] = True
                    ok_b = np.zeros(n, dtype=bool)
                    ok_b[keep_b] = True
                    inside = in_a[ca] & ok_b[rb]
                    ai, bj, vals = ca[inside], rb[inside], vals[inside]
                else:
                    ra, cb, vals = self._gather(keep_a)
                    ok_b = np.zeros(n, dtype=bool)
                    ok_b[keep_b] = True
                    inside = ok_b[cb]
                    ai, bj, vals = ra[inside], cb[inside], vals[inside]
                mask = ai != bj
                ai, bj, vals = ai[mask], bj[mask], vals[mask]
                if len(vals) == 0:
                    continue
                a_w = a_val[np.searchsorted(a_idx, ai)]
                b_w = b_val[np.searchsorted(b_idx, bj)]
                pen = self._penalties(ai, relevance, rel_mean) * self._penalties(bj, relevance, rel_mean)
                scores = a_w * vals * b_w * pen
                best = np.lexsort((bj, ai, -scores))[: top * 3]
                for jj in best.tolist():
                    candidates.append((float(scores[jj]), [s, int(ai[jj]), int(bj[jj]), target]))
        candidates.sort(key=lambda c: (-c[0], len(c[1])))
        # Take the best path, then prefer paths whose intermediate nodes are of other kinds
        # (e.g. one through co-listeners, one through a shared tag) before near-duplicates.
        chosen: list[tuple[float, list[int]]] = []
        seen_shapes: set[tuple[int, ...]] = set()
        seen: set[tuple[int, ...]] = set()
        for strict in (True, False):
            for score, nodes in candidates:
                if len(chosen) >= top:
                    break
                key = tuple(nodes)
                shape = tuple(int(self._labels[i]) for i in nodes[1:-1])
                if key in seen or (strict and shape in seen_shapes):
                    continue
                seen.add(key)
                seen_shapes.add(shape)
                chosen.append((score, nodes))
        chosen.sort(key=lambda c: -c[0])
        if not chosen:
            return []
        us = np.array([u for _, nodes in chosen for u in nodes[:-1]], dtype=np.int64)
        vs = np.array([v for _, nodes in chosen for v in nodes[1:]], dtype=np.int64)
        rels = self._rels_between(us, vs)
        out, at = [], 0
        for score, nodes in chosen:
            hops = len(nodes) - 1
            out.append(self._make_path(nodes, score, rels[at : at + hops]))
            at += hops
        return out


# ------------------------------------------------------------------ seed resolution
def _suggest(name: str, choices: Iterable[str], n: int = 3) -> list[str]:
    return difflib.get_close_matches(name, list(choices), n=n, cutoff=0.75)


class ProjectionNames:
    """Name look-ups over a projection (keys and display names), for resolving seeds."""

    def __init__(self, projection: Projection):
        self.projection = projection

    def _range_keys(self, label: str) -> np.ndarray:
        lo, hi = self.projection.label_ranges.get(label, (0, 0))
        return self.projection.keys[lo:hi]

    def find(self, label: str, key: str) -> int | None:
        return self.projection.index(label, key)

    def suggestions(self, label: str, name: str) -> list[str]:
        lo, hi = self.projection.label_ranges.get(label, (0, 0))
        names = [str(x) for x in self.projection.names[lo:hi]]
        by_fold = {}
        for nm in names:
            by_fold.setdefault(fold(nm), nm)
        hits = _suggest(fold(name), by_fold.keys())
        return [by_fold[h] for h in hits]


def resolve_seeds(
    projection: Projection,
    *,
    user: str | None = None,
    artists: Sequence[str] = (),
    songs: Sequence[str] = (),
    tags: Sequence[str] = (),
    moods: Sequence[str] = (),
) -> Seeds:
    """Turn names into seed node indexes, raising :class:`UnknownEntityError` with suggestions."""
    cat = ProjectionNames(projection)
    seeds = Seeds()
    if user is not None:
        idx = cat.find("User", user_key(user))
        if idx is None:
            raise UnknownEntityError("user", user, [])
        seeds.add(idx, 1.0, f"user {user}")
    for name in artists:
        idx = cat.find("Artist", artist_key(name))
        if idx is None:
            raise UnknownEntityError("artist", name, cat.suggestions("Artist", name))
        seeds.add(idx, 1.0, f"artist {name}")
    for spec in songs:
        if " - " not in spec:
            raise ValueError(f"song {spec!r}: write it as 'ARTIST - TITLE'")
        artist, title = spec.split(" - ", 1)
        idx = cat.find("Song", song_key(artist, title))
        if idx is None:
            raise UnknownEntityError("song", spec, cat.suggestions("Song", title))
        seeds.add(idx, 1.0, f"song {spec}")
    for tag in tags:
        key = normalize_tag(tag)
        idx = cat.find("Tag", key)
        if idx is None:
            idx = cat.find("Genre", key)
        if idx is None:
            raise UnknownEntityError("tag", tag, cat.suggestions("Tag", tag) or cat.suggestions("Genre", tag))
        seeds.add(idx, 1.0, f"tag {tag}")
    for mood in moods:
        idx = cat.find("Mood", normalize_tag(mood))
        if idx is None:
            raise UnknownEntityError("mood", mood, cat.suggestions("Mood", mood))
        seeds.add(idx, 1.0, f"mood {mood}")
    return seeds


# ------------------------------------------------------------------ recommend
_SCORERS: dict[tuple[int, str], MultiHopScorer] = {}


def scorer_for(store: GraphStore, rel_weights: Mapping[str, float] | None = None) -> MultiHopScorer:
    """A cached :class:`MultiHopScorer` for the store's current projection.

    Args:
        store: the graph store.
        rel_weights: per-relationship multipliers of the walk (default :data:`DEFAULT_REL_WEIGHTS`).

    Returns:
        The scorer of the last call when the projection and weights are the same (a new store
        version builds a new one; one scorer is kept per process).
    """
    projection = store.projection()
    key = (id(store), projection.version + repr(sorted((rel_weights or {}).items())))
    cached = _SCORERS.get(key)
    if cached is None or cached.projection is not projection:
        _SCORERS.clear()
        cached = MultiHopScorer(projection, rel_weights)
        _SCORERS[key] = cached
    return cached


def known_items(scorer: MultiHopScorer, seeds: Iterable[int], kind: str) -> set[int]:
    """Items a user or seed already "has": listened artists (and their songs) for users; the seed
    artists' own songs for artist seeds; the seeds themselves."""
    proj = scorer.projection
    known: set[int] = set(seeds)
    listened = proj.matrices.get("LISTENED_TO")
    performed = proj.matrices.get("PERFORMED_BY")
    artist_lo, artist_hi = proj.label_ranges["Artist"]
    user_lo, user_hi = proj.label_ranges["User"]
    artists: set[int] = set()
    for s in seeds:
        if user_lo <= s < user_hi and listened is not None:
            artists.update(listened.getrow(s).indices.tolist())
        elif artist_lo <= s < artist_hi:
            artists.add(s)
    known |= artists
    if kind == "song" and performed is not None and artists:
        by_artist = scorer.songs_by_artist()
        for a in artists:
            known.update(by_artist.getrow(a).indices.tolist())
    return known


def recommend(
    store: GraphStore,
    *,
    user: str | None = None,
    artists: Sequence[str] = (),
    songs: Sequence[str] = (),
    tags: Sequence[str] = (),
    moods: Sequence[str] = (),
    k: int = 10,
    kind: str = "song",
    exclude_known: bool = True,
    n_paths: int = 2,
    max_hops: int = 3,
    rel_weights: Mapping[str, float] | None = None,
    popularity_damping: float = 0.3,
    max_per_artist: int | None = None,
) -> list[Result]:
    """Top-``k`` songs or artists for the seeds, each with its best explanation paths.

    Args:
        store: the graph store.
        user: a HetRec user id (``"2"`` or ``"hetrec:2"``).
        artists, songs, tags, moods: seed names (songs as ``"ARTIST - TITLE"``).
        k: number of results (1..1000).
        kind: ``"song"`` or ``"artist"``.
        exclude_known: leave out the seeds, a user's listened artists and their songs, and the
            seed artists' own songs.
        n_paths: explanation paths per result; ``max_hops``: their maximum length (1..3).
        rel_weights: per-relationship multipliers of the walk.
        popularity_damping: divide scores by ``degree ** popularity_damping`` (0 = raw PPR), so
            hubs do not crowd out specific matches.
        max_per_artist: at most this many songs of one main artist (songs only; None = no cap).

    Returns:
        At most ``k`` results, best first, each with its node's properties and up to ``n_paths`` paths
        from the seeds.

    Raises:
        EmptyStoreError: the store has no data (run ``musicgraph ingest``).
        UnknownEntityError: a seed is not in the graph (with suggestions).
        ValueError: no seed, a bad ``kind`` or ``k``.
    """
    if kind not in ("song", "artist"):
        raise ValueError(f"kind must be 'song' or 'artist', got {kind!r}")
    if not 1 <= k <= 1000:
        raise ValueError(f"k must be between 1 and 1000, got {k}")
    if not 1 <= max_hops <= 3:
        raise ValueError(f"max_hops must be 1, 2 or 3, got {max_hops}")
    scorer = scorer_for(store, rel_weights)
    if scorer.projection.num_nodes == 0:
        raise EmptyStoreError("the store is empty: run `musicgraph ingest` (or `musicgraph demo`) first")
    seeds = resolve_seeds(scorer.projection, user=user, artists=artists, songs=songs, tags=tags, moods=moods)
    if not seeds:
        raise ValueError("give at least one seed: a user, artist, song, tag or mood")
    r = scorer.ppr(seeds.weights)
    fetch = k if not max_per_artist or kind != "song" else min(k * 20, 5000)
    ranked = rank_items(scorer, seeds.weights, k=fetch, kind=kind, exclude_known=exclude_known,
                        popularity_damping=popularity_damping, ppr=r)
    if max_per_artist and kind == "song":
        ranked = cap_per_artist(scorer.projection, ranked, max_per_artist)
    ranked = ranked[:k]
    return build_results(store, scorer, list(seeds.weights), ranked, n_paths=n_paths, max_hops=max_hops,
                         relevance=r)


def rank_items(
    scorer: MultiHopScorer,
    seeds: Mapping[int, float],
    *,
    k: int,
    kind: str,
    exclude_known: bool = True,
    popularity_damping: float = 0.5,
    allowed: np.ndarray | None = None,
    ppr: np.ndarray | None = None,
) -> list[tuple[int, float]]:
    """Top-k (node index, score) of ``kind`` by damped PPR from ``seeds``.

    Args:
        scorer: the scorer over the projection.
        seeds: seed node index -> weight (the restart distribution).
        k: the most items returned; ``kind``: ``song`` or ``artist``.
        exclude_known: leave out what the seeds already have (:func:`known_items`); else the seeds only.
        popularity_damping: divide scores by ``degree ** popularity_damping`` (0: raw PPR).
        allowed: an optional boolean mask over the label's index range (filters).
        ppr: the PPR vector of ``seeds`` when already computed.

    Returns:
        ``(projection node index, damped score)`` pairs, best first; ties go to the better-connected item.
    """
    proj = scorer.projection
    r = scorer.ppr(seeds) if ppr is None else ppr
    lo, hi = proj.label_ranges["Song" if kind == "song" else "Artist"]
    scores = r[lo:hi].copy()
    if popularity_damping:
        scores /= scorer.degree_damping(popularity_damping)[lo:hi]
    valid = scores > 0
    if allowed is not None:
        valid &= allowed
    if exclude_known:
        for idx in known_items(scorer, seeds.keys(), kind):
            if lo <= idx < hi:
                valid[idx - lo] = False
    else:
        for idx in seeds:
            if lo <= idx < hi:
                valid[idx - lo] = False
    cand = np.flatnonzero(valid)
    if len(cand) == 0:
        return []
    # ties (e.g. songs reached only through one mood) go to the better-connected item
    order = _lexsort_top(-np.round(scores[cand], 15), -scorer.degree[lo:hi][cand], k)
    top = cand[order]
    return [(int(lo + i), float(scores[i])) for i in top]


def _lexsort_top(primary: np.ndarray, secondary: np.ndarray, k: int) -> np.ndarray:
    """``np.lexsort((secondary, primary))[:k]`` without sorting everything (the same order: ties
    below the k-th primary value are all kept, and lexsort is stable)."""
    n = len(primary)
    if n <= 4 * k + 64:
        return np.lexsort((secondary, primary))[:k]
    kth = np.partition(primary, k - 1)[k - 1]
    keep = np.flatnonzero(primary <= kth)
    return keep[np.lexsort((secondary[keep], primary[keep]))[:k]]


def cap_per_artist(projection: Projection, ranked: Sequence[tuple[int, float]], cap: int) -> list[tuple[int, float]]:
    """Keep at most ``cap`` songs per main artist, in rank order."""
    performed = projection.matrices.get("PERFORMED_BY")
    counts: dict[int, int] = {}
    out = []
    for idx, score in ranked:
        artists = performed.getrow(idx).indices if performed is not None else []
        main = int(artists[0]) if len(artists) else -1
        if counts.get(main, 0) >= cap:
            continue
        counts[main] = counts.get(main, 0) + 1
        out.append((idx, score))
    return out


def build_results(
    store: GraphStore,
    scorer: MultiHopScorer,
    seed_idx: Sequence[int],
    ranked: Sequence[tuple[int, float]],
    *,
    n_paths: int = 2,
    max_hops: int = 3,
    relevance: np.ndarray | None = None,
) -> list[Result]:
    """Typed results with node properties and explanation paths."""
    proj = scorer.projection
    results: list[Result] = []
    by_label: dict[str, list[str]] = {}
    for idx, _ in ranked:
        by_label.setdefault(proj.label_of(idx), []).append(str(proj.keys[idx]))
    nodes = {label: store.get_nodes(label, keys) for label, keys in by_label.items()}
    for rank, (idx, score) in enumerate(ranked, start=1):
        label = proj.label_of(idx)
        key = str(proj.keys[idx])
        node = nodes[label].get(key)
        props = dict(node.props) if node else {}
        paths = scorer.paths(seed_idx, idx, max_hops=max_hops, top=n_paths, relevance=relevance) if n_paths else []
        is_song = label == "Song"
        results.append(
            Result(
                rank=rank,
                kind="song" if is_song else "artist",
                id=key,
                name=str(proj.names[idx]),
                score=score,
                artist=props.get("artist") if is_song else props.get("name"),
                title=props.get("title") if is_song else None,
                scores={"graph": score},
                ranks={"graph": rank},
                paths=paths,
                props=props,
            )
        )
    return results
