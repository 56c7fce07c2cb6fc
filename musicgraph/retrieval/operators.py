"""Graph operators: each relation of a request compiles to one scoring operator with its explanation.

Every operator scores the items reachable from one seed through its relation and returns an
:class:`OperatorScores` (a vector over artists and/or one over catalog rows), plus an
:meth:`GraphOperators.explain` path per answer that states the aggregate behind the score:

===================  ==========================================================================
relation             operator
===================  ==========================================================================
fans_of              co-listening meta-path ``Y <-LISTENED_TO- u -LISTENED_TO-> A``: the number
                     of Y's listeners who also play A, damped by A's own listener count
                     (``c / (fans(A) + k0) ** beta``) so global hubs do not crowd out specific
                     answers; explained as "31 % of Madonna's listeners also play Prince (412
                     of 1,330)" with the shared listener who plays both most as the witness
similar_to           ``SIMILAR_TO`` edges where enrichment added them, else co-listening
                     blended with the cosine of the two artists' tag profiles; songs: their
                     artists', plus co-occurrence in playlists for a song seed
performed_by         the seed artist's own songs (main or featured)
member_of            ``MEMBER_OF`` edges both ways and shared (featured) song credits
same_album           the songs of the seed album (or of the seed song's albums)
in_playlist_with     playlist co-occurrence, damped by playlist length; a playlist seed's own songs
tagged / has_genre   ``TAGGED``/``HAS_GENRE`` strength (listeners who gave the tag)
has_mood             a walk from the mood node (labelled songs and their neighbourhood)
listened_by          item-based collaborative filtering from the user's artists (play-weighted
                     co-listening, 90 %) plus the walk from the user (10 %), explained through
                     the user's own artist
related              personalized PageRank from the seed (any label), damped by degree
===================  ==========================================================================
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from musicgraph.graph.resolve import is_personal
from musicgraph.graph.results import ExplanationPath
from musicgraph.graph.schema import Label, Rel
from musicgraph.retrieval.metapath import listening_matrices
from musicgraph.retrieval.request import Relation
from musicgraph.retrieval.space import ItemSpace

if TYPE_CHECKING:
    from musicgraph.retrieval.graph import GraphComponent

log = logging.getLogger(__name__)

__all__ = ["GraphOperators", "OperatorScores"]


@dataclass(slots=True)
class OperatorScores:
    """What one seed's relation scores: per artist item and/or per catalog row (0 = unrelated)."""

    artist: np.ndarray | None = None
    song: np.ndarray | None = None

    def for_kind(self, space: ItemSpace, kind: str) -> np.ndarray:
        """Scores of the items of ``kind`` (songs and albums inherit their artist's score)."""
        parts = []
        if self.song is not None:
            parts.append(space.from_songs(kind, self.song))
        if self.artist is not None:
            if kind == "artist" or self.song is None:
                parts.append(space.from_artists(kind, self.artist))
            else:  # both: the song-level signal first, the artist-level one fills in
                parts.append(0.5 * space.from_artists(kind, self.artist))
        if not parts:
            return np.zeros(space.n(kind))
        out = parts[0]
        for p in parts[1:]:
            out = out + p
        return out


def _norm(v: np.ndarray) -> np.ndarray:
    top = float(v.max()) if len(v) else 0.0
    return v / top if top > 0 else v


def _pct(x: float) -> str:
    x = float(x)
    return f"{100 * x:.0f} %" if x >= 0.01 else f"{100 * x:.1f} %"


def _at(mat: sp.csr_matrix, row: int, col: int) -> float:
    """``mat[row, col]`` by binary search in the CSR row (scipy's scalar indexing costs ~0.2 ms a call)."""
    lo, hi = mat.indptr[row], mat.indptr[row + 1]
    if lo == hi:
        return 0.0
    cols = mat.indices[lo:hi]
    if not mat.has_sorted_indices:
        hit = np.flatnonzero(cols == col)
        return float(mat.data[lo + hit[0]]) if len(hit) else 0.0
    j = int(np.searchsorted(cols, col))
    return float(mat.data[lo + j]) if j < len(cols) and cols[j] == col else 0.0


class GraphOperators:
    """The relation operators over one :class:`ItemSpace` (see the module docstring).

    Args:
        space: items and their membership.
        walker: the PPR engine for ``has_mood`` and ``related`` (:class:`GraphComponent`).
        beta, k0: hub damping of co-listening, ``count / (fans(A) + k0) ** beta``.
        tag_blend: share of tag-profile similarity in ``similar_to`` when no similar-artist edges exist.

    Indices in the methods: ``seed`` and ``*_node`` are rows of the projection (nodes of any label);
    ``item`` is a row of the item space of ``kind`` and ``artist_item`` a row of its artists. The
    explanation methods return an :class:`~musicgraph.graph.results.ExplanationPath` from the seed
    to the answer, or None when the graph holds no such path.
    """

    def __init__(self, space: ItemSpace, walker: GraphComponent | None = None, beta: float = 0.5,
                 k0: float = 10.0, tag_blend: float = 0.2):
        self.space = space
        self.proj = space.projection
        self.walker = walker
        self.beta, self.k0, self.tag_blend = beta, k0, tag_blend
        self.a_lo, self.a_hi = space.a_lo, space.a_hi
        self.u_lo, self.u_hi = space.ranges[Label.USER]
        self.W, self.L, self.LT, self.WT = listening_matrices(self.proj, (self.u_lo, self.u_hi), (self.a_lo, self.a_hi))
        #: listeners per artist
        self.fans = np.diff(self.LT.indptr).astype(np.float64)
        self.damp = np.power(self.fans + k0, beta)
        self._tag_profiles: sp.csr_matrix | None = None
        #: the walk's artist entries are divided by this (degree ** popularity damping) in ``_walk_artists``
        self._artist_damp = None if walker is None else np.power(
            np.maximum(walker.scorer.degree[self.a_lo:self.a_hi], 1e-12), walker.popularity_damping)
        #: per user node: :meth:`user_profile` and :meth:`_profile_fans` (at most PROFILE_CACHE users each)
        self._profiles: dict[int, dict[int, float]] = {}
        self._profile_fans_cache: dict[int, tuple[np.ndarray, ...]] = {}

    # ------------------------------------------------------------ co-listening
    def colisten_counts(self, artist: int) -> np.ndarray:
        """Per artist item: how many listeners of ``artist`` (an artist item) also play it."""
        lo, hi = self.LT.indptr[artist], self.LT.indptr[artist + 1]
        users = self.LT.indices[lo:hi]
        if len(users) == 0:
            return np.zeros(self.a_hi - self.a_lo)
        ptr = self.L.indptr
        listened = np.concatenate([self.L.indices[ptr[u]:ptr[u + 1]] for u in users.tolist()])
        counts = np.bincount(listened, minlength=self.a_hi - self.a_lo).astype(np.float64)
        counts[artist] = 0.0
        return counts

    def fans_of(self, artist: int) -> np.ndarray:
        """Hub-damped co-listening of ``artist``: ``count / (fans(A) + k0) ** beta``."""
        return self.colisten_counts(artist) / self.damp

    def tag_profiles(self) -> sp.csr_matrix:
        """Artists x tags/genres, log-weighted and L2-normalized (for tag-profile cosine)."""
        if self._tag_profiles is None:
            n = self.proj.num_nodes
            parts = []
            for rel in (Rel.TAGGED, Rel.HAS_GENRE):
                mat = self.proj.matrices.get(rel)
                if mat is not None and mat.nnz:
                    parts.append(mat[self.a_lo:self.a_hi])
            prof = sp.csr_matrix((self.a_hi - self.a_lo, n), dtype=np.float64)
            for p in parts:
                prof = prof + sp.csr_matrix(p, dtype=np.float64)
            prof = prof.tocsr()
            prof.data = np.log1p(prof.data)
            # idf: tags on many artists say less
            df = np.bincount(prof.indices, minlength=n).astype(np.float64)
            idf = np.log((1.0 + prof.shape[0]) / (1.0 + df))
            prof = prof @ sp.diags(idf)
            norms = np.sqrt(np.asarray(prof.multiply(prof).sum(axis=1)).ravel())
            prof = sp.diags(1.0 / np.maximum(norms, 1e-12)) @ prof
            self._tag_profiles = prof.tocsr()
        return self._tag_profiles

    def tag_similarity(self, artist: int) -> np.ndarray:
        prof = self.tag_profiles()
        lo, hi = prof.indptr[artist], prof.indptr[artist + 1]
        row = np.zeros(prof.shape[1])
        row[prof.indices[lo:hi]] = prof.data[lo:hi]
        out = np.asarray(prof @ row).ravel()  # one sparse mat-vec (a mat-mat costs ten times more)
        out[artist] = 0.0
        return out

    # --------------------------------------------------------------- operators
    def score(self, relation: Relation, node: int) -> OperatorScores:
        """The scores of ``relation`` from projection node ``node``."""
        label = self.proj.label_of(node)
        fn: Callable[[int, str], OperatorScores] = getattr(self, f"_op_{relation.value}")
        return fn(node, label)

    def _artist_of_seed(self, node: int, label: str) -> int | None:
        if label == Label.ARTIST:
            return node - self.a_lo
        if label == Label.SONG:
            row = self.space.item_of_node("song", node)
            if row is not None and self.space.song_artist[row] >= 0:
                return int(self.space.song_artist[row])
        return None

    def _op_fans_of(self, node: int, label: str) -> OperatorScores:
        a = self._artist_of_seed(node, label)
        if a is None:
            return OperatorScores()
        return OperatorScores(artist=self.fans_of(a))

    def _op_similar_to(self, node: int, label: str) -> OperatorScores:
        if label == Label.ALBUM:
            songs = self._album_rows(node)
            art = self.space.song_artist[songs]
            art = art[art >= 0]
            if len(art) == 0:
                return OperatorScores()
            return self._op_similar_to(self.a_lo + int(np.bincount(art).argmax()), Label.ARTIST)
        a = self._artist_of_seed(node, label)
        out = OperatorScores()
        if a is not None:
            sim = self.proj.matrices.get(Rel.SIMILAR_TO)
            edges = np.zeros(self.a_hi - self.a_lo)
            if sim is not None and sim.nnz:
                row = sim[self.a_lo + a, self.a_lo:self.a_hi] + sim[self.a_lo:self.a_hi, self.a_lo + a].T
                edges = np.asarray(row.todense()).ravel()
            colisten = _norm(self.fans_of(a))
            tags = _norm(self.tag_similarity(a))
            base = (1 - self.tag_blend) * colisten + self.tag_blend * tags
            if edges.any():
                base = 0.5 * _norm(edges) + 0.5 * base
            base[a] = 0.0
            out.artist = base
        if label == Label.SONG:
            row = self.space.item_of_node("song", node)
            if row is not None:
                cooc = self._playlist_cooccurrence(np.array([row]))
                if cooc.any():
                    out.song = _norm(cooc)
        return out

    def _op_performed_by(self, node: int, label: str) -> OperatorScores:
        a = node - self.a_lo
        rows = self._rows_performed_by(a)
        song = np.zeros(len(self.space.catalog))
        song[rows] = 0.5 + 0.5 * self.space.song_prior()[rows]
        artist = np.zeros(self.a_hi - self.a_lo)
        artist[a] = 1.0
        return OperatorScores(artist=artist, song=song)

    def _rows_performed_by(self, a: int) -> np.ndarray:
        """Catalog rows of the songs artist item ``a`` performs (main or featured)."""
        mat = self.proj.matrices.get(Rel.PERFORMED_BY)
        rows = set(np.flatnonzero(self.space.song_artist == a).tolist())
        if mat is not None and mat.nnz:
            col = mat[:, self.a_lo + a].tocoo().row
            for node in col.tolist():
                r = self.space.item_of_node("song", node)
                if r is not None:
                    rows.add(r)
        return np.array(sorted(rows), dtype=np.int64)

    def collaborators(self, a: int) -> np.ndarray:
        """Per artist item: shared song credits with ``a`` plus MEMBER_OF edges (weight 3)."""
        out = np.zeros(self.a_hi - self.a_lo)
        mem = self.proj.matrices.get(Rel.MEMBER_OF)
        if mem is not None and mem.nnz:
            row = mem[self.a_lo + a, self.a_lo:self.a_hi] + mem[self.a_lo:self.a_hi, self.a_lo + a].T
            out += 3.0 * (np.asarray(row.todense()).ravel() > 0)
        perf = self.proj.matrices.get(Rel.PERFORMED_BY)
        if perf is not None and perf.nnz:
            songs = perf[:, self.a_lo + a].tocoo().row
            if len(songs):
                credits = perf[songs][:, self.a_lo:self.a_hi]
                out += np.asarray((credits > 0).sum(axis=0)).ravel()
        out[a] = 0.0
        return out

    def _op_member_of(self, node: int, label: str) -> OperatorScores:
        return OperatorScores(artist=self.collaborators(node - self.a_lo))

    def _album_rows(self, album_node: int) -> np.ndarray:
        members = self.space.members("album")
        col = album_node - self.space.ranges[Label.ALBUM][0]
        return members[:, col].tocoo().row

    def _op_same_album(self, node: int, label: str) -> OperatorScores:
        song = np.zeros(len(self.space.catalog))
        if label == Label.ALBUM:
            rows = self._album_rows(node)
        else:
            row = self.space.item_of_node("song", node)
            if row is None:
                return OperatorScores()
            albums = self.space.members("album")[row].indices
            lo = self.space.ranges[Label.ALBUM][0]
            rows = np.unique(np.concatenate([self._album_rows(lo + int(b)) for b in albums])) if len(albums) else []
        if len(rows):
            song[rows] = 0.5 + 0.5 * self.space.song_prior()[rows]
        return OperatorScores(song=song)

    def _playlist_cooccurrence(self, rows: np.ndarray) -> np.ndarray:
        """Per catalog row: shared playlists with ``rows``, each counted ``1 / sqrt(length)``."""
        members = self.space.members("playlist")
        if members.nnz == 0 or len(rows) == 0:
            return np.zeros(len(self.space.catalog))
        lengths = np.asarray(members.sum(axis=0)).ravel()
        pl = np.zeros(members.shape[1])
        for r in np.asarray(rows).tolist():
            pl[members[r].indices] += 1.0
        pl = pl / np.sqrt(np.maximum(lengths, 1.0))
        out = members @ pl
        out[np.asarray(rows)] = 0.0
        return np.asarray(out).ravel()

    def _op_in_playlist_with(self, node: int, label: str) -> OperatorScores:
        if label == Label.PLAYLIST:
            col = node - self.space.ranges[Label.PLAYLIST][0]
            rows = self.space.members("playlist")[:, col].tocoo().row
            song = np.zeros(len(self.space.catalog))
            song[rows] = 0.5 + 0.5 * self.space.song_prior()[rows]
            return OperatorScores(song=song)
        if label == Label.ARTIST:
            rows = self._rows_performed_by(node - self.a_lo)
        else:
            row = self.space.item_of_node("song", node)
            rows = np.array([row]) if row is not None else np.empty(0, dtype=np.int64)
        return OperatorScores(song=self._playlist_cooccurrence(rows))

    def _attr_scores(self, node: int) -> OperatorScores:
        key = str(self.proj.keys[node])
        nodes = self.space.attr_nodes(key) or [node]
        artist_w = self.space.attr_weight(Label.ARTIST, nodes)
        song_node_w = self.space.attr_weight(Label.SONG, nodes)
        # strength: log of the listeners who gave the tag, times how known the artist is
        pop = self.space.popularity("artist") / 100.0
        artist = np.log1p(artist_w) * (0.5 + 0.5 * pop)
        ok = self.space.row_node >= 0
        song = np.zeros(len(self.space.catalog))
        song[ok] = song_node_w[self.space.row_node[ok] - self.space.s_lo]
        song = np.where(song > 0, 0.5 + 0.5 * self.space.song_prior(), 0.0)
        return OperatorScores(artist=artist if artist.any() else None, song=song if song.any() else None)

    def _op_tagged(self, node: int, label: str) -> OperatorScores:
        return self._attr_scores(node)

    def _op_has_genre(self, node: int, label: str) -> OperatorScores:
        return self._attr_scores(node)

    def _walk_scores(self, seeds: dict[int, float]) -> OperatorScores:
        if self.walker is None:
            raise RuntimeError("this operator needs the PPR walker")
        gs = self.walker.score(seeds, conjunctive=False)
        song = np.asarray(gs.scores, dtype=np.float64)
        r = gs.ppr if gs.ppr is not None else np.zeros(self.proj.num_nodes)
        return OperatorScores(artist=self._walk_artists(r[self.a_lo:self.a_hi], seeds), song=song)

    def _walk_artists(self, r_artists: np.ndarray, seeds: dict[int, float]) -> np.ndarray:
        """Artist item scores from the walk's artist entries: damped by degree, the seeds left out."""
        artist = r_artists / self._artist_damp
        for s in seeds:
            if self.a_lo <= s < self.a_hi:
                artist[s - self.a_lo] = 0.0
        return artist

    def _walk_artist_scores(self, seeds: dict[int, float]) -> np.ndarray:
        """``_walk_scores(seeds).artist`` without the song scores: the walk's last step on the artist rows only."""
        if self.walker is None:
            raise RuntimeError("this operator needs the PPR walker")
        return self._walk_artists(self.walker._ppr(seeds, rows=(self.a_lo, self.a_hi)), seeds)

    def _op_has_mood(self, node: int, label: str) -> OperatorScores:
        return self._walk_scores({node: 1.0})

    def _op_related(self, node: int, label: str) -> OperatorScores:
        return self._walk_scores({node: 1.0})

    #: users whose profiles (and their artists' listeners) are kept between calls
    PROFILE_CACHE = 64

    def user_profile(self, user_node: int) -> dict[int, float]:
        """The user's artists (artist items) with log play weights (a shared dict: do not change it)."""
        hit = self._profiles.get(user_node)
        if hit is not None:
            return hit
        u = user_node - self.u_lo
        if not 0 <= u < self.W.shape[0]:
            return {}
        lo, hi = self.W.indptr[u], self.W.indptr[u + 1]
        out = {int(a): float(np.log1p(w)) for a, w in zip(self.W.indices[lo:hi], self.W.data[lo:hi], strict=True)}
        return self._keep(self._profiles, user_node, out)

    def _keep(self, cache: dict[int, Any], user_node: int, value: Any) -> Any:
        """``value``, stored in a per-user cache that is emptied when it holds :attr:`PROFILE_CACHE` users."""
        if len(cache) >= self.PROFILE_CACHE:
            cache.clear()
        cache[user_node] = value
        return value

    def _profile_fans(self, user_node: int) -> tuple[np.ndarray, ...] | None:
        """The user's profile artists, their weights, and every listener of each (for :meth:`user_path`).

        Returns ``(arts, weights, owner, listeners, norm)``: ``listeners[i]`` plays ``arts[owner[i]]``;
        ``norm = sqrt(max(fans(arts), 1))``. Kept per user (one request explains ten answers with it).
        """
        hit = self._profile_fans_cache.get(user_node)
        if hit is not None:
            return hit
        profile = self.user_profile(user_node)
        if not profile:
            return None
        arts = np.fromiter(profile.keys(), dtype=np.int64, count=len(profile))
        weights = np.fromiter(profile.values(), dtype=np.float64, count=len(profile))
        starts, lens = self.LT.indptr[arts], np.diff(self.LT.indptr)[arts]
        total = int(lens.sum())
        owner = np.repeat(np.arange(len(arts)), lens)
        pos = np.repeat(starts - np.concatenate(([0], np.cumsum(lens)[:-1])), lens) + np.arange(total)
        out = (arts, weights, owner, self.LT.indices[pos], np.sqrt(np.maximum(self.fans[arts], 1.0)))
        return self._keep(self._profile_fans_cache, user_node, out)

    def user_known(self, user_node: int) -> list[int]:
        """Every node the user has a ``LISTENED_TO`` edge to, artists and songs, whatever the weight: a
        personal profile keeps what was only skipped at weight 0 (known, no preference)."""
        lt = self.proj.matrices.get(Rel.LISTENED_TO)
        if lt is None or not self.u_lo <= user_node < self.u_hi:
            return []
        return [int(i) for i in lt.indices[lt.indptr[user_node]:lt.indptr[user_node + 1]]]

    def _op_listened_by(self, node: int, label: str) -> OperatorScores:
        profile = self.user_profile(node)
        if not profile:
            return self._walk_scores({node: 1.0})  # a user without listening data: the walk
        # sum over the user's artists a of w(a) * (listeners of a who play A) / sqrt(fans(a)): two mat-vecs
        x = np.zeros(self.a_hi - self.a_lo)
        for a, w in profile.items():
            x[a] = w / np.sqrt(max(self.fans[a], 1.0))
        per_user = self.L @ x  # users: summed weight of the profile artists they play
        out = np.asarray(self.LT @ per_user).ravel()
        for a, w in profile.items():  # an artist is not its own co-listener (as in colisten_counts)
            out[a] -= w / np.sqrt(max(self.fans[a], 1.0)) * self.fans[a]
        out = np.maximum(out, 0.0) / self.damp
        if self.walker is None:
            return OperatorScores(artist=out)
        # the walk from the user reaches artists no co-listener plays (through tags, friends):
        # a small share, so the shared-listener signal leads and every user gets answers
        walk = self._walk_artist_scores({node: 1.0})
        return OperatorScores(artist=0.9 * _norm(out) + 0.1 * _norm(walk))

    # ------------------------------------------------------------ explanation
    def explain(self, relation: Relation, seed: int, kind: str, item: int) -> ExplanationPath | None:
        """A path from ``seed`` to the answer that states why ``relation`` holds.

        The relation's own witness (a shared listener, a shared tag, a credit, an edge) comes first;
        where it has none (the answer came from the walk), the best walk path of up to three hops.
        Returns None only when the two are not connected within three hops.
        """
        found = self._explain(relation, seed, kind, item)
        if found is None and relation not in (Relation.TAGGED, Relation.HAS_GENRE):
            found = self._walk_path(seed, self.space.node(kind, item))
        return found

    def _explain(self, relation: Relation, seed: int, kind: str, item: int) -> ExplanationPath | None:
        label = self.proj.label_of(seed)
        target = self.space.node(kind, item)
        owner = int(self.space.item_artist(kind)[item]) if kind != "playlist" else -1
        if relation in (Relation.FANS_OF, Relation.SIMILAR_TO):
            a = self._artist_of_seed(seed, label)
            if relation == Relation.SIMILAR_TO and label == Label.ALBUM:
                return self._walk_path(seed, target)
            if a is not None and owner >= 0:
                path = self.colisten_path(self.a_lo + a, owner, target if kind != "artist" else None)
                if path is None and relation == Relation.SIMILAR_TO:
                    path = self.tag_path(self.a_lo + a, owner, target if kind != "artist" else None)
                if path is not None and label == Label.SONG:
                    path = _prepend(self.proj, seed, Rel.PERFORMED_BY, path)
                if path is not None:
                    return path
            return self._walk_path(seed, target)
        if relation == Relation.PERFORMED_BY:
            if kind == "artist":
                return None
            return self._walk_path(seed, target, hops=2)
        if relation == Relation.MEMBER_OF and owner >= 0:
            return self._walk_path(seed, self.a_lo + owner if kind != "artist" else target, hops=3,
                                   note=self._collab_note(seed - self.a_lo, owner))
        if relation in (Relation.TAGGED, Relation.HAS_GENRE):
            return self.constraint_edge(str(self.proj.keys[seed]), kind, item)
        if relation == Relation.LISTENED_BY and owner >= 0:
            return self.user_path(seed, owner, target if kind != "artist" else None)
        return self._walk_path(seed, target)

    def _collab_note(self, a: int, b: int) -> str:
        n = int(self.collaborators(a)[b])
        return f"{self.proj.names[self.a_lo + a]} and {self.proj.names[self.a_lo + b]} share {n} credit(s)"

    def _walk_path(self, seed: int, target: int, hops: int = 3, note: str = "") -> ExplanationPath | None:
        if self.walker is None or target < 0:
            return None
        found = self.walker.scorer.paths([seed], target, max_hops=hops, top=1, prefer_short=True)
        if not found:
            return None
        if note:
            found[0].note = note
        return found[0]

    def colisten_path(self, seed_node: int, artist_item: int, song_node: int | None) -> ExplanationPath | None:
        """``Y <-LISTENED_TO- u -LISTENED_TO-> A [<-PERFORMED_BY- S]`` with the share as its note."""
        y = seed_node - self.a_lo
        if y == artist_item or self.fans[y] == 0:
            return None
        common, strength = self._shared_listeners(y, artist_item)
        if len(common) == 0:
            return None
        witness = int(common[np.lexsort((common, -strength))[0]])
        share = len(common) / self.fans[y]
        yn, an = str(self.proj.names[seed_node]), str(self.proj.names[self.a_lo + artist_item])
        note = f"{_pct(share)} of {yn}'s listeners also play {an} ({len(common):,} of {int(self.fans[y]):,})"
        nodes = [seed_node, self.u_lo + witness, self.a_lo + artist_item]
        rels = [f"<-{Rel.LISTENED_TO}", Rel.LISTENED_TO]
        if song_node is not None:
            nodes.append(song_node)
            rels.append(f"<-{Rel.PERFORMED_BY}")
        return _path(self.proj, nodes, rels, share, note)

    def _shared_listeners(self, y: int, a: int) -> tuple[np.ndarray, np.ndarray]:
        """The listeners of both artist items (sorted) and, per listener, the smaller of the two play counts.

        One scatter of ``a``'s play counts over the users and a gather at ``y``'s listeners (every
        stored play count is nonzero: zeros were dropped from :attr:`W`), instead of a sorted merge.
        """
        wt = self.WT
        uy, wy = wt.indices[wt.indptr[y]:wt.indptr[y + 1]], wt.data[wt.indptr[y]:wt.indptr[y + 1]]
        plays_a = np.zeros(wt.shape[1], dtype=wt.data.dtype)
        plays_a[wt.indices[wt.indptr[a]:wt.indptr[a + 1]]] = wt.data[wt.indptr[a]:wt.indptr[a + 1]]
        at_y = plays_a[uy]
        both = at_y != 0
        return uy[both], np.minimum(wy[both], at_y[both])

    def _witness(self, y: int, a: int) -> int:
        """The shared listener who plays both most (max of the smaller play count; ties: the lower user index)."""
        common, strength = self._shared_listeners(y, a)
        return int(common[np.lexsort((common, -strength))[0]])

    def tag_path(self, seed_node: int, artist_item: int, song_node: int | None) -> ExplanationPath | None:
        """``Y -TAGGED-> T <-TAGGED- A`` through the shared tag that weighs most for both."""
        prof = self.tag_profiles()
        y = seed_node - self.a_lo
        both = prof[y].multiply(prof[artist_item]).tocoo()
        if both.nnz == 0:
            return None
        t = int(both.col[np.argmax(both.data)])
        rel_y = Rel.TAGGED if self.proj.label_of(t) == Label.TAG else Rel.HAS_GENRE
        tn = str(self.proj.names[t])
        note = f"{self.proj.names[seed_node]} and {self.proj.names[self.a_lo + artist_item]} are both tagged {tn}"
        nodes = [seed_node, t, self.a_lo + artist_item]
        rels = [rel_y, f"<-{rel_y}"]
        if song_node is not None:
            nodes.append(song_node)
            rels.append(f"<-{Rel.PERFORMED_BY}")
        return _path(self.proj, nodes, rels, float(both.data.max()), note)

    def user_path(self, user_node: int, artist_item: int, song_node: int | None) -> ExplanationPath | None:
        """``U -LISTENED_TO-> a <-LISTENED_TO- u -LISTENED_TO-> A``: through the user's artist that counts most."""
        fans = self._profile_fans(user_node)
        if fans is None:
            return None
        arts, weights, owner, listeners, norm = fans
        target_fans = np.zeros(self.L.shape[0])
        target_fans[self.LT.indices[self.LT.indptr[artist_item]:self.LT.indptr[artist_item + 1]]] = 1.0
        # listeners of each profile artist who play A (the profile's rows only, not every artist's)
        shared = np.bincount(owner, weights=target_fans[listeners], minlength=len(arts))
        value = weights * shared / norm
        value[arts == artist_item] = 0.0
        if not (value > 0).any():
            return None
        best_a = int(arts[int(np.argmax(value))])
        inner = self.colisten_path(self.a_lo + best_a, artist_item, song_node)
        if inner is None:
            return None
        u = user_node - self.u_lo
        plays = _at(self.W, u, best_a)
        who = str(self.proj.keys[user_node])
        subject = "you" if is_personal(who) else str(self.proj.names[user_node])
        verb = "played" if subject == "you" else "plays"
        # a personal profile's edge weight counts plays weighted by time played and skips (graph/profile.py)
        weighted = " (weighted)" if subject == "you" else ""
        inner.note = f"{subject} {verb} {self.proj.names[self.a_lo + best_a]} {plays:,.0f} times{weighted}; {inner.note}"
        return _prepend(self.proj, user_node, Rel.LISTENED_TO, inner, forward=True)

    def constraint_edge(self, name: str, kind: str, item: int) -> ExplanationPath | None:
        """The edge by which an answer carries tag or genre ``name`` (one hop, or through its artist)."""
        nodes = self.space.attr_nodes(name)
        target = self.space.node(kind, item)
        owner = int(self.space.item_artist(kind)[item]) if kind != "playlist" else -1
        candidates = []
        if target >= 0:
            candidates.append((target, None))
        if kind in ("song", "album") and owner >= 0:
            candidates.append((self.a_lo + owner, target))
        for holder, via in candidates:
            for t in nodes:
                for rel in (Rel.TAGGED, Rel.HAS_GENRE):
                    mat = self.proj.matrices.get(rel)
                    if mat is None or mat.nnz == 0:
                        continue
                    w = _at(mat, holder, t)
                    if w <= 0:
                        continue
                    how = f"tagged {self.proj.names[t]} by {w:,.0f} listener(s)" if rel == Rel.TAGGED and w > 1 else (
                        f"tagged {self.proj.names[t]}" if rel == Rel.TAGGED else f"genre {self.proj.names[t]}")
                    note = f"{self.proj.names[holder]}: {how}"
                    p_nodes, p_rels = [t, holder], [f"<-{rel}"]
                    if via is not None and via >= 0:
                        p_nodes.append(via)
                        p_rels.append(f"<-{Rel.PERFORMED_BY}" if kind == "song" else f"<-{Rel.ALBUM_BY}")
                    return _path(self.proj, p_nodes, p_rels, w, note)
        return None

    def mood_edge(self, mood: str, kind: str, item: int) -> ExplanationPath | None:
        """``M <-HAS_MOOD- S`` for a song (or a labelled song of the item)."""
        from musicgraph.graph.resolve import normalize_tag

        m = self.proj.index(Label.MOOD, normalize_tag(mood))
        mat = self.proj.matrices.get(Rel.HAS_MOOD)
        if m is None or mat is None:
            return None
        if kind == "song":
            s = self.space.node("song", item)
            if s >= 0 and _at(mat, s, m) > 0:
                return _path(self.proj, [m, s], [f"<-{Rel.HAS_MOOD}"], 1.0, f"labelled {mood}")
            return None
        members = self.space.members(kind)[:, item].tocoo().row
        for r in members.tolist():
            s = self.space.node("song", r)
            if s >= 0 and _at(mat, s, m) > 0:
                target = self.space.node(kind, item)
                rel = {"artist": Rel.PERFORMED_BY, "album": Rel.ON_ALBUM, "playlist": Rel.IN_PLAYLIST}[kind]
                return _path(self.proj, [m, s, target], [f"<-{Rel.HAS_MOOD}", rel], 1.0,
                             f"{self.proj.names[s]} is labelled {mood}")
        return None


def _path(proj, nodes: Sequence[int], rels: Sequence[str], score: float, note: str = "") -> ExplanationPath:
    return ExplanationPath(nodes=[proj.ref(i) for i in nodes], names=[str(proj.names[i]) for i in nodes], rels=list(rels),
                score=float(score), note=note)


def _prepend(proj, node: int, rel: str, path: ExplanationPath, forward: bool = True) -> ExplanationPath:
    """``node -rel-> path`` (the relationship stored from ``node`` to the path's first node; with
    ``forward=False`` stored the other way)."""
    return ExplanationPath(nodes=[proj.ref(node), *path.nodes], names=[str(proj.names[node]), *path.names],
                rels=[rel if forward else f"<-{rel}", *path.rels], score=path.score, note=path.note)
