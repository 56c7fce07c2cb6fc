"""Incremental maintenance of the retrieval indexes: add, update and delete songs without a rebuild.

* :class:`IncrementalBM25` is an exact BM25+ engine (the formula of :mod:`musicgraph.retrieval.sparse`
  and of ``rank_bm25.BM25Plus``) over **segments** of term-frequency matrices. Corpus statistics
  (number of live documents, document frequencies, average length) are kept as exact integer
  counters updated on every add and delete and applied at query time, so after any sequence of
  changes the scores are bit-for-bit those of an index built from scratch over the final documents.
  Deleted or replaced documents are tombstones inside their segment; :meth:`IncrementalBM25.compact`
  merges segments and drops them.
* The FAISS index (:class:`musicgraph.retrieval.dense.DenseIndex`) adds vectors with catalog-row
  labels, tombstones deleted or replaced ones (filtered at search time) and is compacted when
  tombstones pass :data:`COMPACT_FRACTION`.
* :func:`apply_changes` reads the store's current songs (:meth:`SongTable.from_store` with the old
  rows kept), finds the rows whose indexed content changed, and re-tokenizes, re-encodes and
  re-profiles only those; deleted songs become catalog tombstones and leave every index.
* :class:`RetrievalIndexes` plugs all of this into :mod:`musicgraph.graph.catalog` (``apply``) and
  :mod:`musicgraph.graph.check` (``check``/``repair``).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from musicgraph.graph.check import Issue
from musicgraph.graph.schema import Label
from musicgraph.graph.store import GraphStore
from musicgraph.retrieval.catalog import SongTable
from musicgraph.retrieval.emotion import EMOTION_FIELDS
from musicgraph.retrieval.sparse import DELTA, K1, B, SparseHit
from musicgraph.retrieval.text import tokenize

log = logging.getLogger(__name__)

#: Tombstone fraction (of FAISS entries or BM25 documents) above which an update compacts.
COMPACT_FRACTION = 0.25
#: Segments above which BM25 merges them.
MAX_SEGMENTS = 8
BM25_DIR = "bm25inc"


@dataclass(slots=True)
class _Segment:
    rows: np.ndarray  # local doc -> catalog row
    tf: sp.csc_matrix  # (local docs, vocabulary at write time) term frequencies, postings by term
    live: np.ndarray  # bool per local doc
    csr: sp.csr_matrix  # the same matrix by document (terms of a document)


class IncrementalBM25:
    """Exact BM25+ over append-only segments with tombstones and live corpus statistics.

    Documents are addressed by catalog row. The API matches :class:`~musicgraph.retrieval.sparse.SparseIndex`
    where the retriever uses it (``search``, ``scores``, ``vocabulary``, ``num_docs``).
    """

    def __init__(self, k1: float = K1, b: float = B, delta: float = DELTA):
        self.k1, self.b, self.delta = k1, b, delta
        self.vocabulary: dict[str, int] = {}
        self.terms: list[str] = []
        self.df = np.zeros(0, dtype=np.int64)
        self.doc_len = np.zeros(0, dtype=np.int64)
        self.alive = np.zeros(0, dtype=bool)
        self.total_len = 0
        self.segments: list[_Segment] = []
        self._where: dict[int, tuple[int, int]] = {}

    # ----------------------------------------------------------------- state
    @property
    def num_docs(self) -> int:
        """Rows addressed (live or not): the length of the score vector."""
        return len(self.alive)

    @property
    def live_docs(self) -> int:
        return int(self.alive.sum())

    @property
    def tombstones(self) -> int:
        return sum(int((~s.live).sum()) for s in self.segments)

    def _grow_rows(self, n: int) -> None:
        if n > len(self.alive):
            extra = n - len(self.alive)
            self.alive = np.concatenate([self.alive, np.zeros(extra, dtype=bool)])
            self.doc_len = np.concatenate([self.doc_len, np.zeros(extra, dtype=np.int64)])

    # ---------------------------------------------------------------- writes
    @classmethod
    def build(cls, docs: Iterable[tuple[int, Sequence[str]]], **kw: Any) -> IncrementalBM25:
        """An index over ``(row, tokens)`` pairs (one segment)."""
        out = cls(**kw)
        out.add(docs)
        return out

    def add(self, docs: Iterable[tuple[int, Sequence[str]]]) -> int:
        """Add (or replace) documents ``(row, tokens)`` as a new segment; returns how many."""
        docs = list(docs)
        if not docs:
            return 0
        rows = np.array([r for r, _ in docs], dtype=np.int64)
        if len(set(rows.tolist())) != len(rows):
            raise ValueError("IncrementalBM25.add: a row appears twice in one batch")
        self.delete(rows)
        self._grow_rows(int(rows.max()) + 1)
        indptr, indices, data = [0], [], []
        vocab = self.vocabulary
        for row, toks in docs:
            counts = Counter(toks)
            for t, c in counts.items():
                tid = vocab.get(t)
                if tid is None:
                    tid = vocab[t] = len(self.terms)
                    self.terms.append(t)
                indices.append(tid)
                data.append(c)
            indptr.append(len(indices))
            self.doc_len[row] = len(toks)
            self.total_len += len(toks)
        if len(self.terms) > len(self.df):
            self.df = np.concatenate([self.df, np.zeros(len(self.terms) - len(self.df), dtype=np.int64)])
        ind = np.asarray(indices, dtype=np.int64)
        np.add.at(self.df, ind, 1)
        csr = sp.csr_matrix((np.asarray(data, dtype=np.float64), ind, np.asarray(indptr)),
                            shape=(len(docs), len(self.terms)))
        self.alive[rows] = True
        seg = _Segment(rows, csr.tocsc(), np.ones(len(docs), dtype=bool), csr)
        self.segments.append(seg)
        s = len(self.segments) - 1
        for local, r in enumerate(rows.tolist()):
            self._where[r] = (s, local)
        if len(self.segments) > MAX_SEGMENTS:
            self.compact()
        return len(docs)

    def delete(self, rows: Iterable[int]) -> int:
        """Tombstone the documents of ``rows`` (absent ones are ignored); returns how many."""
        n = 0
        for r in np.asarray(list(rows), dtype=np.int64).tolist():
            loc = self._where.pop(r, None)
            if loc is None:
                continue
            seg = self.segments[loc[0]]
            seg.live[loc[1]] = False
            terms = self._doc_terms(seg, loc[1])
            self.df[terms] -= 1
            self.total_len -= int(self.doc_len[r])
            self.doc_len[r] = 0
            self.alive[r] = False
            n += 1
        return n

    @staticmethod
    def _doc_terms(seg: _Segment, local: int) -> np.ndarray:
        return seg.csr.indices[seg.csr.indptr[local] : seg.csr.indptr[local + 1]]

    def compact(self) -> None:
        """Merge every segment into one holding live documents only."""
        parts, rows = [], []
        V = len(self.terms)
        for seg in self.segments:
            keep = np.flatnonzero(seg.live)
            if len(keep) == 0:
                continue
            m = seg.csr[keep]
            m.resize((len(keep), V))
            parts.append(m)
            rows.append(seg.rows[keep])
        self.segments = []
        self._where = {}
        if not parts:
            return
        merged = sp.vstack(parts).tocsr()
        all_rows = np.concatenate(rows)
        order = np.argsort(all_rows, kind="stable")
        merged = merged[order]
        all_rows = all_rows[order]
        self.segments.append(_Segment(all_rows, merged.tocsc(), np.ones(len(all_rows), dtype=bool), merged))
        self._where = {r: (0, i) for i, r in enumerate(all_rows.tolist())}

    # ---------------------------------------------------------------- search
    def idf(self, term_ids: np.ndarray) -> np.ndarray:
        """BM25+ idf ``log((N + 1) / df)`` over the live documents."""
        n = self.live_docs
        return np.log((n + 1) / np.maximum(self.df[term_ids], 1).astype(np.float64))

    def scores(self, query_tokens: Sequence[str]) -> np.ndarray:
        """BM25+ scores (float64) of every row for ``query_tokens``; dead rows score 0."""
        return self._scores(query_tokens)[0]

    def _scores(self, query_tokens: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        n = self.num_docs
        scores = np.zeros(n, dtype=np.float64)
        matched = np.zeros(n, dtype=bool)
        # terms no live document has are unknown, as in an index built from the live documents alone
        ids = [i for i in (self.vocabulary.get(t) for t in query_tokens) if i is not None and self.df[i] > 0]
        live = self.live_docs
        if not ids or live == 0:
            return scores, matched
        avgdl = self.total_len / live
        k1, b, delta = self.k1, self.b, self.delta
        idf = self.idf(np.asarray(ids))
        norm = k1 * (1.0 - b + b * self.doc_len / avgdl)
        base = float(idf.sum()) * delta  # every live doc gets delta * idf per known query term
        scores[self.alive] = base
        for seg in self.segments:
            V = seg.tf.shape[1]
            for tid, w in zip(ids, idf.tolist(), strict=True):
                if tid >= V:
                    continue
                lo, hi = seg.tf.indptr[tid], seg.tf.indptr[tid + 1]
                if lo == hi:
                    continue
                local = seg.tf.indices[lo:hi]
                ok = seg.live[local]
                if not ok.any():
                    continue
                local = local[ok]
                tf = seg.tf.data[lo:hi][ok]
                rows = seg.rows[local]
                scores[rows] += w * (tf * (k1 + 1.0) / (norm[rows] + tf))
                matched[rows] = True
        return scores, matched

    def search(self, query: str | Sequence[str], k: int = 10, mask: np.ndarray | None = None) -> list[SparseHit]:
        """Top-``k`` live documents sharing a query term, among ``mask``-allowed rows (ties by row).

        Exactly ``min(k, number of matching allowed documents)`` hits: never a zero-match document.
        """
        tokens = tokenize(query) if isinstance(query, str) else list(query)
        if k <= 0 or not tokens:
            return []
        scores, matched = self._scores(tokens)
        if mask is not None:
            m = np.zeros(self.num_docs, dtype=bool)
            lim = min(len(mask), self.num_docs)
            m[:lim] = np.asarray(mask[:lim], dtype=bool)
            matched &= m
        cand = np.flatnonzero(matched)
        if len(cand) == 0:
            return []
        if len(cand) > k:
            cand = cand[np.argpartition(-scores[cand], k - 1)[:k]]
            # argpartition may cut inside a tie: widen to every row tied with the k-th score
            kth = scores[cand].min()
            cand = np.union1d(cand, np.flatnonzero(matched & (scores == kth)))
        top = cand[np.lexsort((cand, -scores[cand]))][:k]
        qset = set(tokens)
        return [SparseHit(int(r), float(scores[r]), sorted(qset & self.doc_terms(int(r)))) for r in top]

    def doc_terms(self, row: int) -> set[str]:
        """The distinct terms of live document ``row`` (empty if none)."""
        loc = self._where.get(row)
        if loc is None:
            return set()
        return {self.terms[t] for t in self._doc_terms(self.segments[loc[0]], loc[1])}

    def rows(self) -> np.ndarray:
        """Live rows, sorted."""
        return np.flatnonzero(self.alive)

    # ----------------------------------------------------------- persistence
    def save(self, directory: Path) -> None:
        """Write ``terms.json``, ``meta.json`` and one ``segment-<i>.npz`` per segment.

        The files go to a new directory with a unique name, which then takes the place of the old one.
        """
        from musicgraph.graph.locks import write_directory

        def write(tmp: Path) -> None:
            for i, seg in enumerate(self.segments):
                np.savez(tmp / f"segment-{i}.npz", rows=seg.rows, live=seg.live, data=seg.tf.data,
                         indices=seg.tf.indices, indptr=seg.tf.indptr, shape=np.asarray(seg.tf.shape))
            (tmp / "terms.json").write_text(json.dumps(self.terms, ensure_ascii=False), encoding="utf-8")
            meta = {"params": [self.k1, self.b, self.delta], "segments": len(self.segments), "rows": self.num_docs}
            (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf-8")

        write_directory(Path(directory), write)

    @classmethod
    def load(cls, directory: Path) -> IncrementalBM25:
        """Read an index written by :meth:`save` (statistics are recomputed from the segments)."""
        from musicgraph.retrieval.catalog import IndexFileError, read_index_file

        directory = Path(directory)
        if not (directory / "meta.json").is_file():
            raise FileNotFoundError(f"no incremental BM25 index in {directory} (run `musicgraph index build`)")
        meta = read_index_file(directory / "meta.json", "bm25",
                               lambda: json.loads((directory / "meta.json").read_text(encoding="utf-8")))
        out = read_index_file(directory / "meta.json", "bm25", lambda: cls(*meta["params"]))
        n_rows, n_segments = read_index_file(directory / "meta.json", "bm25",
                                             lambda: (int(meta["rows"]), int(meta["segments"])))

        def read_terms() -> list[str]:
            terms = json.loads((directory / "terms.json").read_text(encoding="utf-8"))
            if not isinstance(terms, list):
                raise ValueError("not a list of terms")
            return terms

        if not (directory / "terms.json").is_file():
            raise IndexFileError(directory / "terms.json", "bm25", "the file is missing")
        out.terms = read_index_file(directory / "terms.json", "bm25", read_terms)
        out.vocabulary = {t: i for i, t in enumerate(out.terms)}
        out.df = np.zeros(len(out.terms), dtype=np.int64)
        out._grow_rows(n_rows)
        for i in range(n_segments):
            path = directory / f"segment-{i}.npz"

            def read_segment(path: Path = path) -> _Segment:
                if not path.is_file():
                    raise ValueError("the segment file is missing")
                with np.load(path) as z:
                    tf = sp.csc_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"]))
                    rows, live = np.asarray(z["rows"]), np.asarray(z["live"]).astype(bool)
                if len(rows) != tf.shape[0] or len(live) != tf.shape[0] or tf.shape[1] > len(out.terms):
                    raise ValueError(f"segment shape {tf.shape} does not match its {len(rows)} rows / "
                                     f"{len(out.terms)} terms")
                if len(rows) and (rows.min() < 0 or rows.max() >= len(out.alive)):
                    raise ValueError("segment rows outside the index")
                return _Segment(rows, tf, live, tf.tocsr())

            seg = read_index_file(path, "bm25", read_segment)
            csr = seg.csr
            out.segments.append(seg)
            lens = np.asarray(csr.sum(axis=1)).ravel().astype(np.int64)
            for local in np.flatnonzero(seg.live).tolist():
                r = int(seg.rows[local])
                out._where[r] = (i, local)
                out.alive[r] = True
                out.doc_len[r] = lens[local]
                out.total_len += int(lens[local])
                out.df[csr.indices[csr.indptr[local] : csr.indptr[local + 1]]] += 1
        return out


def _row_issues(part: str, rows: set[int], alive_rows: set[int], thing: str,
                repairs: tuple[str, str]) -> list[Issue]:
    """Issues of an index part whose entries (``thing``, one per catalog row in ``rows``) should be the
    live rows exactly: ``orphan`` entries of dead or unknown rows, ``missing`` live rows (``repairs``:
    the repair of each)."""
    out: list[Issue] = []
    orphan, absent = sorted(rows - alive_rows), sorted(alive_rows - rows)
    if orphan:
        out.append(Issue(part, "orphan", f"{len(orphan)} {thing}s for deleted or unknown rows",
                         items=[str(r) for r in orphan], repair=repairs[0]))
    if absent:
        out.append(Issue(part, "missing", f"{len(absent)} live songs have no {thing}",
                         items=[str(r) for r in absent], repair=repairs[1]))
    return out


# --------------------------------------------------------------------------- the bundle
@dataclass(slots=True)
class UpdateReport:
    """What :func:`apply_changes` did."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    compacted: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"added": len(self.added), "updated": len(self.updated), "deleted": len(self.deleted),
                "compacted": self.compacted, "seconds": {k: round(v, 4) for k, v in self.seconds.items()}}


def _same_row(a: SongTable, i: int, b: SongTable, j: int) -> bool:
    if bool(a.alive[i]) != bool(b.alive[j]):
        return False
    for name in ("titles", "artists", "artist_keys", "albums", "genres", "tags", "moods", "lyrics_refs"):
        if getattr(a, name)[i] != getattr(b, name)[j]:
            return False
    fa, fb = a.features[i], b.features[j]
    # explicit/estimated flags are read from the catalog itself (replaced on every update), not indexed
    return bool(np.array_equal(np.isnan(fa), np.isnan(fb)) and np.allclose(fa[~np.isnan(fa)], fb[~np.isnan(fb)]))


def changed_rows(old: SongTable, new: SongTable, rows: Iterable[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(rows to (re)index, rows deleted) between two catalogs with the same row numbering.

    ``rows``: only these rows (and the appended ones) can differ; default all.
    """
    n_old = len(old)
    upd, dele = [], []
    candidates = range(len(new)) if rows is None else sorted({*rows, *range(n_old, len(new))})
    for i in candidates:
        if i >= n_old:
            if new.alive[i]:
                upd.append(i)
            continue
        if _same_row(old, i, new, i):
            continue
        if new.alive[i]:
            upd.append(i)
        elif old.alive[i]:
            dele.append(i)
    return np.asarray(upd, dtype=np.int64), np.asarray(dele, dtype=np.int64)


def apply_changes(
    store: GraphStore,
    bundle: Any,
    *,
    encoder: Any = None,
    vad: Any = None,
    data_dir: Path | None = None,
    save: bool = True,
    compact_fraction: float = COMPACT_FRACTION,
    changes: Any = None,
) -> UpdateReport:
    """Bring an :class:`~musicgraph.retrieval.index.IndexBundle` up to date with ``store`` incrementally.

    With ``changes`` (the :class:`~musicgraph.graph.catalog.ChangeSet` of the operation) only the
    touched songs and the songs of touched artists are re-read (:meth:`SongTable.refresh`); without
    it, or when tags/genres/moods themselves were renamed, the whole catalog is re-read and compared.

    Only rows whose indexed content changed are re-tokenized (BM25), re-profiled (emotion) and
    re-encoded (dense); deleted songs become tombstones everywhere. ``bundle`` is modified in place
    and saved to its directory (``save=False`` keeps it in memory).
    """
    from musicgraph.retrieval.emotion import EmotionAnalyzer
    from musicgraph.retrieval.index import lyrics_of

    rep = UpdateReport()
    t0 = time.perf_counter()
    old: SongTable = bundle.catalog
    touched = _touched(changes, old)
    if touched is None:
        new = SongTable.from_store(store, previous=old)
        upd, dele = changed_rows(old, new)
    else:  # only the changed songs and the songs of changed artists are read again
        song_keys, artist_keys, rows = touched
        new = old.refresh(store, song_keys, artist_keys)
        upd, dele = changed_rows(old, new, rows)
    rep.seconds["catalog"] = time.perf_counter() - t0
    n_old = len(old)
    for r in upd.tolist():
        (rep.updated if r < n_old and old.alive[r] else rep.added).append(new.keys[r])
    rep.deleted = [new.keys[r] for r in dele.tolist()]
    n = len(new)
    lyrics = lyrics_of(store, new, upd.tolist())

    # emotion profiles
    t0 = time.perf_counter()
    emotions = bundle.emotions
    if len(emotions) < n:
        grown = np.full((n, len(EMOTION_FIELDS)), np.nan, dtype=np.float32)
        grown[:, EMOTION_FIELDS.index("text_weight")] = 0.0
        grown[: len(emotions)] = emotions
        emotions = grown
    words = list(bundle.emotion_words) + [[] for _ in range(n - len(bundle.emotion_words))]
    analyzer = None
    for r in [*upd.tolist(), *dele.tolist()]:
        emotions[r] = np.nan
        emotions[r, EMOTION_FIELDS.index("text_weight")] = 0.0
        words[r] = []
        text = lyrics.get(r)
        if text and new.alive[r]:
            analyzer = analyzer or EmotionAnalyzer(data_dir=data_dir, vad=vad)
            prof = analyzer.profile(text)
            emotions[r] = prof.vector()
            words[r] = prof.evidence
    bundle.emotions, bundle.emotion_words = emotions, words
    rep.seconds["emotion"] = time.perf_counter() - t0

    # BM25
    t0 = time.perf_counter()
    sparse = bundle.sparse
    if not isinstance(sparse, IncrementalBM25):
        sparse = bm25_from_catalog(store, old)  # first incremental change to an old-style bundle
    sparse.delete(dele)
    sparse.add((r, tokenize(new.document(r, lyrics.get(r)))) for r in upd.tolist())
    if sparse.tombstones > compact_fraction * max(1, sparse.live_docs):
        sparse.compact()
        rep.compacted.append("bm25")
    bundle.sparse = sparse
    rep.seconds["bm25"] = time.perf_counter() - t0

    # dense
    if bundle.dense is not None:
        from musicgraph.retrieval.encoder import Encoder
        from musicgraph.retrieval.textualize import textualize

        t0 = time.perf_counter()
        bundle.dense.remove(dele)
        if len(upd):
            enc = encoder or Encoder()
            texts = [textualize(new, r, lyrics.get(r), words[r]) for r in upd.tolist()]
            bundle.dense.upsert(upd, getattr(enc, "encode_documents", enc.encode)(texts))
        if bundle.dense.tombstones > compact_fraction * max(1, bundle.dense.live_count):
            bundle.dense.compact()
            rep.compacted.append("dense")
        rep.seconds["dense"] = time.perf_counter() - t0

    bundle.catalog = new
    bundle.manifest.update(store_version=new.store_version, songs=n, live_songs=int(new.alive.sum()))
    bundle.manifest.setdefault("updates", 0)
    bundle.manifest["updates"] += 1
    if save:
        t0 = time.perf_counter()
        save_bundle(bundle, parts=("catalog", "emotion", "bm25", "dense"), rows=[*upd.tolist(), *dele.tolist()])
        rep.seconds["save"] = time.perf_counter() - t0
    log.info("incremental index update: %d added, %d updated, %d deleted", len(rep.added), len(rep.updated),
             len(rep.deleted))
    return rep


def _touched(changes: Any, old: SongTable) -> tuple[set[str], set[str], set[int]] | None:
    """(song keys, artist keys, candidate rows) a change set can affect; None: re-read everything."""
    if changes is None:
        return None
    kinds = [getattr(changes, k, None) for k in ("added", "updated", "deleted")]
    if any(not isinstance(k, dict) for k in kinds):
        return None
    for label in (Label.TAG, Label.GENRE, Label.MOOD):
        if changes.updated.get(label) or changes.deleted.get(label):
            return None  # a renamed/removed attribute node can change many songs' documents
    songs: set[str] = set()
    artists: set[str] = set()
    for kind in kinds:
        songs |= set(kind.get(Label.SONG, ()))
        artists |= set(kind.get(Label.ARTIST, ()))
    rows = {r for k in songs if (r := old._row_index(k)) is not None}
    for a in artists:
        rows.update(old.rows_of_artist(a).tolist())
    return songs, artists, rows


def bm25_from_catalog(store: GraphStore, catalog: SongTable) -> IncrementalBM25:
    """An :class:`IncrementalBM25` over the live rows of ``catalog`` (tokenizing every document)."""
    from musicgraph.retrieval.index import lyrics_of

    live = np.flatnonzero(catalog.alive).tolist()
    lyrics = lyrics_of(store, catalog, live)
    return IncrementalBM25.build((r, tokenize(catalog.document(r, lyrics.get(r)))) for r in live)


def save_bundle(bundle: Any, parts: Sequence[str] = ("catalog", "emotion", "bm25", "dense"),
                rows: Iterable[int] | None = None) -> None:
    """Write the named parts of a bundle and its manifest to ``bundle.directory``.

    Under the directory's lock, between an ``update.pending`` marker (naming ``rows``, the catalog rows this
    update changes, so a repair after a crash knows what to redo) and the manifest; every file goes through
    a unique temporary name (see :mod:`musicgraph.retrieval.index`).
    """
    from musicgraph.graph.locks import atomic_save_npy, atomic_write_text, directory_lock, write_directory
    from musicgraph.retrieval.index import begin_update, end_update

    d = Path(bundle.directory)
    with directory_lock(d):
        begin_update(d, kind="update", parts=list(parts), store_version=bundle.manifest.get("store_version"),
                     rows=None if rows is None else sorted({int(r) for r in rows}))
        if "catalog" in parts:
            bundle.catalog.save(d)
        if "emotion" in parts:
            atomic_save_npy(d / "emotion.npy", bundle.emotions)
            atomic_write_text(d / "emotion_words.json", json.dumps(bundle.emotion_words))
        if "bm25" in parts and bundle.sparse is not None:
            if isinstance(bundle.sparse, IncrementalBM25):
                bundle.sparse.save(d / BM25_DIR)
                if (d / "bm25").is_dir():  # the bm25s engine's copy is now stale
                    shutil.rmtree(d / "bm25")
            else:
                write_directory(d / "bm25", bundle.sparse.save)
        if "dense" in parts and bundle.dense is not None:
            bundle.dense.save(d / "dense.faiss")
            bundle.manifest["dense"] = {"kind": bundle.dense.kind, "size": bundle.dense.size,
                                        "live": bundle.dense.live_count, "dim": bundle.dense.dim}
        atomic_write_text(d / "manifest.json", json.dumps(bundle.manifest, indent=2))
        end_update(d)


class _Keys:
    """The row order of a catalog whose other files are lost (``SongTable.from_store(previous=...)``)."""

    def __init__(self, keys: list[str]):
        self.keys = keys


def _catalog_keys(directory: Path) -> list[str] | None:
    """The catalog's row keys, from ``catalog.json`` or its copy ``catalog.keys.json`` (None: both lost)."""
    from musicgraph.retrieval.catalog import KEYS_FILE

    for name, pick in (("catalog.json", lambda d: d.get("keys") if isinstance(d, dict) else None),
                       (KEYS_FILE, lambda d: d)):
        try:
            keys = pick(json.loads((Path(directory) / name).read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
        if isinstance(keys, list):
            return [str(k) for k in keys]
    return None


def _read_manifest(directory: Path) -> dict[str, Any]:
    try:
        data = json.loads((Path(directory) / "manifest.json").read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


#: The repair that fixes each index part found unreadable.
_REPAIR_OF_PART = {"interrupted": "recover", "manifest": "recover", "catalog": "recover",
                   "catalog-arrays": "recover", "bm25": "bm25", "emotion": "emotion", "dense": "dense",
                   "dense-vectors": "dense-reencode"}


# --------------------------------------------------------------------------- check / repair
class RetrievalIndexes:
    """The retrieval bundle as a derived index of the graph store (for catalog edits and ``check``).

    Args:
        directory: the index directory (``MUSICGRAPH_HOME/indexes/<store name>``).
        encoder: dense encoder for changed songs (default MiniLM, loaded on first use).
        vad, data_dir: NRC-VAD for emotion profiles.
    """

    name = "retrieval"

    def __init__(self, directory: Path, encoder: Any = None, vad: Any = None, data_dir: Path | None = None):
        self.directory = Path(directory)
        self.encoder = encoder
        self.vad = vad
        self.data_dir = data_dir

    def exists(self) -> bool:
        return (self.directory / "manifest.json").is_file()

    def updating(self) -> Any:
        """The index directory's lock (readers wait while a catalog change updates store and indexes)."""
        from musicgraph.graph.locks import directory_lock

        return directory_lock(self.directory)

    def load(self) -> Any:
        from musicgraph.retrieval.index import IndexBundle

        return IndexBundle.load(self.directory)

    def apply(self, store: GraphStore, changes: Any = None) -> dict[str, Any]:
        """Update the indexes after a catalog change (no-op when no index was built yet).

        After an interrupted earlier update (``update.pending``) the parts are recovered from the store
        instead (:meth:`recover`), which also takes this change in.
        """
        if not self.exists():
            return {"skipped": f"no retrieval index in {self.directory}"}
        from musicgraph.retrieval.index import pending_update

        if pending_update(self.directory) is not None:
            log.warning("%s: an earlier index update was interrupted; recovering the indexes from the store",
                        self.directory)
            return {"recovered": self.recover(store)}
        bundle = self.load()
        return apply_changes(store, bundle, encoder=self.encoder, vad=self.vad, data_dir=self.data_dir,
                             changes=changes).to_dict()

    # ---------------------------------------------------------------- check
    def check(self, store: GraphStore) -> list[Issue]:
        """Compare the store's songs with every retrieval index (see :mod:`musicgraph.graph.check`).

        Unreadable files are issues naming the file; an interrupted update, a store older than the
        indexes (it lost writes) and a listed but missing FAISS index are reported too.
        """
        from musicgraph.retrieval.catalog import IndexFileError
        from musicgraph.retrieval.index import IndexBundle

        if not self.exists():
            return [Issue(self.name, "missing", f"no retrieval index in {self.directory}", repair="rebuild")]
        issues: list[Issue] = []
        damaged: list[IndexFileError] = []
        try:
            bundle = IndexBundle.load(self.directory, damaged=damaged)
        except IndexFileError as exc:  # the manifest or the catalog: nothing else can be checked
            return [Issue(exc.part, "unreadable", str(exc), items=[str(exc.path)],
                          repair=_REPAIR_OF_PART.get(exc.part, "rebuild"))]
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            return [Issue(self.name, "unreadable", f"{self.directory}: {exc}; run `musicgraph check --repair`",
                          repair="rebuild")]
        for exc in damaged:
            issues.append(Issue(exc.part if exc.part != "interrupted" else self.name,
                                "interrupted" if exc.part == "interrupted" else "unreadable", str(exc),
                                items=[str(exc.path)], repair=_REPAIR_OF_PART.get(exc.part, "rebuild")))
        bad_parts = {e.part for e in damaged}
        cat = bundle.catalog
        n = len(cat)
        from musicgraph.retrieval.catalog import KEYS_FILE

        keys_path = self.directory / KEYS_FILE
        try:
            keys_ok = json.loads(keys_path.read_text(encoding="utf-8")) == list(cat.keys)
        except (OSError, ValueError):
            keys_ok = False
        if not keys_ok:
            issues.append(Issue("catalog", "unreadable", f"{keys_path}: missing, unreadable or not the catalog's "
                                "row keys; run `musicgraph check --repair`", items=[str(keys_path)],
                                repair="catalog"))
        indexed = bundle.manifest.get("store_version")
        now = store.version()
        if str(indexed).isdigit() and str(now).isdigit() and int(now) < int(indexed):
            issues.append(Issue("store", "backwards", f"the store is at version {now} but the indexes were built "
                                f"from version {indexed}: the store lost committed writes (a deleted WAL file, a "
                                "restored copy?); --repair re-indexes the store as it is now",
                                items=[str(now), str(indexed)], repair="catalog"))
        store_keys = set(store.node_keys("Song"))
        live_keys = {k for k, a in zip(cat.keys, cat.alive, strict=True) if a}
        missing = sorted(store_keys - live_keys)
        stale = sorted(live_keys - store_keys)
        if missing:
            issues.append(Issue("catalog", "missing", f"{len(missing)} songs of the store are not indexed "
                                f"(e.g. {', '.join(missing[:3])})", items=missing, repair="catalog"))
        if stale:
            issues.append(Issue("catalog", "stale", f"{len(stale)} indexed songs are no longer in the store "
                                f"(e.g. {', '.join(stale[:3])})", items=stale, repair="catalog"))
        if not missing and not stale:
            fresh = SongTable.from_store(store, previous=cat)
            upd, dele = changed_rows(cat, fresh)
            if len(upd) or len(dele):
                keys = [fresh.keys[r] for r in [*upd.tolist(), *dele.tolist()]]
                issues.append(Issue("catalog", "outdated", f"{len(keys)} catalog rows differ from the store "
                                    f"(e.g. {', '.join(keys[:3])})", items=keys, repair="catalog"))
        alive_rows = set(np.flatnonzero(cat.alive).tolist())
        # BM25
        sp_ = bundle.sparse
        if "bm25" in bad_parts:
            pass
        elif sp_ is None:
            issues.append(Issue("bm25", "missing", "no BM25 index", repair="bm25"))
        elif isinstance(sp_, IncrementalBM25):
            rows = set(sp_.rows().tolist())
            issues += _row_issues("bm25", rows, alive_rows, "BM25 document", ("bm25", "bm25"))
            if int(sp_.df.sum()) != sum(len(sp_.doc_terms(r)) for r in rows) or sp_.df.min(initial=0) < 0:
                issues.append(Issue("bm25", "corrupt", "BM25 document frequencies disagree with the postings",
                                    repair="bm25"))
        elif sp_.num_docs != n:
            issues.append(Issue("bm25", "count", f"BM25 has {sp_.num_docs} documents, the catalog {n} rows",
                                repair="bm25"))
        # emotion
        if "emotion" in bad_parts:
            pass
        elif bundle.emotions.shape != (n, len(EMOTION_FIELDS)) or len(bundle.emotion_words) != n:
            issues.append(Issue("emotion", "count", f"emotion profiles have shape {bundle.emotions.shape} "
                                f"and {len(bundle.emotion_words)} evidence lists for {n} catalog rows",
                                repair="emotion"))
        else:
            dead_with = np.flatnonzero(~cat.alive & (bundle.emotions[:, EMOTION_FIELDS.index("text_weight")] > 0))
            if len(dead_with):
                issues.append(Issue("emotion", "orphan", f"{len(dead_with)} deleted rows keep emotion profiles",
                                    items=[str(r) for r in dead_with], repair="emotion"))
        # dense
        dense_meta = bundle.manifest.get("dense")
        if bad_parts & {"dense", "dense-vectors"}:
            pass
        elif bundle.dense is None and dense_meta:
            vec = self.directory / "dense.vectors.npy"
            issues.append(Issue("dense", "missing", f"{self.directory / 'dense.faiss'} is missing (the manifest "
                                f"lists a FAISS index); --repair rebuilds it from {vec.name}",
                                items=[str(self.directory / "dense.faiss")],
                                repair="dense" if vec.is_file() else "dense-reencode"))
        elif bundle.dense is not None:
            issues += self._check_dense(bundle, alive_rows)
        return issues

    def _check_dense(self, bundle: Any, alive_rows: set[int]) -> list[Issue]:
        d = bundle.dense
        out: list[Issue] = []
        vec = d.vectors
        if len(d.labels) != d.size:
            out.append(Issue("dense", "corrupt", f"FAISS holds {d.size} vectors but {len(d.labels)} labels",
                             repair="dense"))
            return out
        if vec is None or vec.ndim != 2 or vec.shape[1] != d.dim:
            shape = None if vec is None else vec.shape
            out.append(Issue("dense", "dimension", f"raw vectors {shape} do not match the FAISS dimension {d.dim}",
                             repair="dense-reencode"))
            return out
        enc_dim = getattr(self.encoder, "dim", None)
        if enc_dim is not None and enc_dim != d.dim:
            out.append(Issue("dense", "dimension", f"FAISS dimension {d.dim} != encoder dimension {enc_dim}",
                             repair="dense-reencode"))
        live = d.labels[d.labels >= 0]
        if len(np.unique(live)) != len(live):
            out.append(Issue("dense", "duplicate", "a catalog row has more than one live vector", repair="dense"))
        rows = set(live.tolist())
        out += _row_issues("dense", rows, alive_rows, "FAISS vector", ("dense", "dense-encode"))
        if len(vec) < len(bundle.catalog) and alive_rows:
            out.append(Issue("dense", "count", f"{len(vec)} raw vectors for {len(bundle.catalog)} catalog rows",
                             repair="dense-encode"))
        if d.kind == "flat" and d.size and rows:
            # the stored vectors must be the ones FAISS searches: spot-check a sample
            ok_pos = np.flatnonzero((d.labels >= 0) & (d.labels < len(vec)))
            sample = ok_pos[:: max(1, len(ok_pos) // 64)][:64]
            try:
                got = np.stack([d.index.reconstruct(int(p)) for p in sample])
                want = np.asarray(vec[d.labels[sample]])
                if not np.allclose(got, want, atol=1e-5):
                    out.append(Issue("dense", "corrupt", "FAISS vectors differ from the stored raw vectors",
                                     repair="dense"))
            except RuntimeError:
                pass
        return out

    # --------------------------------------------------------------- repair
    def repair(self, store: GraphStore, issues: Sequence[Issue]) -> list[str]:
        """Fix ``issues`` by rebuilding only the parts they name; returns what was done."""
        from musicgraph.retrieval.index import IndexBundle

        kinds = {i.repair for i in issues if i.component != "graph"}
        kinds.discard(None)
        if not kinds:
            return []
        if "rebuild" in kinds:
            return [self.rebuild(store)]
        if "recover" in kinds:
            return self.recover(store)
        damaged: list[Any] = []
        bundle = IndexBundle.load(self.directory, damaged=damaged)
        for exc in damaged:  # a part that could not be read is rebuilt, whatever the issues said
            kinds.add(_REPAIR_OF_PART.get(exc.part, "rebuild"))
        if kinds & {"rebuild", "recover"}:
            return [self.rebuild(store)] if "rebuild" in kinds else self.recover(store)
        done: list[str] = []
        if "dense-reencode" in kinds or "dense-encode" in kinds:
            kinds.add("dense")
        if "catalog" in kinds:
            # incremental apply fixes the rows that differ; index parts are handled below if still wrong
            rep = apply_changes(store, bundle, encoder=self.encoder, vad=self.vad, data_dir=self.data_dir,
                                save=False)
            done.append(f"catalog: re-indexed {len(rep.added) + len(rep.updated)} rows, removed {len(rep.deleted)}")
        cat = bundle.catalog
        live = np.flatnonzero(cat.alive)
        if "bm25" in kinds:
            bundle.sparse = bm25_from_catalog(store, cat)
            done.append(f"bm25: rebuilt from {len(live)} documents")
        if "emotion" in kinds:
            self._rebuild_emotion(store, bundle)
            done.append("emotion: recomputed profiles")
        if "dense" in kinds and (bundle.dense is not None or bundle.manifest.get("dense")):
            done.append(self._repair_dense(store, bundle, reencode="dense-reencode" in kinds))
        bundle.manifest["store_version"] = cat.store_version
        save_bundle(bundle)
        return done

    def rebuild(self, store: GraphStore) -> str:
        """Build every index again from the store (the dense one too when the manifest lists it)."""
        from musicgraph.retrieval.index import build_indexes

        manifest = _read_manifest(self.directory)
        dense_meta = manifest.get("dense") if isinstance(manifest.get("dense"), dict) else None
        dense = self.encoder is not None or dense_meta is not None
        build_indexes(store, self.directory, encoder=self.encoder, vad=self.vad, data_dir=self.data_dir,
                      progress=False, dense=dense, dense_kind=(dense_meta or {}).get("kind", "auto"))
        return "rebuilt every retrieval index" + (" (dense re-encoded)" if dense else "")

    def recover(self, store: GraphStore) -> list[str]:
        """Bring every part back in line with the store after an interrupted update or a lost file.

        Keeps the catalog's row numbers (``catalog.json``'s keys, or their copy ``catalog.keys.json``),
        re-reads the rows from the store, rebuilds BM25 and the emotion profiles, and rebuilds FAISS from
        the stored vectors, encoding again only the rows an interrupted update was changing (all rows when
        that is unknown) and rows without a usable stored vector. Without any row order left, everything
        is rebuilt (:meth:`rebuild`).
        """
        from musicgraph.retrieval.catalog import IndexFileError
        from musicgraph.retrieval.emotion import EMOTION_FIELDS as FIELDS
        from musicgraph.retrieval.index import INDEX_FORMAT, IndexBundle, end_update, pending_update

        pending = pending_update(self.directory)
        keys = _catalog_keys(self.directory)
        if (pending or {}).get("kind") == "build" or keys is None:
            return [self.rebuild(store)]
        damaged: list[IndexFileError] = []
        bundle: Any = None
        try:
            bundle = IndexBundle.load(self.directory, damaged=damaged, ignore_pending=True)
            previous: Any = bundle.catalog
        except IndexFileError:  # the manifest or the catalog lost: rows re-read from the store, same order
            previous = _Keys(keys)
        catalog = SongTable.from_store(store, previous=previous)
        n = len(catalog)
        if bundle is None:
            manifest = _read_manifest(self.directory)
            if manifest.get("format") != INDEX_FORMAT:
                manifest = {"format": INDEX_FORMAT, "store": str(getattr(store, "path", store.backend)),
                            "hidden_moods": 0,
                            "dense": {"kind": "auto"} if (self.directory / "dense.vectors.npy").is_file() else None}
            bundle = IndexBundle(self.directory, catalog, None, None,
                                 np.full((n, len(FIELDS)), np.nan, dtype=np.float32), [[] for _ in range(n)], manifest)
        bundle.catalog = catalog
        done = [f"catalog: {int(catalog.alive.sum())} live rows re-read from the store"]
        bundle.sparse = bm25_from_catalog(store, catalog)
        done.append("bm25: rebuilt")
        self._rebuild_emotion(store, bundle)
        done.append("emotion: recomputed profiles")
        if bundle.dense is not None or bundle.manifest.get("dense") or (self.directory / "dense.vectors.npy").is_file():
            # rows an interrupted update was changing are encoded again; after plain damage, none
            redo = set() if pending is None else (None if pending.get("rows") is None else set(pending["rows"]))
            done.append(self._repair_dense(store, bundle, reencode=False, redo=redo, all_if_unknown=True))
        bundle.manifest.update(store_version=catalog.store_version, songs=n, live_songs=int(catalog.alive.sum()))
        save_bundle(bundle)
        end_update(self.directory)
        return done

    def _rebuild_emotion(self, store: GraphStore, bundle: Any) -> None:
        from musicgraph.retrieval.emotion import EmotionAnalyzer
        from musicgraph.retrieval.index import lyrics_of

        cat = bundle.catalog
        n = len(cat)
        emotions = np.full((n, len(EMOTION_FIELDS)), np.nan, dtype=np.float32)
        emotions[:, EMOTION_FIELDS.index("text_weight")] = 0.0
        words: list[list[str]] = [[] for _ in range(n)]
        lyrics = lyrics_of(store, cat, np.flatnonzero(cat.alive).tolist())
        analyzer = EmotionAnalyzer(data_dir=self.data_dir, vad=self.vad) if lyrics else None
        for r, text in lyrics.items():
            prof = analyzer.profile(text)  # type: ignore[union-attr]
            emotions[r] = prof.vector()
            words[r] = prof.evidence
        bundle.emotions, bundle.emotion_words = emotions, words

    def _repair_dense(self, store: GraphStore, bundle: Any, reencode: bool, redo: set[int] | None = None,
                      all_if_unknown: bool = False) -> str:
        """Rebuild FAISS from the stored vectors (``dense.vectors.npy``), encoding rows without one.

        Args:
            reencode: encode every live row again.
            redo: rows to encode again even if they have a stored vector; with ``all_if_unknown``, None
                means every row.
        """
        from musicgraph.retrieval.dense import DenseIndex
        from musicgraph.retrieval.encoder import Encoder
        from musicgraph.retrieval.index import lyrics_of
        from musicgraph.retrieval.textualize import textualize

        d = bundle.dense
        cat = bundle.catalog
        meta = bundle.manifest.get("dense") if isinstance(bundle.manifest.get("dense"), dict) else {}
        vec = None
        if d is not None and d.vectors is not None:
            vec = np.asarray(d.vectors)
        else:
            vec_path = self.directory / "dense.vectors.npy"
            try:
                vec = np.load(vec_path) if vec_path.is_file() else None
            except Exception as exc:  # noqa: BLE001 - an unreadable vector file is encoded again
                log.warning("%s is unreadable (%s): encoding every song again", vec_path, exc)
        if d is None:
            d = DenseIndex(kind=meta.get("kind", "auto"))
        live = np.flatnonzero(cat.alive)
        if redo is None and all_if_unknown:
            reencode = True
        usable = not reencode and vec is not None and vec.ndim == 2
        have = set() if not usable else {
            r for r in live.tolist() if r < len(vec) and np.isfinite(vec[r]).all() and np.abs(vec[r]).sum() > 0
            and (redo is None or r not in redo)}
        todo = np.asarray([r for r in live.tolist() if r not in have], dtype=np.int64)
        if not usable:
            dim = getattr(self.encoder, "dim", None) or meta.get("dim") or (
                vec.shape[1] if vec is not None and vec.ndim == 2 else 384)
            vec = np.zeros((len(cat), dim), dtype=np.float32)
        elif len(vec) < len(cat):
            vec = np.vstack([vec, np.zeros((len(cat) - len(vec), vec.shape[1]), dtype=np.float32)])
        else:
            vec = np.array(vec[: len(cat)], dtype=np.float32)
        if len(todo):
            enc = self.encoder or Encoder()
            lyrics = lyrics_of(store, cat, todo.tolist())
            texts = [textualize(cat, r, lyrics.get(r), bundle.emotion_words[r]) for r in todo.tolist()]
            vec[todo] = getattr(enc, "encode_documents", enc.encode)(texts)
        kind = d.kind if d.index is not None else meta.get("kind", d.kind)
        d.kind = kind
        d.build(vec, rows=live)
        bundle.dense = d
        return f"dense: re-indexed {len(live)} vectors from stored ones, encoded {len(todo)}"
