"""Items of every output kind, the masks that constraints compile to, and exact top-k selection.

An :class:`ItemSpace` joins the graph projection with the song catalog the retrieval indexes are
built over. Items are numbered per kind:

=========  ============================================  ====================================
kind       item ``i``                                    belongs to an artist
=========  ============================================  ====================================
song       catalog row ``i`` (the index rows)            its main artist
artist     projection node ``a_lo + i``                  itself
album      projection node ``album_lo + i``              ``ALBUM_BY``
playlist   projection node ``playlist_lo + i``           none
=========  ============================================  ====================================

Constraints (:class:`~musicgraph.retrieval.request.Constraints`) become one boolean mask per kind
(:meth:`ItemSpace.constraint_mask`): a tag or genre ``T`` is carried by a song when the song or its
main artist has a ``TAGGED``/``HAS_GENRE`` edge to a node named ``T`` (tags and genres share
normalized keys, so "hip-hop" and "Hip Hop" meet), by an artist when the artist has one (or one of
its songs has the genre), by an album or playlist when one of its songs carries it. Moods are song
labels (``HAS_MOOD``); other kinds need one labelled song. Years and audio features read the
catalog; other kinds use the mean of their songs. Popularity is a percentile band within the kind.

:meth:`ItemSpace.select` takes the exact top-k of allowed, positively scored items, with a per-artist
cap that never returns fewer than ``k`` when enough items exist (capped items fill the tail, best
first).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from musicgraph.errors import UnknownEntityError
from musicgraph.graph.projection import Projection
from musicgraph.graph.resolve import artist_key, normalize_tag
from musicgraph.graph.schema import Label, Rel
from musicgraph.retrieval.catalog import FEATURES, SongTable
from musicgraph.retrieval.metapath import label_nodes
from musicgraph.retrieval.request import Constraints, EntityRef

log = logging.getLogger(__name__)

__all__ = ["KIND_LABELS", "ItemSpace", "Selected"]

#: The graph label of each output kind.
KIND_LABELS: dict[str, str] = {"song": Label.SONG, "artist": Label.ARTIST, "album": Label.ALBUM,
                               "playlist": Label.PLAYLIST}


@dataclass(slots=True)
class Selected:
    """One chosen item: its index within the kind and its score."""

    item: int
    score: float


def _binary(mat: sp.spmatrix) -> sp.csr_matrix:
    out = sp.csr_matrix(mat, dtype=np.float32, copy=True)
    out.data[:] = 1.0
    out.eliminate_zeros()
    return out


class ItemSpace:
    """Items of each output kind over ``projection`` and ``catalog`` (see the module docstring).

    Args:
        projection: the store's projection.
        catalog: the song catalog (rows = song items).
    """

    def __init__(self, projection: Projection, catalog: SongTable):
        self.projection = projection
        self.catalog = catalog
        lr = projection.label_ranges
        self.ranges: dict[str, tuple[int, int]] = {label: lr.get(label, (0, 0)) for label in
                                                   (Label.SONG, Label.ARTIST, Label.ALBUM, Label.PLAYLIST,
                                                    Label.TAG, Label.GENRE, Label.MOOD, Label.USER)}
        self.a_lo, self.a_hi = self.ranges[Label.ARTIST]
        self.s_lo, self.s_hi = self.ranges[Label.SONG]
        # catalog row <-> projection song node
        self.row_node = label_nodes(projection, Label.SONG, catalog.keys)
        self.node_row = np.full(max(self.s_hi - self.s_lo, 0), -1, dtype=np.int64)
        ok = self.row_node >= 0
        self.node_row[self.row_node[ok] - self.s_lo] = np.flatnonzero(ok)
        # main artist per row (as an artist item)
        nodes = label_nodes(projection, Label.ARTIST, catalog.artist_keys)
        self.song_artist = np.where(nodes >= 0, nodes - self.a_lo, -1)
        self._members: dict[str, sp.csr_matrix] = {}
        self._cache: dict[tuple, Any] = {}

    # ------------------------------------------------------------------ basics
    def n(self, kind: str) -> int:
        """Number of items of ``kind``."""
        if kind == "song":
            return len(self.catalog)
        lo, hi = self.ranges[KIND_LABELS[kind]]
        return hi - lo

    def node(self, kind: str, item: int) -> int:
        """The projection node of an item (-1 for a song row that has no node)."""
        if kind == "song":
            return int(self.row_node[item])
        return self.ranges[KIND_LABELS[kind]][0] + int(item)

    def item_of_node(self, kind: str, node: int) -> int | None:
        """The item of ``kind`` that is projection node ``node`` (None if it is not one)."""
        if kind == "song":
            if not self.s_lo <= node < self.s_hi:
                return None
            row = int(self.node_row[node - self.s_lo])
            return row if row >= 0 else None
        lo, hi = self.ranges[KIND_LABELS[kind]]
        return node - lo if lo <= node < hi else None

    def key(self, kind: str, item: int) -> str:
        return self.catalog.keys[item] if kind == "song" else str(self.projection.keys[self.node(kind, item)])

    def name(self, kind: str, item: int) -> str:
        return self.catalog.titles[item] if kind == "song" else str(self.projection.names[self.node(kind, item)])

    def alive(self, kind: str) -> np.ndarray:
        """Items that exist (catalog rows not deleted; every node of other kinds)."""
        if kind == "song":
            return self.catalog.alive.copy()
        return np.ones(self.n(kind), dtype=bool)

    def item_artist(self, kind: str) -> np.ndarray:
        """Per item, the artist item it belongs to (-1: none), for per-artist caps."""
        hit = self._cache.get(("artist_of", kind))
        if hit is not None:
            return hit
        if kind == "song":
            out = self.song_artist
        elif kind == "artist":
            out = np.arange(self.n("artist"), dtype=np.int64)
        elif kind == "album":
            out = np.full(self.n("album"), -1, dtype=np.int64)
            mat = self.projection.matrices.get(Rel.ALBUM_BY)
            if mat is not None and mat.nnz:
                lo, hi = self.ranges[Label.ALBUM]
                sub = mat[lo:hi].tocsr()
                for i in range(hi - lo):
                    cols = sub.indices[sub.indptr[i]:sub.indptr[i + 1]]
                    if len(cols):
                        out[i] = int(cols.min()) - self.a_lo
        else:
            out = np.full(self.n(kind), -1, dtype=np.int64)
        self._cache[("artist_of", kind)] = out
        return out

    # -------------------------------------------------------------- membership
    def members(self, kind: str) -> sp.csr_matrix:
        """Songs x items of ``kind`` (binary): which catalog rows belong to which item."""
        hit = self._members.get(kind)
        if hit is not None:
            return hit
        n_rows = len(self.catalog)
        if kind == "artist":
            ok = self.song_artist >= 0
            rows = np.flatnonzero(ok)
            mat = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, self.song_artist[ok])),
                                shape=(n_rows, self.n("artist")))
        elif kind in ("album", "playlist"):
            rel = Rel.ON_ALBUM if kind == "album" else Rel.IN_PLAYLIST
            lo, hi = self.ranges[KIND_LABELS[kind]]
            edges = self.projection.matrices.get(rel)
            mat = sp.csr_matrix((n_rows, hi - lo), dtype=np.float32)
            if edges is not None and edges.nnz:
                coo = edges[self.s_lo:self.s_hi, lo:hi].tocoo()
                r = self.node_row[coo.row]
                keep = r >= 0
                mat = sp.csr_matrix((np.ones(int(keep.sum()), dtype=np.float32), (r[keep], coo.col[keep])),
                                    shape=(n_rows, hi - lo))
                mat.data[:] = 1.0
        elif kind == "song":
            mat = sp.identity(n_rows, dtype=np.float32, format="csr")
        else:
            raise ValueError(f"unknown kind {kind!r}")
        mat = mat.tocsr()
        self._members[kind] = mat
        return mat

    def from_songs(self, kind: str, song_scores: np.ndarray) -> np.ndarray:
        """Item scores from catalog-row scores: the best song of each item."""
        if kind == "song":
            return song_scores
        members = self.members(kind)
        out = np.zeros(members.shape[1], dtype=np.float64)
        coo = members.tocoo()
        np.maximum.at(out, coo.col, np.asarray(song_scores, dtype=np.float64)[coo.row])
        return out

    def from_artists(self, kind: str, artist_scores: np.ndarray) -> np.ndarray:
        """Item scores from artist scores: a song or album inherits its artist's (songs with a
        popularity tie-break far below score differences); a playlist takes its best artist's."""
        artist_scores = np.asarray(artist_scores, dtype=np.float64)
        if kind == "artist":
            return artist_scores
        owner = self.item_artist(kind)
        if kind == "playlist":
            per_song = self.from_artists("song", artist_scores)
            return self.from_songs("playlist", per_song)
        out = np.where(owner >= 0, artist_scores[np.maximum(owner, 0)], 0.0)
        if kind == "song":
            out = out * (1.0 + 1e-3 * self.song_prior())
        return out

    def song_prior(self) -> np.ndarray:
        """Per catalog row, 0..1: how well known the song is (popularity, else graph degree)."""
        hit = self._cache.get(("song_prior",))
        if hit is not None:
            return hit
        pop = self.catalog.feature("popularity").astype(np.float64)
        deg = np.zeros(len(self.catalog))
        ok = self.row_node >= 0
        for rel in (Rel.IN_PLAYLIST, Rel.HAS_MOOD, Rel.ON_ALBUM, Rel.HAS_GENRE):
            mat = self.projection.matrices.get(rel)
            if mat is not None and mat.nnz:
                d = np.diff(mat.indptr)
                deg[ok] += d[self.row_node[ok]]
        degn = np.log1p(deg) / max(float(np.log1p(deg).max()), 1e-12)
        out = np.where(np.isnan(pop), 0.5 * degn, 0.5 + 0.5 * np.nan_to_num(pop) / 100.0)
        self._cache[("song_prior",)] = out
        return out

    # ------------------------------------------------------------ attributes
    def attr_nodes(self, name: str) -> list[int]:
        """Tag and genre nodes named ``name`` (normalized: "Hip-Hop" = "hip hop")."""
        key = normalize_tag(name)
        out = []
        for label in (Label.TAG, Label.GENRE):
            idx = self.projection.index(label, key)
            if idx is not None:
                out.append(idx)
        return out

    def _edges_to(self, rel: str, targets: Sequence[int]) -> sp.csc_matrix | None:
        if not targets:
            return None
        ck = ("csc", rel)
        csc = self._cache.get(ck)
        if csc is None:
            mat = self.projection.matrices.get(rel)
            if mat is None or mat.nnz == 0:
                return None
            csc = mat.tocsc()  # once: a column slice of CSR walks every row, of CSC only those columns
            csc.sort_indices()
            self._cache[ck] = csc
        return csc[:, list(targets)]

    def attr_weight(self, label: str, nodes: Sequence[int]) -> np.ndarray:
        """Per node of ``label``: the summed TAGGED/HAS_GENRE weight into ``nodes`` (0 = not carried)."""
        lo, hi = self.ranges[label]
        out = np.zeros(hi - lo, dtype=np.float64)
        for rel in (Rel.TAGGED, Rel.HAS_GENRE):
            sub = self._edges_to(rel, nodes)
            if sub is None:
                continue
            w = np.asarray(sub[lo:hi].sum(axis=1)).ravel()
            out += w
        return out

    def carries(self, kind: str, name: str) -> np.ndarray:
        """Items of ``kind`` that carry tag or genre ``name`` (see the module docstring)."""
        ck = ("carries", kind, normalize_tag(name))
        hit = self._cache.get(ck)
        if hit is not None:
            return hit
        nodes = self.attr_nodes(name)
        if not nodes:
            raise UnknownEntityError("tag or genre", name, self._suggest_attr(name))
        song_node_w = self.attr_weight(Label.SONG, nodes)
        artist_w = self.attr_weight(Label.ARTIST, nodes)
        ok = self.row_node >= 0
        song_own = np.zeros(len(self.catalog), dtype=bool)
        song_own[ok] = song_node_w[self.row_node[ok] - self.s_lo] > 0
        has_artist = self.song_artist >= 0
        song = song_own.copy()
        song[has_artist] |= artist_w[self.song_artist[has_artist]] > 0
        if kind == "song":
            out = song
        elif kind == "artist":
            out = artist_w > 0
            out |= self.from_songs("artist", song_own.astype(np.float64)) > 0
        else:
            out = self.from_songs(kind, song.astype(np.float64)) > 0
        self._cache[ck] = out
        return out

    def _suggest_attr(self, name: str) -> list[str]:
        import difflib

        names = []
        for label in (Label.TAG, Label.GENRE):
            lo, hi = self.ranges[label]
            names += [str(k) for k in self.projection.keys[lo:hi]]
        return difflib.get_close_matches(normalize_tag(name), sorted(set(names)), n=3, cutoff=0.75)

    def has_mood(self, kind: str, mood: str) -> np.ndarray:
        """Items of ``kind`` labelled ``mood`` (songs; other kinds: one labelled song)."""
        idx = self.projection.index(Label.MOOD, normalize_tag(mood))
        if idx is None:
            lo, hi = self.ranges[Label.MOOD]
            raise UnknownEntityError("mood", mood, [str(k) for k in self.projection.keys[lo:hi]])
        mat = self.projection.matrices.get(Rel.HAS_MOOD)
        song = np.zeros(len(self.catalog), dtype=bool)
        if mat is not None and mat.nnz:
            col = np.asarray(mat[:, idx].todense()).ravel()
            ok = self.row_node >= 0
            song[ok] = col[self.row_node[ok]] > 0
        if kind == "song":
            return song
        out = self.from_songs(kind, song.astype(np.float64)) > 0
        if kind == "playlist" and mat is not None and mat.nnz:  # playlists carry moods themselves
            lo, hi = self.ranges[Label.PLAYLIST]
            out |= np.asarray(mat[lo:hi, idx].todense()).ravel() > 0
        return out

    def feature_values(self, kind: str, name: str) -> np.ndarray:
        """Per item, the feature value (songs) or the mean over its songs (NaN: unknown)."""
        col = self.catalog.feature(name).astype(np.float64)
        if kind == "song":
            return col
        ck = ("feature", kind, name)
        hit = self._cache.get(ck)
        if hit is not None:
            return hit
        members = self.members(kind)
        known = ~np.isnan(col)
        sums = members.T @ np.where(known, col, 0.0)
        counts = members.T @ known.astype(np.float64)
        out = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        self._cache[ck] = out
        return out

    def years_mask(self, kind: str, rng: tuple[float | None, float | None]) -> np.ndarray:
        """Songs released in ``rng``; other kinds: one such song (artists: or a decade tag such as "90s")."""
        col = self.catalog.feature("year").astype(np.float64)
        lo, hi = rng
        song = ~np.isnan(col)
        if lo is not None:
            song &= col >= lo
        if hi is not None:
            song &= col <= hi
        if kind == "song":
            return song
        out = self.from_songs(kind, song.astype(np.float64)) > 0
        if kind == "artist" and lo is not None and hi is not None and hi - lo <= 30:
            # few artists have dated songs in the catalog: a decade tag ("90s") counts too
            for decade in range(int(lo) // 10 * 10, int(hi) + 1, 10):
                for name in (f"{decade % 100:02d}s", f"{decade}s"):
                    if self.attr_nodes(name):
                        out |= self.carries("artist", name)
        return out

    def popularity(self, kind: str) -> np.ndarray:
        """Per item, the percentile (0..100) of its popularity within the kind.

        Artists: number of listeners (ties by graph degree), ranked among artists with listeners
        (those without are at 0); songs: Spotify popularity, else the artist's listener
        percentile; albums and playlists: their best song's.
        """
        ck = ("popularity", kind)
        hit = self._cache.get(ck)
        if hit is not None:
            return hit
        if kind == "artist":
            listened = self.projection.matrices.get(Rel.LISTENED_TO)
            raw = np.zeros(self.n("artist"))
            if listened is not None and listened.nnz:
                b = _binary(listened)
                raw = np.asarray(b.sum(axis=0)).ravel()[self.a_lo:self.a_hi].astype(np.float64)
            deg = np.zeros(self.n("artist"))
            for mat in self.projection.matrices.values():
                d = np.diff(mat.indptr)[self.a_lo:self.a_hi] + np.bincount(mat.indices, minlength=mat.shape[1])[self.a_lo:self.a_hi]
                deg += d
            # ranked among artists somebody listens to; the rest (catalog-only artists) are at 0
            out = np.zeros(len(raw))
            heard = raw > 0
            out[heard] = _percentile(raw[heard] + 1e-6 * deg[heard])
        elif kind == "song":
            art = self.popularity("artist")
            pop = self.catalog.feature("popularity").astype(np.float64)
            fallback = np.where(self.song_artist >= 0, art[np.maximum(self.song_artist, 0)], 0.0)
            out = _percentile(np.where(np.isnan(pop), fallback, pop))
        else:
            out = self.from_songs(kind, self.popularity("song"))
        self._cache[ck] = out
        return out

    # ----------------------------------------------------------- resolution
    def resolve(self, ref: EntityRef) -> int:
        """The projection node of an entity reference (by key, else by name).

        Raises:
            UnknownEntityError: not in the graph (with close names).
        """
        label = ref.label
        keys = [ref.key] if ref.key else _candidate_keys(label, ref.name)
        for key in keys:
            idx = self.projection.index(label, key)
            if idx is not None:
                return idx
        if label == Label.SONG and not ref.key:
            found = self._song_by_title(ref.name)
            if found is not None:
                return found
        raise UnknownEntityError(label.lower(), ref.name, self.suggest(label, ref.name))

    def _song_by_title(self, name: str) -> int | None:
        """A song named "Title" or "Artist - Title" (the most popular of equal titles)."""
        from musicgraph.normalize import word_form

        if " - " in name:
            artist, title = name.split(" - ", 1)
            idx = self.projection.index(Label.SONG, f"{artist_key(artist)}|{normalize_tag(title)}")
            if idx is not None:
                return idx
            name = title
        want = word_form(name)
        rows = [i for i, t in enumerate(self.catalog.titles) if self.catalog.alive[i] and word_form(t) == want]
        if not rows:
            return None
        prior = self.song_prior()
        best = max(rows, key=lambda r: (prior[r], -r))
        node = int(self.row_node[best])
        return node if node >= 0 else None

    def suggest(self, label: str, name: str, n: int = 3) -> list[str]:
        """Display names of ``label`` close to ``name``."""
        import difflib

        from musicgraph.normalize import word_form

        ck = ("names", label)
        table = self._cache.get(ck)
        if table is None:
            lo, hi = self.ranges.get(label, (0, 0))
            by_norm: dict[str, str] = {}
            for i in range(lo, hi):
                by_norm.setdefault(word_form(str(self.projection.names[i])), str(self.projection.names[i]))
            table = np.array([by_norm], dtype=object)
            self._cache[ck] = table
        by_norm = table[0]
        hits = difflib.get_close_matches(word_form(name), list(by_norm), n=n, cutoff=0.75)
        return [by_norm[h] for h in hits]

    # ----------------------------------------------------------- constraints
    def exclusion_mask(self, kind: str, nodes: Iterable[int]) -> np.ndarray:
        """Items of ``kind`` that any of the excluded nodes rules out (True = excluded).

        An artist excludes itself and its songs and albums; a song itself (and, for artists,
        nothing more); an album or playlist itself and its songs; a tag or genre every item that
        carries it; a mood every song labelled with it.
        """
        out = np.zeros(self.n(kind), dtype=bool)
        artists = np.zeros(self.a_hi - self.a_lo + 1, dtype=bool)  # the last slot: owner -1 (none)
        for node in nodes:
            label = self.projection.label_of(node)
            if label == Label.ARTIST:
                artists[node - self.a_lo] = True  # all artists at once below (a user knows dozens)
            elif label == Label.TAG or label == Label.GENRE:
                out |= self.carries(kind, str(self.projection.keys[node]))
            elif label == Label.MOOD:
                out |= self.has_mood(kind, str(self.projection.keys[node]))
            elif label == Label.SONG:
                if kind == "song":
                    row = self.item_of_node("song", node)
                    if row is not None:
                        out[row] = True
            else:
                item = self.item_of_node(kind, node)
                if item is not None:
                    out[item] = True
                elif label in (Label.ALBUM, Label.PLAYLIST) and kind == "song":
                    members = self.members("album" if label == Label.ALBUM else "playlist")
                    col = node - self.ranges[label][0]
                    out |= np.asarray(members[:, col].todense()).ravel() > 0
        if artists.any():
            out |= artists[self.item_artist(kind)]
        return out

    def constraint_mask(self, kind: str, c: Constraints) -> np.ndarray:
        """Items of ``kind`` that exist and satisfy every constraint of ``c`` (exclusions included).

        Raises:
            UnknownEntityError: a tag, genre, mood or excluded entity that is not in the graph.
        """
        mask = self.alive(kind)
        for name in (*c.tags, *c.genres):
            mask &= self.carries(kind, name)
        for mood in c.moods:
            mask &= self.has_mood(kind, mood)
        if c.years is not None:
            mask &= self.years_mask(kind, c.years)
        for feat, (lo, hi) in c.features.items():
            if feat not in FEATURES:
                continue
            vals = self.feature_values(kind, feat)
            ok = ~np.isnan(vals)
            if lo is not None:
                ok &= vals >= lo
            if hi is not None:
                ok &= vals <= hi
            mask &= ok
        if c.popularity is not None:
            lo, hi = c.popularity
            pct = self.popularity(kind)
            if lo is not None:
                mask &= pct >= lo
            if hi is not None:
                mask &= pct <= hi
        if c.explicit is not None:
            flags = self.catalog.explicit_flags()
            song = (flags == 1) if c.explicit else (flags != 1)
            if kind == "song":
                mask &= song
            elif c.explicit:
                mask &= self.from_songs(kind, song.astype(np.float64)) > 0
            else:  # clean: no explicit song
                mask &= ~(self.from_songs(kind, (flags == 1).astype(np.float64)) > 0)
        if c.exclude:
            mask &= ~self.exclusion_mask(kind, [self.resolve(e) for e in c.exclude])
        return mask

    # ------------------------------------------------------------- selection
    def select(self, kind: str, scores: np.ndarray, mask: np.ndarray, k: int,
               max_per_artist: int | None = None) -> list[Selected]:
        """The exact top-``k`` allowed items with a positive score, best first.

        Ties go to the lower item index. With ``max_per_artist``, at most that many items of one
        artist come first; if fewer than ``k`` remain, the best capped items fill the tail, so the
        cap never returns fewer than ``k`` when ``k`` allowed items exist.
        """
        scores = np.asarray(scores, dtype=np.float64)
        cand = np.flatnonzero(mask & (scores > 0))
        if len(cand) == 0:
            return []
        window = k if not max_per_artist else max(k * 8, k + 50)
        while True:
            top = _top(cand, scores, window)
            if not max_per_artist:
                return [Selected(int(i), float(scores[i])) for i in top[:k].tolist()]
            kept, spill = _cap(top.tolist(), self.item_artist(kind), max_per_artist, k)
            if len(kept) >= k or len(top) == len(cand):
                picked = kept + spill[: k - len(kept)]  # the capped ones fill the tail, best first
                return [Selected(int(i), float(scores[i])) for i in picked[:k]]
            window *= 4  # the cap hid too much of the window: look further down


def _top(cand: np.ndarray, scores: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` best of ``cand`` by score (ties: lower index first), sorted."""
    if len(cand) > n:
        part = cand[np.argpartition(-scores[cand], n - 1)[:n]]
        kth = scores[part].min()
        cand = np.union1d(part, cand[scores[cand] >= kth])
    order = cand[np.lexsort((cand, -scores[cand]))]
    return order[:n] if len(order) > n else order


def _cap(order: list[int], owner: np.ndarray, cap: int, k: int) -> tuple[list[int], list[int]]:
    """Split ``order`` into the first ``k`` items within ``cap`` per owner, and the ones the cap held back."""
    counts: dict[int, int] = {}
    kept: list[int] = []
    spill: list[int] = []
    for item in order:
        a = int(owner[item])
        if a >= 0 and counts.get(a, 0) >= cap:
            spill.append(item)
            continue
        counts[a] = counts.get(a, 0) + 1
        kept.append(item)
        if len(kept) >= k:
            break
    return kept, spill


def _percentile(values: np.ndarray) -> np.ndarray:
    """Percentile rank 0..100 of each value (ties share the lower rank)."""
    n = len(values)
    if n == 0:
        return np.zeros(0)
    order = np.argsort(values, kind="stable")
    ranks = np.empty(n, dtype=np.float64)
    ranks[order] = np.arange(n)
    sorted_vals = values[order]
    first = np.searchsorted(sorted_vals, sorted_vals, side="left")
    ranks[order] = first
    return 100.0 * ranks / max(n - 1, 1)


def _candidate_keys(label: str, name: str) -> list[str]:
    """Keys a name may have under ``label`` (the project's key rules, :mod:`musicgraph.graph.resolve`)."""
    if label == Label.ARTIST:
        return [artist_key(name)]
    if label in (Label.TAG, Label.GENRE, Label.MOOD):
        return [normalize_tag(name)]
    if label == Label.USER:
        from musicgraph.graph.resolve import user_key

        return [user_key(name)]
    if label == Label.SONG and " - " in name:
        from musicgraph.graph.resolve import song_key

        artist, title = name.split(" - ", 1)
        return [song_key(artist, title), name]
    return [name, name.lower()]
