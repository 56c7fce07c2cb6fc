"""Dense retrieval: the FAISS index over the encoded song texts.

Songs are turned into text by :func:`~musicgraph.retrieval.textualize.textualize` and encoded by
:class:`~musicgraph.retrieval.encoder.Encoder` (all-MiniLM-L6-v2, unit vectors, so inner product is
cosine). :class:`DenseIndex` wraps FAISS: exact ``IndexFlatIP`` for small catalogs, HNSW (or IVF-PQ on
request) for large ones, moved to a GPU when FAISS has one.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Literal

import numpy as np

from musicgraph.lazy import moved_getattr
from musicgraph.retrieval.threads import FAISS_THREADS

log = logging.getLogger(__name__)

IndexKind = Literal["auto", "flat", "hnsw", "ivfpq"]

#: Catalog size from which ``auto`` picks HNSW over exact search.
HNSW_THRESHOLD = 50_000
#: Extra neighbours fetched so that equal scores at the cut are ordered by catalog row.
TIE_SLACK = 8


def gpu_available() -> bool:
    """Whether this FAISS build has GPU support and a GPU is visible."""
    import faiss

    try:
        return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0
    except Exception:  # noqa: BLE001 - CPU builds may lack the symbol entirely
        return False


class DenseIndex:
    """FAISS inner-product index over unit vectors, addressed by catalog row.

    Args:
        kind: ``flat`` (exact), ``hnsw``, ``ivfpq``, or ``auto`` (flat below :data:`HNSW_THRESHOLD`
            vectors, HNSW above).
        hnsw_m, ef_construction, ef_search: HNSW parameters.
        nlist, pq_m, nprobe: IVF-PQ parameters (``nlist`` 0 = ``4*sqrt(n)``).
        use_gpu: move flat/IVF indexes to a GPU when available (None = when available).

    Exact (flat) searches on the CPU over at least :attr:`prefilter_min` vectors first scan an 8-bit
    scalar-quantized copy (a quarter of the memory traffic of float32 vectors), re-score the best
    ``2k + 100`` candidates exactly, and keep that answer only when a bound proves it exact: the
    quantization error of ``q . x`` is at most ``sum_i |q_i| * err_i`` (``err_i``: the largest
    error of coordinate ``i`` over the stored vectors), so when the k-th exact score beats the best
    score any unscored vector could reach, no other vector can enter the top k. Otherwise (rare)
    the plain exact search answers.
    """

    #: Flat indexes with at least this many live vectors use the certified 8-bit prefilter (0 = never).
    prefilter_min = 20_000

    def __init__(
        self,
        kind: IndexKind = "auto",
        hnsw_m: int = 32,
        ef_construction: int = 200,
        ef_search: int = 128,
        nlist: int = 0,
        pq_m: int = 48,
        nprobe: int = 32,
        use_gpu: bool | None = None,
    ):
        self.kind: str = kind
        self.hnsw_m, self.ef_construction, self.ef_search = hnsw_m, ef_construction, ef_search
        self.nlist, self.pq_m, self.nprobe = nlist, pq_m, nprobe
        self.use_gpu = use_gpu
        self.index: Any = None
        self.vectors: np.ndarray | None = None
        #: FAISS position -> catalog row (-1: tombstone, a deleted or replaced vector).
        self.labels: np.ndarray = np.empty(0, dtype=np.int64)
        self._row_pos: dict[int, int] | None = None
        self.single_query_threads = 1
        #: Filtered searches allowing at most this many rows are answered by exact brute force.
        self.brute_force_below = 20_000
        self._sq: Any = None  # 8-bit copy of the flat index (same positions), built on first use
        self._sq_err: np.ndarray | None = None  # per coordinate, the largest quantization error
        #: searches answered by the prefilter, and those it could not certify (answered exactly)
        self.prefilter_stats = {"certified": 0, "fallback": 0}

    @property
    def size(self) -> int:
        """FAISS entries, tombstones included (0 before the index is built or loaded)."""
        return 0 if self.index is None else int(self.index.ntotal)

    @property
    def live_count(self) -> int:
        """Vectors searchable now (FAISS entries minus tombstones)."""
        return int(np.count_nonzero(self.labels >= 0))

    @property
    def dim(self) -> int:
        """The vector dimension (0 before the index is built or loaded)."""
        return 0 if self.index is None else int(self.index.d)

    @property
    def row_pos(self) -> dict[int, int]:
        """Catalog row -> FAISS position of its live vector."""
        if self._row_pos is None:
            live = np.flatnonzero(self.labels >= 0)
            self._row_pos = dict(zip(self.labels[live].tolist(), live.tolist(), strict=True))
        return self._row_pos

    def build(self, vectors: np.ndarray, rows: np.ndarray | None = None) -> DenseIndex:
        """Index ``vectors`` (n x d, unit length); row i is catalog row i.

        Args:
            rows: the catalog rows to put into FAISS (default all); the others (tombstones) are kept
                in :attr:`vectors` only, so row numbers stay aligned.
        """
        import faiss

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) == 0:
            raise ValueError(f"DenseIndex.build: expected a non-empty (n, d) matrix, got shape {vectors.shape}")
        rows = np.arange(len(vectors), dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
        if len(rows) == 0:
            raise ValueError("DenseIndex.build: no live rows to index")
        n, d = len(rows), vectors.shape[1]
        kind = self.kind
        if kind == "auto":
            kind = "flat" if n < HNSW_THRESHOLD else "hnsw"
        if kind == "flat":
            index = faiss.IndexFlatIP(d)
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(d, self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = self.ef_construction
            index.hnsw.efSearch = self.ef_search
        elif kind == "ivfpq":
            nlist = self.nlist or max(1, min(int(4 * math.sqrt(n)), n // 39))
            pq_m = self.pq_m if d % self.pq_m == 0 else 8
            quantizer = faiss.IndexFlatIP(d)
            index = faiss.IndexIVFPQ(quantizer, d, nlist, pq_m, 8, faiss.METRIC_INNER_PRODUCT)
            index.train(vectors[rows])
            index.nprobe = min(self.nprobe, nlist)
        else:
            raise ValueError(f"unknown dense index kind {kind!r}; expected auto, flat, hnsw or ivfpq")
        self.kind = kind
        index.add(np.ascontiguousarray(vectors[rows]))
        self.index = self._maybe_gpu(index)
        self.vectors = vectors
        self.labels = rows.copy()
        self._row_pos = None
        self._sq = self._sq_err = None
        log.debug("FAISS %s index: %d x %d", kind, n, d)
        return self

    # ------------------------------------------------------------ incremental
    def upsert(self, rows: np.ndarray, vectors: np.ndarray) -> None:
        """Add or replace the vectors of catalog ``rows`` (replaced ones become tombstones)."""
        if self.index is None:
            raise RuntimeError("DenseIndex: not built or loaded yet")
        rows = np.asarray(rows, dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if len(rows) == 0:
            return
        if vectors.shape != (len(rows), self.dim):
            raise ValueError(f"DenseIndex.upsert: expected vectors of shape ({len(rows)}, {self.dim}), "
                             f"got {vectors.shape}")
        self.remove(rows)
        need = int(rows.max()) + 1
        base = np.asarray(self.vectors) if self.vectors is not None else np.zeros((0, self.dim), np.float32)
        if need > len(base):
            grown = np.zeros((need, self.dim), dtype=np.float32)
            grown[: len(base)] = base
            base = grown
        elif not base.flags.writeable:
            base = np.array(base)
        base[rows] = vectors
        self.vectors = base
        start = self.size
        self.index.add(vectors)
        if self._sq is not None:
            self._sq_add(vectors)
        self.labels = np.concatenate([self.labels, rows])
        pos = self.row_pos
        for i, r in enumerate(rows.tolist()):
            pos[r] = start + i

    def remove(self, rows: np.ndarray) -> int:
        """Tombstone the vectors of catalog ``rows`` (filtered out at search time); returns how many."""
        pos = self.row_pos
        n = 0
        for r in np.asarray(rows, dtype=np.int64).tolist():
            p = pos.pop(r, None)
            if p is not None:
                self.labels[p] = -1
                n += 1
        return n

    @property
    def tombstones(self) -> int:
        """Replaced or deleted vectors still held by FAISS (searches skip them; :meth:`compact` drops them)."""
        return self.size - self.live_count

    def compact(self) -> None:
        """Rebuild FAISS from the live vectors only (drops every tombstone)."""
        live = np.sort(self.labels[self.labels >= 0])
        if self.vectors is None:
            raise RuntimeError("DenseIndex.compact: the raw vectors are not available")
        kind = self.kind
        self.build(np.asarray(self.vectors), rows=live)
        self.kind = kind

    def _maybe_gpu(self, index: Any) -> Any:
        if self.use_gpu is False or self.kind == "hnsw" or not gpu_available():
            return index
        import faiss

        log.info("moving FAISS %s index to GPU", self.kind)
        self._gpu_res = faiss.StandardGpuResources()
        return faiss.index_cpu_to_gpu(self._gpu_res, 0, index)

    def search(self, queries: np.ndarray, k: int = 10, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows) of the top-``k`` live vectors per query row; rows are -1 where fewer exist.

        ``mask`` (a boolean array over catalog rows) restricts the search to the rows it allows; the
        answer is then the exact top-``k`` of the allowed rows for flat indexes (a FAISS ID selector,
        or brute force over the allowed vectors when they are few) and for any index kind when
        fewer than :attr:`brute_force_below` rows are allowed.
        """
        if self.index is None:
            raise RuntimeError("DenseIndex: not built or loaded yet")
        q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        allowed_pos = None
        if mask is not None or self.tombstones:
            ok = self.labels >= 0
            if mask is not None:
                mask = np.asarray(mask, dtype=bool)
                lab = np.where(ok, self.labels, 0)
                inside = lab < len(mask)
                ok &= inside & mask[np.minimum(lab, len(mask) - 1)]
            allowed_pos = np.flatnonzero(ok)
            if len(allowed_pos) == 0:
                return (np.full((len(q), k), -np.inf, dtype=np.float32), np.full((len(q), k), -1, dtype=np.int64))
            on_gpu = "Gpu" in type(self.index).__name__  # GPU indexes take no ID selector
            if self.vectors is not None and (len(allowed_pos) < self.brute_force_below or on_gpu):
                return self._brute_force(q, self.labels[allowed_pos], k)
        if len(q) <= 4 and self._can_prefilter(allowed_pos):
            outs = [self._prefiltered(qi, k, allowed_pos) for qi in q]
            if all(o is not None for o in outs):
                self.prefilter_stats["certified"] += len(outs)
                return np.vstack([o[0] for o in outs]), np.vstack([o[1] for o in outs])  # type: ignore[index]
            self.prefilter_stats["fallback"] += 1
        # a few extra candidates so that rows tied at the k-th score are ordered by row, not by position
        kk = max(1, min(k + TIE_SLACK, self.size))
        if allowed_pos is None:
            scores, pos = self._faiss_search(q, kk, None)
        else:
            scores, pos = self._faiss_search(q, kk, allowed_pos)
            if self.kind != "flat" and self.vectors is not None:
                want = min(k, len(allowed_pos))
                short = (pos >= 0).sum(axis=1) < want
                if short.any():  # approximate search with a selector missed some: answer exactly
                    bs, br = self._brute_force(q[short], self.labels[allowed_pos], kk)
                    rows = np.where(pos >= 0, self.labels[np.maximum(pos, 0)], -1)
                    rows[short], scores[short] = br, bs
                    return self._pad(*self._tie_sort(scores, rows), k)
        rows = np.where(pos >= 0, self.labels[np.maximum(pos, 0)], -1)
        scores = np.where(rows >= 0, scores, -np.inf).astype(np.float32)
        return self._pad(*self._tie_sort(scores, rows), k)

    @staticmethod
    def _tie_sort(scores: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Order each result list by score, then row (FAISS orders ties by insertion position)."""
        big = np.where(rows >= 0, rows, np.iinfo(np.int64).max)
        order = np.lexsort((big, -scores), axis=-1) if scores.ndim == 1 else np.stack(
            [np.lexsort((big[i], -scores[i])) for i in range(len(scores))])
        return np.take_along_axis(scores, order, axis=1), np.take_along_axis(rows, order, axis=1)

    @staticmethod
    def _pad(scores: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if rows.shape[1] >= k:
            return scores[:, :k], rows[:, :k]
        pad = k - rows.shape[1]
        return (np.pad(scores, ((0, 0), (0, pad)), constant_values=-np.inf),
                np.pad(rows, ((0, 0), (0, pad)), constant_values=-1))

    # ---------------------------------------------------------- prefilter
    def _can_prefilter(self, allowed_pos: np.ndarray | None) -> bool:
        if self.kind != "flat" or not self.prefilter_min or self.vectors is None or self.index is None:
            return False
        if "Gpu" in type(self.index).__name__:
            return False
        n = self.size if allowed_pos is None else len(allowed_pos)
        return n >= self.prefilter_min and len(self.vectors) > int(self.labels.max(initial=-1))

    def prepare(self) -> None:
        """Build the 8-bit prefilter ahead of the first query (a no-op where it is not used)."""
        if self._can_prefilter(None):
            self._prefilter_index()

    def _prefilter_index(self) -> tuple[Any, np.ndarray]:
        if self._sq is None:
            import faiss

            stored = self.index.reconstruct_n(0, self.size)  # the flat index's own vectors, by position
            sq = faiss.IndexScalarQuantizer(self.index.d, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
            sq.train(stored)
            self._sq, self._sq_err = sq, np.zeros(self.index.d, dtype=np.float64)
            self._sq_add(stored)
            log.debug("dense prefilter: 8-bit copy of %d vectors", self.size)
        return self._sq, self._sq_err  # type: ignore[return-value]

    def _sq_add(self, vectors: np.ndarray) -> None:
        """Append to the 8-bit copy, widening the error bound by the new vectors' actual errors."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        for s in range(0, len(vectors), 8192):
            chunk = vectors[s : s + 8192]
            decoded = self._sq.sa_decode(self._sq.sa_encode(chunk))
            err = np.abs(chunk.astype(np.float64) - decoded.astype(np.float64)).max(axis=0)
            self._sq_err = np.maximum(self._sq_err, err)
        self._sq.add(vectors)

    def _prefiltered(self, q1: np.ndarray, k: int, allowed_pos: np.ndarray | None) -> tuple[np.ndarray, np.ndarray] | None:
        """Exact top-``k`` of one query from 8-bit candidates, or None when the bound cannot certify it."""
        sq, err = self._prefilter_index()
        n_allowed = self.size if allowed_pos is None else len(allowed_pos)
        kk = max(1, min(n_allowed, 2 * k + 100))
        approx, pos = self._faiss_search(q1[None, :], kk, allowed_pos, index=sq)
        keep = pos[0] >= 0
        pos, approx = pos[0][keep], approx[0][keep]
        rows = self.labels[pos]
        exact = np.asarray(self.vectors[rows], dtype=np.float32) @ q1
        order = np.lexsort((rows, -exact))
        rows, exact = rows[order], exact[order]
        if len(pos) < n_allowed:
            # an unscored vector scores at most (the lowest candidate's approximate score + the bound)
            bound = float(np.abs(q1.astype(np.float64)) @ err) + 1e-5
            if len(exact) < k or float(exact[k - 1]) <= float(approx.min()) + bound:
                return None
        take = min(k, len(rows))
        out_s = np.full((1, k), -np.inf, dtype=np.float32)
        out_r = np.full((1, k), -1, dtype=np.int64)
        out_s[0, :take] = exact[:take]
        out_r[0, :take] = rows[:take]
        return out_s, out_r

    def _faiss_search(self, q: np.ndarray, k: int, allowed_pos: np.ndarray | None,
                      index: Any = None) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        index = self.index if index is None else index
        params = None
        if allowed_pos is not None:
            bitmap = np.zeros(self.size, dtype=bool)
            bitmap[allowed_pos] = True
            packed = np.packbits(bitmap, bitorder="little")
            sel = faiss.IDSelectorBitmap(self.size, faiss.swig_ptr(packed))
            if index is not self.index:
                params = faiss.SearchParameters(sel=sel)
            elif self.kind == "hnsw":
                params = faiss.SearchParametersHNSW(sel=sel, efSearch=max(self.ef_search, k))
            elif self.kind == "ivfpq":
                params = faiss.SearchParametersIVF(sel=sel, nprobe=self.nprobe)
            else:
                params = faiss.SearchParameters(sel=sel)
            params._keep = (sel, packed)  # keep the buffers alive during the search
        # one query: OpenMP fan-out costs more than it saves (and oversubscribes a busy CPU)
        with FAISS_THREADS.limit(self.single_query_threads if len(q) == 1 else 0):
            if params is None:
                return index.search(q, k)
            return index.search(q, k, params=params)

    def _brute_force(self, q: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-``k`` inner products of ``q`` against the vectors of ``rows`` (ties by row)."""
        vecs = np.asarray(self.vectors[rows], dtype=np.float32)
        sims = q @ vecs.T
        kk = min(k, len(rows))
        out_s = np.full((len(q), k), -np.inf, dtype=np.float32)
        out_r = np.full((len(q), k), -1, dtype=np.int64)
        for i in range(len(q)):
            part = np.argpartition(-sims[i], kk - 1)[:kk] if kk < len(rows) else np.arange(len(rows))
            order = part[np.lexsort((rows[part], -sims[i, part]))]
            out_s[i, :kk] = sims[i, order]
            out_r[i, :kk] = rows[order]
        return out_s, out_r

    def save(self, path: Path) -> None:
        """Write the FAISS index (CPU form) and the raw vectors beside it."""
        import faiss

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        from musicgraph.graph.locks import atomic_save_npy, temporary_name

        index = self.index
        if hasattr(faiss, "index_gpu_to_cpu") and "Gpu" in type(index).__name__:
            index = faiss.index_gpu_to_cpu(index)
        # every file through a unique temporary name and an atomic move (concurrent writers, crashes)
        if self.vectors is not None:
            # copied first: the vectors may be a memory map of the very file being replaced
            atomic_save_npy(path.with_suffix(".vectors.npy"), np.array(self.vectors, dtype=np.float32))
        atomic_save_npy(path.with_suffix(".labels.npy"), self.labels)
        tmp = temporary_name(path)
        try:
            faiss.write_index(index, str(tmp))
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)

    @classmethod
    def load(cls, path: Path, use_gpu: bool | None = None) -> DenseIndex:
        """Read an index written by :meth:`save`."""
        import faiss

        from musicgraph.retrieval.catalog import IndexFileError, read_index_file

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no FAISS index at {path} (run `musicgraph index build`)")
        out = cls(use_gpu=use_gpu)
        index = read_index_file(path, "dense", lambda: faiss.read_index(str(path)))
        name = type(index).__name__
        out.kind = "hnsw" if "HNSW" in name else "ivfpq" if "IVF" in name else "flat"
        if out.kind == "hnsw":
            index.hnsw.efSearch = out.ef_search
        out.index = out._maybe_gpu(index)
        vec_path = path.with_suffix(".vectors.npy")
        if vec_path.is_file():
            out.vectors = read_index_file(vec_path, "dense-vectors", lambda: np.load(vec_path, mmap_mode="r"))
            if out.vectors.ndim != 2:
                raise IndexFileError(vec_path, "dense-vectors", f"{out.vectors.ndim} dimensions, expected 2")
        lab_path = path.with_suffix(".labels.npy")
        out.labels = (read_index_file(lab_path, "dense", lambda: np.load(lab_path)) if lab_path.is_file()
                      else np.arange(out.size, dtype=np.int64))
        if out.labels.shape != (out.size,):
            raise IndexFileError(lab_path, "dense", f"{out.labels.shape[0] if out.labels.ndim else 0} labels for "
                                 f"{out.size} FAISS vectors")
        return out


#: Names that moved out of this module (old name -> new module), importable from here with a
#: DeprecationWarning until the branches written against the old layout have landed (``FAISS_THREADS``,
#: which this module uses, is imported above and stays importable from here as it is).
_MOVED = {
    "Encoder": "musicgraph.retrieval.encoder:Encoder",
    "HashingEncoder": "musicgraph.retrieval.encoder:HashingEncoder",
    "textualize": "musicgraph.retrieval.textualize:textualize",
    "lyric_summary": "musicgraph.retrieval.textualize:lyric_summary",
    "ThreadLimit": "musicgraph.retrieval.threads:ThreadLimit",
    "TORCH_THREADS": "musicgraph.retrieval.threads:TORCH_THREADS",
}


__getattr__ = moved_getattr(__name__, _MOVED)
