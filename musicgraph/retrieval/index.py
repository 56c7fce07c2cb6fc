"""Build and persist every retrieval index beside the store: ``MUSICGRAPH_HOME/indexes/<store name>/``.

Layout::

    manifest.json        format, store version, counts, build seconds per step, dense settings
    catalog.json         song rows (see :mod:`musicgraph.retrieval.catalog`), features.npy, alive.npy
    bm25/                bm25s index + per-row term sets
    emotion.npy          emotion profiles (rows x EMOTION_FIELDS), emotion_words.json (evidence)
    dense.faiss          FAISS index, dense.vectors.npy (unit vectors, for MMR)
    update.pending       present only while an update writes the files (see below)

Rows are catalog rows, stable across rebuilds (:meth:`SongTable.from_store` with ``previous``).

Safety: the files are written under unique temporary names and moved into place, while the directory's
lock (:func:`musicgraph.graph.locks.directory_lock`) is held; readers load under the same lock, so they
see a whole update or none. Before the first file of an update, ``update.pending`` records what is being
written; it is removed after the manifest. A process killed in between leaves it behind, and then
:meth:`IndexBundle.load` refuses the mixed files (an :class:`IndexFileError` saying to run
``musicgraph check --repair``), ``check`` reports it, and ``--repair`` (or the next ``catalog`` command)
rebuilds the parts from the store. Every unreadable file is an :class:`IndexFileError` naming it.
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
from musicgraph.graph.locks import (
    atomic_save_npy,
    atomic_write_text,
    directory_lock,
    remove_stale_temporaries,
    write_directory,
)
from musicgraph.graph.store import GraphStore
from musicgraph.retrieval.catalog import IndexFileError, SongTable, read_index_file
from musicgraph.retrieval.emotion import EMOTION_FIELDS
from musicgraph.retrieval.sparse import SparseIndex
from musicgraph.retrieval.text import tokenize

log = logging.getLogger(__name__)

INDEX_FORMAT = 1
#: Marker file of an index update in progress (see the module docstring).
PENDING = "update.pending"


def pending_update(directory: Path) -> dict[str, Any] | None:
    """The record of an interrupted (or running) index update in ``directory``, or None."""
    path = Path(directory) / PENDING
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {"unreadable": True}
    except (OSError, ValueError):
        return {"unreadable": True}


def begin_update(directory: Path, **info: Any) -> None:
    """Write the ``update.pending`` marker (call with the directory lock held); temporary files of killed
    writers are removed first."""
    remove_stale_temporaries(directory)
    record = {"pid": __import__("os").getpid(), "started": time.strftime("%Y-%m-%dT%H:%M:%S"), **info}
    old = pending_update(directory)
    if old is not None and old.get("rows") is not None and record.get("rows") is not None:
        record["rows"] = sorted(set(old["rows"]) | set(record["rows"]))  # an earlier interruption's rows too
    elif old is not None:
        record["rows"] = None
    atomic_write_text(Path(directory) / PENDING, json.dumps(record))


def end_update(directory: Path) -> None:
    """Remove the ``update.pending`` marker: the directory holds one consistent update."""
    (Path(directory) / PENDING).unlink(missing_ok=True)


def default_index_dir(settings: Settings | None = None) -> Path:
    """``MUSICGRAPH_HOME/indexes/<store name>``."""
    settings = settings or get_settings()
    return settings.home / "indexes" / settings.store_name


@dataclass(slots=True)
class IndexBundle:
    """Everything :class:`~musicgraph.retrieval.retriever.HybridRetriever` reads from disk."""

    directory: Path
    catalog: SongTable
    sparse: Any  # IncrementalBM25 (exact, updatable; the default) or SparseIndex (bm25s; older bundles)
    dense: Any  # DenseIndex | None (kept untyped so importing this module never imports faiss)
    emotions: np.ndarray
    emotion_words: list[list[str]]
    manifest: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, directory: Path, dense: bool = True, damaged: list[IndexFileError] | None = None,
             ignore_pending: bool = False, sparse: bool = True) -> IndexBundle:
        """Read the indexes of ``directory`` (``dense=False`` skips FAISS, ``sparse=False`` BM25).

        Args:
            damaged: collect unreadable parts here instead of raising (the part is then left empty:
                ``sparse``/``dense`` None, empty emotion profiles); for ``check`` and repairs.
            ignore_pending: load even if an interrupted update left ``update.pending`` (repairs).

        Raises:
            FileNotFoundError: no index in ``directory``.
            IndexFileError: an unreadable file (named, with ``musicgraph check --repair`` to run), or the
                files of an interrupted update.

        A manifest that lists a dense index whose ``dense.faiss`` is missing loads without it and logs a
        warning (retrieval then runs without the dense component).
        """
        directory = Path(directory)
        mpath = directory / "manifest.json"
        if not mpath.is_file():
            raise FileNotFoundError(f"no retrieval index in {directory}: run `musicgraph index build` first")
        with directory_lock(directory):
            return cls._load(directory, dense, damaged, ignore_pending, sparse)

    @classmethod
    def _load(cls, directory: Path, dense: bool, damaged: list[IndexFileError] | None,
              ignore_pending: bool, want_sparse: bool = True) -> IndexBundle:
        def part(fn: Any, fallback: Any = None) -> Any:
            try:
                return fn()
            except IndexFileError as exc:
                if damaged is None:
                    raise
                damaged.append(exc)
                return fallback

        mpath = directory / "manifest.json"
        pending = pending_update(directory)
        if pending is not None and not ignore_pending:
            exc = IndexFileError(directory / PENDING, "interrupted",
                                 f"an index update started at {pending.get('started', '?')} was interrupted, so "
                                 "the files may mix two versions")
            if damaged is None:
                raise exc
            damaged.append(exc)

        def read_manifest() -> dict[str, Any]:
            data = json.loads(mpath.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            return data

        manifest = read_index_file(mpath, "manifest", read_manifest)
        if manifest.get("format") != INDEX_FORMAT:
            raise ValueError(f"{mpath}: index format {manifest.get('format')} != {INDEX_FORMAT}; rebuild it")
        catalog = SongTable.load(directory)  # no catalog, nothing else makes sense: always raises
        n = len(catalog)
        sparse: Any = None
        if not want_sparse:
            pass
        elif (directory / "bm25inc").is_dir():
            from musicgraph.retrieval.incremental import IncrementalBM25

            sparse = part(lambda: IncrementalBM25.load(directory / "bm25inc"))
        elif (directory / "bm25").is_dir():
            sparse = part(lambda: read_index_file(directory / "bm25", "bm25",
                                                  lambda: SparseIndex.load(directory / "bm25")))
        dense_index = None
        if dense and (directory / "dense.faiss").is_file():
            from musicgraph.retrieval.dense import DenseIndex

            dense_index = part(lambda: DenseIndex.load(directory / "dense.faiss"))
        elif dense and manifest.get("dense"):
            log.warning("%s is missing: retrieval runs without the dense (MiniLM) component; run "
                        "`musicgraph check --repair` to rebuild it from %s", directory / "dense.faiss",
                        directory / "dense.vectors.npy")
        from musicgraph.retrieval.emotion import EMOTION_FIELDS

        def read_emotions() -> np.ndarray:
            path = directory / "emotion.npy"
            if not path.is_file():
                raise IndexFileError(path, "emotion", "the file is missing")
            arr = read_index_file(path, "emotion", lambda: np.load(path))
            if arr.shape != (n, len(EMOTION_FIELDS)):
                raise IndexFileError(path, "emotion", f"shape {arr.shape}, expected {(n, len(EMOTION_FIELDS))}")
            return arr

        def read_words() -> list[list[str]]:
            path = directory / "emotion_words.json"
            if not path.is_file():
                raise IndexFileError(path, "emotion", "the file is missing")
            words = read_index_file(path, "emotion", lambda: json.loads(path.read_text(encoding="utf-8")))
            if not isinstance(words, list) or len(words) != n:
                raise IndexFileError(path, "emotion", f"expected {n} evidence lists")
            return words

        empty = np.full((n, len(EMOTION_FIELDS)), np.nan, dtype=np.float32)
        emotions = part(read_emotions, empty)
        words = part(read_words, [[] for _ in range(n)])
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
            previous = SongTable.load(directory)
        except (ValueError, OSError, KeyError) as exc:
            log.warning("ignoring unreadable previous catalog in %s: %s", directory, exc)
    t0 = time.perf_counter()
    catalog = SongTable.from_store(store, hidden_moods=hidden_moods, previous=previous)
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

        bm25s_copy = SparseIndex().build(tokens)  # bm25s copy (benchmarks, older readers)
        sparse = IncrementalBM25.build((i, tokens[i]) for i in range(n) if catalog.alive[i])
        timings["bm25"] = time.perf_counter() - t0

        dense_index = None
        if dense:
            from musicgraph.retrieval.dense import DenseIndex
            from musicgraph.retrieval.encoder import Encoder
            from musicgraph.retrieval.textualize import textualize

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
            timings["faiss"] = time.perf_counter() - t0
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
    # every file written at the end, under the directory lock, with the update marker around them
    with directory_lock(directory):
        begin_update(directory, kind="build", rows=None)
        write_directory(directory / "bm25", bm25s_copy.save)
        sparse.save(directory / BM25_DIR)
        if dense_index is not None:
            dense_index.save(directory / "dense.faiss")
        else:
            for extra in ("dense.faiss", "dense.vectors.npy", "dense.labels.npy"):
                (directory / extra).unlink(missing_ok=True)
        catalog.save(directory)
        atomic_save_npy(directory / "emotion.npy", emotions)
        atomic_write_text(directory / "emotion_words.json", json.dumps(emotion_words))
        atomic_write_text(directory / "manifest.json", json.dumps(manifest, indent=2))
        end_update(directory)
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


def lyrics_of(store: GraphStore, catalog: SongTable, rows: Sequence[int]) -> dict[int, str]:
    """Lyrics text of the given rows (those that have lyrics)."""
    refs = {r: catalog.lyrics_refs[r] for r in rows if catalog.lyrics_refs[r]}
    texts = store.get_texts(set(refs.values())) if refs else {}
    return {r: texts[ref] for r, ref in refs.items() if ref in texts}
