"""Killed at any point, a rerun ends with exactly the content of an uninterrupted run (issue 15).

``ingest`` and ``catalog add`` (store and retrieval indexes, dense included) run in a forked child that
SIGKILLs itself at its k-th *write point*: a store write (an embedded transaction commit — just before or
just after it — or a Neo4j write call), or the move of an index file into place. A counting run first
finds how many points an operation has; then a seeded list of 10 of them is tried, each from a fresh copy
of the starting state: kill, rerun, and compare the full content with the uninterrupted run's — nodes and
relationships with every property, texts, metadata (ingest checkpoints), and every index (catalog rows,
BM25 postings, emotion profiles, dense vectors and FAISS answers). Fixture data only; both stores.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import pathlib
import random
import shutil
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from musicgraph.graph.store import GraphStore, content_checksum
from musicgraph.retrieval.encoder import HashingEncoder

KILL_POINTS = 10
SEED = 15
DIM = 32

CHANGES = [
    {"type": "artist", "name": "Harbor Kites", "tags": {"dreamy": 12, "night drive": 4}, "genres": ["dream pop"]},
    {"type": "artist", "name": "Tin Orchard", "tags": {"acoustic": 8}, "genres": ["folk"]},
    *[{"artist": "Harbor Kites", "title": f"Kite Song {i}", "year": 2000 + i, "genres": ["dream pop"],
       "moods": ["calm" if i % 2 else "sad"], "energy": round(0.1 + i / 40, 3), "valence": 0.4,
       **({"lyrics": f"kites over the harbor {i}\nnight wind and paper string"} if i % 3 == 0 else {})}
      for i in range(10)],
    *[{"artist": "Tin Orchard", "title": f"Orchard Tune {i}", "album": "Tin Roof", "genres": ["folk"],
       "moods": ["happy"], "lyrics": f"apples and tin {i}"} for i in range(6)],
    {"artist": "Velvet Hours", "title": "Paper Lanterns", "moods": ["calm"]},  # an existing song gains a mood
    {"type": "tag", "artist": "Velvet Hours", "tag": "harbor", "weight": 6},
    {"type": "tag", "artist": "Harbor Kites", "tag": "melancholic", "weight": 3},
    {"type": "listen", "user": "hetrec:1", "artist": "Harbor Kites", "weight": 240},
    {"type": "listen", "user": "hetrec:9", "artist": "Tin Orchard", "weight": 35},
]


# ------------------------------------------------------------------------------------ kill harness
class _Counter:
    def __init__(self, kill_at: int | None):
        self.kill_at = kill_at
        self.n = 0

    def point(self) -> None:
        self.n += 1
        if self.kill_at is not None and self.n == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)


def _install(counter: _Counter) -> None:
    """Count (and kill at) every write point of this process."""
    import musicgraph.graph.embedded as emb
    from musicgraph.graph.neo4j_store import Neo4jStore

    tx_exit = emb._Transaction.__exit__

    def exit_counted(self: Any, exc_type: Any, exc: Any, tb: Any) -> None:
        outer = self.store._tx_depth == 1 and exc_type is None
        if outer:
            counter.point()  # before the commit: the transaction is lost
        tx_exit(self, exc_type, exc, tb)
        if outer:
            counter.point()  # after it: the transaction is in, what follows is not

    emb._Transaction.__exit__ = exit_counted  # type: ignore[method-assign]
    write = Neo4jStore._write

    def write_counted(self: Any, work: Any) -> Any:
        counter.point()
        out = write(self, work)
        counter.point()
        return out

    Neo4jStore._write = write_counted  # type: ignore[method-assign]
    replace, rename, path_replace = os.replace, pathlib.Path.rename, pathlib.Path.replace

    def os_replace(src: Any, dst: Any, *a: Any, **k: Any) -> None:
        counter.point()
        replace(src, dst, *a, **k)

    def p_rename(self: Any, target: Any) -> Any:
        counter.point()
        return rename(self, target)

    def p_replace(self: Any, target: Any) -> Any:
        counter.point()
        return path_replace(self, target)

    os.replace = os_replace  # type: ignore[assignment]
    pathlib.Path.rename = p_rename  # type: ignore[method-assign]
    pathlib.Path.replace = p_replace  # type: ignore[method-assign]


def _child(job: Callable[[], None], kill_at: int | None, queue: Any) -> None:
    counter = _Counter(kill_at)
    _install(counter)
    try:
        job()
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        queue.put(("error", f"{type(exc).__name__}: {exc}"))
        os._exit(1)
    queue.put(("points", counter.n))
    os._exit(0)


def run_job(job: Callable[[], None], kill_at: int | None = None) -> int:
    """Run ``job`` in a forked child; with ``kill_at``, the child is SIGKILLed at that write point.

    Returns the number of write points of a complete run (``kill_at`` None)."""
    ctx = multiprocessing.get_context("fork")
    queue = ctx.SimpleQueue()
    proc = ctx.Process(target=_child, args=(job, kill_at, queue))
    proc.start()
    proc.join(600)
    if kill_at is not None:
        assert proc.exitcode == -signal.SIGKILL, (proc.exitcode, None if queue.empty() else queue.get())
        return kill_at
    kind, value = queue.get()
    assert proc.exitcode == 0 and kind == "points", value
    return int(value)


def kill_points(total: int) -> list[int]:
    assert total >= KILL_POINTS, f"only {total} write points"
    return sorted(random.Random(SEED).sample(range(1, total + 1), KILL_POINTS))


# ---------------------------------------------------------------------------------------- content
def meta_of(store: GraphStore) -> dict[str, str]:
    if store.backend == "embedded":
        import sqlite3

        db = sqlite3.connect(Path(store.path) / "graph.sqlite")
        rows = dict(db.execute("SELECT key, value FROM meta").fetchall())
        db.close()
    else:
        rows = {r["k"]: r["v"] for r in store._read("MATCH (m:MusicgraphMeta) RETURN m.key AS k, m.value AS v")}
    return {k: v for k, v in rows.items() if k not in ("version", "ingest:last_report", "test:db")}


def texts_of(store: GraphStore) -> dict[str, str]:
    if store.backend == "embedded":
        import sqlite3

        db = sqlite3.connect(Path(store.path) / "graph.sqlite")
        rows = dict(db.execute("SELECT ref, text FROM texts").fetchall())
        db.close()
        return rows
    return {r["ref"]: r["text"] for r in store._read("MATCH (t:Text) RETURN t.ref AS ref, t.text AS text")}


def store_content(store: GraphStore) -> tuple[str, dict[str, str], dict[str, str], dict[str, int], dict[str, int]]:
    return content_checksum(store, with_props=True), texts_of(store), meta_of(store), store.count_nodes(), \
        store.count_edges()


def index_content(directory: Path) -> dict[str, Any]:
    from musicgraph.retrieval.index import IndexBundle

    leftovers = sorted(p.name for p in directory.iterdir() if p.name.endswith((".tmp", ".old", ".pending")))
    b = IndexBundle.load(directory)
    cat = b.catalog
    live = np.flatnonzero(cat.alive)
    bm = b.sparse
    enc = HashingEncoder(dim=DIM)
    probes = enc.encode(["night harbor kites", "apples tin", "sad paper lanterns", "calm"])
    vec = np.asarray(b.dense.vectors)
    return {
        "leftovers": leftovers,
        "catalog": {c: getattr(cat, c) for c in ("keys", "titles", "artists", "artist_keys", "albums", "genres",
                                                  "tags", "moods", "lyrics_refs")},
        "alive": cat.alive.tolist(),
        "features": np.nan_to_num(cat.features, nan=-999.0).round(6).tolist(),
        "bm25": (bm.rows().tolist(), [sorted(bm.doc_terms(r)) for r in bm.rows().tolist()],
                 bm.doc_len[bm.rows()].tolist(), {t: int(bm.df[i]) for t, i in bm.vocabulary.items() if bm.df[i]}),
        "emotion": np.nan_to_num(b.emotions, nan=-999.0).round(5).tolist(),
        "emotion_words": b.emotion_words,
        "dense_live": sorted(b.dense.labels[b.dense.labels >= 0].tolist()),
        "dense_vectors": vec[live].round(5).tolist(),
        # FAISS answers as (score, row), ties ordered by row (positions inside FAISS differ when a
        # recovered index was rebuilt without the tombstones of incremental updates)
        "dense_answers": [_answers(b.dense, p, 8) for p in probes],
        "manifest": {**{k: b.manifest.get(k) for k in ("format", "songs", "live_songs")},
                     "dense": {k: (b.manifest.get("dense") or {}).get(k) for k in ("kind", "live", "dim")}},
    }


def _answers(dense: Any, probe: np.ndarray, k: int) -> list[tuple[float, int]]:
    scores, rows = dense.search(probe[None, :], k)
    return sorted((round(float(s), 5), int(r)) for s, r in zip(scores[0], rows[0], strict=True) if r >= 0)


# ---------------------------------------------------------------------------------------- scenarios
def _ingest_job(make_store: Callable[[], GraphStore], data_dir: Path) -> Callable[[], None]:
    def job() -> None:
        from musicgraph.graph.ingest import ingest

        store = make_store()
        try:
            ingest(store, data_dir, progress=False)
        finally:
            store.close()

    return job


def _catalog_job(make_store: Callable[[], GraphStore], index_dir: Path, changes: Path) -> Callable[[], None]:
    def job() -> None:
        from musicgraph.graph.catalog import CatalogEditor
        from musicgraph.retrieval.incremental import RetrievalIndexes

        store = make_store()
        try:
            CatalogEditor(store, [RetrievalIndexes(index_dir, encoder=HashingEncoder(dim=DIM))]).apply_file(
                "add", changes)
        finally:
            store.close()

    return job


@pytest.fixture(scope="module")
def changes_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("changes") / "changes.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in CHANGES) + "\n", encoding="utf-8")
    return path


def _build_base(store: GraphStore, index_dir: Path) -> None:
    from musicgraph.cypher.sample import load_sample
    from musicgraph.retrieval.index import build_indexes

    load_sample(store)
    build_indexes(store, index_dir, encoder=HashingEncoder(dim=DIM), dense_kind="flat", progress=False)


# ------------------------------------------------------------------------------------- embedded
def test_embedded_ingest_killed_anywhere(tmp_path, fixture_data_dir) -> None:
    from musicgraph.graph import EmbeddedStore

    def make(path: Path) -> Callable[[], GraphStore]:
        return lambda: EmbeddedStore(path)

    ref_path = tmp_path / "reference"
    total = run_job(_ingest_job(make(ref_path), fixture_data_dir))
    with EmbeddedStore(ref_path) as ref:
        want = store_content(ref)
    assert sum(want[3].values()) > 50
    for k in kill_points(total):
        path = tmp_path / f"killed-{k}"
        run_job(_ingest_job(make(path), fixture_data_dir), kill_at=k)
        run_job(_ingest_job(make(path), fixture_data_dir))  # the rerun
        with EmbeddedStore(path) as st:
            assert store_content(st) == want, f"kill point {k} of {total}"


def test_embedded_catalog_add_killed_anywhere(tmp_path, changes_file) -> None:
    from musicgraph.graph import EmbeddedStore

    base = tmp_path / "base"
    with EmbeddedStore(base / "store") as st:
        _build_base(st, base / "idx")

    def fresh(name: str) -> Path:
        shutil.copytree(base, tmp_path / name)
        return tmp_path / name

    ref = fresh("reference")
    total = run_job(_catalog_job(lambda: EmbeddedStore(ref / "store"), ref / "idx", changes_file))
    with EmbeddedStore(ref / "store") as st:
        want = store_content(st)
    want_idx = index_content(ref / "idx")
    assert "harbor kites|kite song 3" in want_idx["catalog"]["keys"]
    for k in kill_points(total):
        d = fresh(f"killed-{k}")
        job = _catalog_job(lambda d=d: EmbeddedStore(d / "store"), d / "idx", changes_file)
        run_job(job, kill_at=k)
        run_job(job)  # the same command again
        with EmbeddedStore(d / "store") as st:
            assert store_content(st) == want, f"kill point {k} of {total}"
        assert index_content(d / "idx") == want_idx, f"kill point {k} of {total}"


# ---------------------------------------------------------------------------------------- Neo4j
@pytest.fixture(scope="module")
def neo4j_kill_store(request: pytest.FixtureRequest):
    store = request.getfixturevalue("neo4j_tests").claim(request)
    yield store
    store.claim_for_tests()
    store.close()


def _neo4j_factory(template: GraphStore) -> Callable[[], GraphStore]:
    from musicgraph.config import get_settings
    from musicgraph.graph.neo4j_store import Neo4jStore

    settings = get_settings()
    return lambda: Neo4jStore.from_settings(settings, apply_schema=False)


def _reset(store: GraphStore) -> None:
    store.claim_for_tests()  # clears it (and keeps the test marker)


@pytest.mark.neo4j
@pytest.mark.slow
def test_neo4j_ingest_killed_anywhere(neo4j_kill_store, fixture_data_dir) -> None:
    store = neo4j_kill_store
    make = _neo4j_factory(store)
    _reset(store)
    total = run_job(_ingest_job(make, fixture_data_dir))
    want = store_content(store)
    assert sum(want[3].values()) > 50
    for k in kill_points(total):
        _reset(store)
        run_job(_ingest_job(make, fixture_data_dir), kill_at=k)
        run_job(_ingest_job(make, fixture_data_dir))
        assert store_content(store) == want, f"kill point {k} of {total}"


@pytest.mark.neo4j
@pytest.mark.slow
def test_neo4j_catalog_add_killed_anywhere(neo4j_kill_store, tmp_path, changes_file) -> None:
    store = neo4j_kill_store
    make = _neo4j_factory(store)
    _reset(store)
    _build_base(store, tmp_path / "base-idx")
    # the starting state: the sample graph plus its indexes (restored before every run)
    start_version = store.version()

    def restore(name: str) -> Path:
        if store.version() != start_version:
            _reset(store)
            from musicgraph.cypher.sample import load_sample

            load_sample(store)
        shutil.copytree(tmp_path / "base-idx", tmp_path / name)
        return tmp_path / name

    ref = restore("reference")
    total = run_job(_catalog_job(make, ref, changes_file))
    want = store_content(store)
    want_idx = index_content(ref)
    for k in kill_points(total):
        d = restore(f"killed-{k}")
        job = _catalog_job(make, d, changes_file)
        run_job(job, kill_at=k)
        run_job(job)
        assert store_content(store) == want, f"kill point {k} of {total}"
        assert index_content(d) == want_idx, f"kill point {k} of {total}"
