"""Build and persist every retrieval index beside the store: ``MUSICGRAPH_HOME/indexes/<store name>/``.

Layout::

    manifest.json        format, store version, counts, build seconds per step, dense settings
    catalog.json         song rows (see :mod:`musicgraph.retrieval.catalog`), features.npy, alive.npy
    bm25/                bm25s index + per-row term sets
    emotion.npy          emotion profiles (rows x EMOTION_FIELDS), emotion_words.json (evidence)
    dense.faiss          FAISS index, dense.vectors.npy (unit vectors, for MMR)

Rows are catalog rows, stable across rebuilds (:meth:`SongCatalog.from_store` with ``previous``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from musicgraph.config import Settings, get_settings
from musicgraph.graph.store import GraphStore
from musicgraph.retrieval.catalog import SongCatalog
from musicgraph.retrieval.emotion import EMOTION_FIELDS
from musicgraph.retrieval.sparse import SparseIndex
from musicgraph.retrieval.text import tokenize

log = logging.getLogger(__name__)

INDEX_FORMAT = 1


def default_index_dir(settings: Settings | None = None) -> Path:
    """``MUSICGRAPH_HOME/indexes/<store name>``."""
    settings = settings or get_settings()
    return settings.home / "indexes" / settings.store_name


@dataclass(slots=True)
class IndexBundle:
    """Everything :class:`~musicgraph.retrieval.retriever.HybridRetriever` reads from disk."""

    directory: Path
    catalog: SongCatalog
    sparse: Any  # IncrementalBM25 (exact, updatable; the default) or SparseIndex (bm25s; older bundles)
    dense: Any  # DenseIndex | None (kept untyped so importing this module never imports faiss)
    emotions: np.ndarray
    emotion_words: list[list[str]]
    manifest: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, directory: Path, dense: bool = True) -> IndexBundle:
        """Read the indexes of ``directory`` (``dense=False`` skips FAISS)."""
        directory = Path(directory)
        mpath = directory / "manifest.json"
        if not mpath.is_file():
            raise FileNotFoundError(f"no retrieval index in {directory}: run `musicgraph index build` first")
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
        if manifest.get("format") != INDEX_FORMAT:
            raise ValueError(f"{mpath}: index format {manifest.get('format')} != {INDEX_FORMAT}; rebuild it")
        catalog = SongCatalog.load(directory)
        sparse: Any = None
        if (directory / "bm25inc").is_dir():
            from musicgraph.retrieval.incremental import IncrementalBM25

            sparse = IncrementalBM25.load(directory / "bm25inc")
        elif (directory / "bm25").is_dir():
            sparse = SparseIndex.load(directory / "bm25")
        dense_index = None
        if dense and (directory / "dense.faiss").is_file():
            from musicgraph.retrieval.dense import DenseIndex

            dense_index = DenseIndex.load(directory / "dense.faiss")
        emotions = np.load(directory / "emotion.npy")
        words = json.loads((directory / "emotion_words.json").read_text(encoding="utf-8"))
        return cls(directory, catalog, sparse, dense_index, emotions, words, manifest)


def _progress() -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    transient=False)


def build_indexes(
    store: GraphStore,
    directory: Path | None = None,
    *,
    dense: bool = True,
    dense_kind: str = "auto",
    hidden_moods: Collection[str] = (),
    encoder: Any = None,
    data_dir: Path | None = None,
    vad: Any = None,
    batch_size: int = 64,
    progress: bool = True,
    write_emotions: bool = False,
) -> IndexBundle:
    """Build the catalog, BM25, emotion and dense indexes of ``store`` into ``directory``.

    Args:
        store: the graph store (read only, unless ``write_emotions``).
        directory: output directory (default :func:`default_index_dir`).
        dense: build the FAISS index (needs the MiniLM encoder).
        dense_kind: ``auto``, ``flat``, ``hnsw`` or ``ivfpq``.
        hidden_moods: song keys whose mood labels are left out (held-out evaluation).
        encoder: an object with ``encode(texts, batch_size=, progress=)`` (default MiniLM).
        data_dir, vad: where to read NRC-VAD, or the table itself.
        write_emotions: also store each song's emotion summary (``emotion_valence``,
            ``emotion_arousal``, ``emotion_vader``, ``emotion_quadrant``) as Song properties.
    """
    from musicgraph.retrieval.emotion import EmotionAnalyzer, quadrant

    directory = Path(directory) if directory is not None else default_index_dir()
    directory.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    previous = None
    if (directory / "catalog.json").is_file() and not hidden_moods:
        try:
            previous = SongCatalog.load(directory)
        except (ValueError, OSError, KeyError) as exc:
            log.warning("ignoring unreadable previous catalog in %s: %s", directory, exc)
    t0 = time.perf_counter()
    catalog = SongCatalog.from_store(store, hidden_moods=hidden_moods, previous=previous)
    if len(catalog) == 0:
        raise ValueError(f"{store!r} has no songs: run `musicgraph ingest` first")
    timings["catalog"] = time.perf_counter() - t0
    n = len(catalog)
    refs = [r for r in catalog.lyrics_refs if r]
    texts = store.get_texts(refs) if refs else {}
    lyrics: list[str | None] = [texts.get(r) if r else None for r in catalog.lyrics_refs]
    log.info("catalog: %d songs, %d with lyrics", n, sum(1 for x in lyrics if x))

    prog = _progress() if progress else None
    if prog is not None:
        prog.start()
    try:
        # emotion profiles (lyrics only; most songs have none)
        t0 = time.perf_counter()
        analyzer = EmotionAnalyzer(data_dir=data_dir, vad=vad)
        emotions = np.full((n, len(EMOTION_FIELDS)), np.nan, dtype=np.float32)
        emotions[:, EMOTION_FIELDS.index("text_weight")] = 0.0
        emotion_words: list[list[str]] = [[] for _ in range(n)]
        with_lyrics = [i for i, x in enumerate(lyrics) if x]
        task = prog.add_task("emotion profiles", total=len(with_lyrics)) if prog else None
        for i in with_lyrics:
            prof = analyzer.profile(lyrics[i])
            emotions[i] = prof.vector()
            emotion_words[i] = prof.evidence
            if prog is not None:
                prog.advance(task)
        timings["emotion"] = time.perf_counter() - t0

        # BM25
        t0 = time.perf_counter()
        task = prog.add_task("BM25 documents", total=n) if prog else None
        tokens: list[list[str]] = []
        for i in range(n):
            tokens.append(tokenize(catalog.document(i, lyrics[i])) if catalog.alive[i] else [])
            if prog is not None and (i % 1000 == 0 or i == n - 1):
                prog.update(task, completed=i + 1)
        from musicgraph.retrieval.incremental import BM25_DIR, IncrementalBM25

        SparseIndex().build(tokens).save(directory / "bm25")  # bm25s copy (benchmarks, older readers)
        sparse = IncrementalBM25.build((i, tokens[i]) for i in range(n) if catalog.alive[i])
        sparse.save(directory / BM25_DIR)
        timings["bm25"] = time.perf_counter() - t0

        dense_index = None
        if dense:
            from musicgraph.retrieval.dense import DenseIndex, Encoder, textualize

            t0 = time.perf_counter()
            enc = encoder or Encoder()
            docs = [textualize(catalog, i, lyrics[i], emotion_words[i]) for i in range(n)]
            task = prog.add_task("dense encoding", total=n) if prog else None
            if hasattr(enc, "encode_documents"):  # the fast document path (length-sorted, int8)
                def advance(done: int) -> None:
                    if prog is not None:
                        prog.update(task, completed=done)

                vectors = enc.encode_documents(docs, batch_size=batch_size, on_batch=advance)
            else:
                chunks: list[np.ndarray] = []
                step = max(batch_size * 8, 256)
                for s in range(0, n, step):
                    chunks.append(enc.encode(docs[s : s + step], batch_size=batch_size))
                    if prog is not None:
                        prog.update(task, completed=min(n, s + step))
                vectors = np.concatenate(chunks) if chunks else np.zeros((0, 384), dtype=np.float32)
            timings["encode"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            dense_index = DenseIndex(kind=dense_kind).build(  # type: ignore[arg-type]
                vectors, rows=np.flatnonzero(catalog.alive))
            dense_index.save(directory / "dense.faiss")
            timings["faiss"] = time.perf_counter() - t0
        elif (directory / "dense.faiss").is_file():
            (directory / "dense.faiss").unlink()
            for extra in ("dense.vectors.npy", "dense.labels.npy"):
                (directory / extra).unlink(missing_ok=True)
    finally:
        if prog is not None:
            prog.stop()

    if write_emotions:
        rows = []
        fi = {f: EMOTION_FIELDS.index(f) for f in ("vad_valence", "vad_arousal", "vader")}
        for i in with_lyrics:
            v, a, c = (float(emotions[i, fi[f]]) for f in ("vad_valence", "vad_arousal", "vader"))
            props: dict[str, Any] = {"emotion_vader": None if np.isnan(c) else round(c, 4)}
            if not np.isnan(v):
                props.update(emotion_valence=round(v, 4), emotion_arousal=round(a, 4),
                             emotion_quadrant=quadrant(v, a), emotion_words=emotion_words[i])
            rows.append((catalog.keys[i], props))
        store.upsert_nodes("Song", rows)
        catalog.store_version = store.version()

    catalog.save(directory)
    np.save(directory / "emotion.npy", emotions)
    (directory / "emotion_words.json").write_text(json.dumps(emotion_words), encoding="utf-8")
    manifest = {
        "format": INDEX_FORMAT,
        "store": str(getattr(store, "path", store.backend)),
        "store_version": catalog.store_version,
        "songs": n,
        "with_lyrics": len(with_lyrics),
        "hidden_moods": len(hidden_moods),
        "dense": None if dense_index is None else {"kind": dense_index.kind, "size": dense_index.size,
                                                   "live": dense_index.live_count, "dim": dense_index.dim,
                                                   "encoder": _encoder_info(enc)},
        "seconds": {k: round(v, 3) for k, v in timings.items()},
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    log.info("indexes written to %s in %.1fs", directory, sum(timings.values()))
    return IndexBundle(directory, catalog, sparse, dense_index, emotions, emotion_words, manifest)


def _encoder_info(enc: Any) -> dict[str, Any]:
    """How documents were encoded (recorded in the manifest)."""
    info: dict[str, Any] = {"class": type(enc).__name__}
    if hasattr(enc, "encode_documents"):
        runner = enc._doc_runner() if hasattr(enc, "_doc_runner") else None
        info["documents"] = getattr(enc, "document_precision", "pipeline") if runner else "pipeline"
        info["max_length"] = getattr(enc, "doc_max_length", None) if runner else None
    return info


def lyrics_of(store: GraphStore, catalog: SongCatalog, rows: Sequence[int]) -> dict[int, str]:
    """Lyrics text of the given rows (those that have lyrics)."""
    refs = {r: catalog.lyrics_refs[r] for r in rows if catalog.lyrics_refs[r]}
    texts = store.get_texts(set(refs.values())) if refs else {}
    return {r: texts[ref] for r, ref in refs.items() if ref in texts}
