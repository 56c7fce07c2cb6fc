"""``musicgraph check``: the store against every derived index, a deliberately corrupted index, and
``--repair`` rebuilding only what is wrong. Runs in CI after the ingest tests (fixture ingest here;
the real-data variant is marked ``integration``)."""

from __future__ import annotations

import gc
import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from musicgraph.graph.check import IndexFileError, Issue, check_graph, gc_paused, read_index_file, run_check
from musicgraph.retrieval.encoder import HashingEncoder


@pytest.fixture(scope="module")
def built(tmp_path_factory, fixture_data_dir):
    """Ingest the fixture data into a fresh store and build every retrieval index (module scope, pristine)."""
    from musicgraph.graph import EmbeddedStore
    from musicgraph.graph.ingest import ingest
    from musicgraph.retrieval.index import build_indexes

    base = tmp_path_factory.mktemp("check")
    store = EmbeddedStore(base / "store")
    ingest(store, fixture_data_dir, progress=False)
    build_indexes(store, base / "idx", encoder=HashingEncoder(dim=32), data_dir=fixture_data_dir, progress=False,
                  dense_kind="flat")
    store.close()
    return base


@pytest.fixture()
def work(built, tmp_path, fixture_data_dir):
    from musicgraph.graph import EmbeddedStore
    from musicgraph.retrieval.incremental import RetrievalIndexes

    shutil.copytree(built / "store", tmp_path / "store")
    shutil.copytree(built / "idx", tmp_path / "idx")
    store = EmbeddedStore(tmp_path / "store")
    idx = RetrievalIndexes(tmp_path / "idx", encoder=HashingEncoder(dim=32), data_dir=fixture_data_dir)
    yield store, idx, tmp_path / "idx"
    store.close()


def _bm25_content(d: Path) -> tuple:
    """What BM25 scores depend on: live rows, each row's terms and length, document frequencies."""
    from musicgraph.retrieval.incremental import IncrementalBM25

    bm = IncrementalBM25.load(d / "bm25inc")
    rows = bm.rows().tolist()
    return rows, [sorted(bm.doc_terms(r)) for r in rows], bm.doc_len[rows].tolist(), \
        {t: int(bm.df[i]) for t, i in bm.vocabulary.items() if bm.df[i]}


def _mtimes(d: Path) -> dict[str, float]:
    return {str(p.relative_to(d)): p.stat().st_mtime_ns for p in d.rglob("*") if p.is_file()}


def test_fresh_build_is_consistent(work):
    store, idx, _ = work
    rep = run_check(store, [idx])
    assert rep.ok and rep.issues == [] and "retrieval" in rep.checked


def test_corrupted_faiss_is_reported_and_only_dense_rebuilt(work):
    store, idx, d = work
    from musicgraph.retrieval.dense import DenseIndex

    dense = DenseIndex.load(d / "dense.faiss")
    live = np.flatnonzero(dense.labels >= 0)
    dense.labels[live[:3]] = -1  # three songs silently lost from FAISS
    dense.labels[live[3]] = 10_000  # and a vector labelled with a row that does not exist
    dense.save(d / "dense.faiss")
    before = _mtimes(d)
    bm25_before, catalog_before = _bm25_content(d), json.loads((d / "catalog.json").read_text())
    rep = run_check(store, [idx])
    kinds = {(i.component, i.kind) for i in rep.issues}
    assert ("dense", "missing") in kinds and ("dense", "orphan") in kinds
    assert {i.component for i in rep.issues} == {"dense"}
    missing = next(i for i in rep.issues if i.kind == "missing")
    assert len(missing.items) == 4
    fixed = run_check(store, [idx], repair=True)
    assert fixed.ok and fixed.remaining == []
    assert any("dense" in line for line in fixed.repaired["retrieval"])
    assert not any(line.startswith(("bm25", "emotion", "catalog")) for line in fixed.repaired["retrieval"])
    after = _mtimes(d)
    assert after["dense.faiss"] != before["dense.faiss"]
    # the other parts are written again with the bundle, with the same content
    assert _bm25_content(d) == bm25_before
    assert json.loads((d / "catalog.json").read_text()) == catalog_before
    dense = DenseIndex.load(d / "dense.faiss")
    assert dense.live_count == len(live)


def test_dimension_mismatch_and_bm25_orphans(work):
    store, idx, d = work
    from musicgraph.retrieval.incremental import IncrementalBM25

    bm = IncrementalBM25.load(d / "bm25inc")
    bm.add([(5000, ["ghost", "song"])])  # a document for a row the catalog does not have
    bm.save(d / "bm25inc")
    np.save(d / "dense.vectors.npy", np.zeros((3, 7), dtype=np.float32))  # wrong dimension
    rep = run_check(store, [idx])
    kinds = {(i.component, i.kind) for i in rep.issues}
    assert ("bm25", "orphan") in kinds and ("dense", "dimension") in kinds
    fixed = run_check(store, [idx], repair=True)
    assert fixed.ok, [i.message for i in fixed.remaining]
    assert IncrementalBM25.load(d / "bm25inc").search(["ghost"], 5) == []


def test_store_change_without_index_update_is_stale(work):
    store, idx, d = work
    from musicgraph.graph.catalog import CatalogEditor

    key = sorted(store.node_keys("Song"))[0]
    CatalogEditor(store).delete_songs([key])  # no indexes registered: they drift
    CatalogEditor(store).add_songs([{"artist": "Nobody Knows", "title": "Drift Away", "lyrics": "drift away now"}])
    rep = run_check(store, [idx])
    by = {i.kind: i for i in rep.issues if i.component == "catalog"}
    assert key in by["stale"].items and "nobody knows|drift away" in by["missing"].items
    fixed = run_check(store, [idx], repair=True)
    assert fixed.ok
    assert any(line.startswith("catalog: re-indexed 1 rows, removed 1") for line in fixed.repaired["retrieval"])


def test_graph_missing_lyrics_text_reported(tmp_path):
    from musicgraph.graph import EmbeddedStore

    store = EmbeddedStore(tmp_path / "s")
    store.upsert_nodes("Artist", [("a", {"name": "A"})])
    store.upsert_nodes("Song", [("a|x", {"title": "X", "lyrics_ref": "sha1:gone"})])
    store.upsert_edges("PERFORMED_BY", "Song", "Artist", [("a|x", "a", {"role": "main"})])
    issues = check_graph(store)
    assert [(i.component, i.kind, i.items) for i in issues] == [("graph", "missing", ["a|x"])]
    rep = run_check(store, [], repair=True)
    assert not rep.ok and rep.remaining[0].kind == "missing"  # no automatic fix for lost texts


def test_cli_check_reports_and_repairs(work, monkeypatch):
    from typer.testing import CliRunner

    import musicgraph.cli.catalog as cli_catalog
    from musicgraph.cli import app

    store, idx, d = work
    monkeypatch.setattr(cli_catalog, "derived_indexes", lambda index_dir=None, dense_encoder=None: [idx])
    monkeypatch.setattr(cli_catalog, "open_cli_store", lambda s=None: store.__class__(store.path))
    em = np.load(d / "emotion.npy")
    np.save(d / "emotion.npy", em[:-2])  # truncated emotion profiles
    r = CliRunner().invoke(app, ["check", "--json"])
    assert r.exit_code == 1, r.output
    out = json.loads(r.stdout)
    assert not out["ok"] and out["issues"][0]["component"] == "emotion"
    r = CliRunner().invoke(app, ["check", "--repair", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["ok"] and out["repaired"]["retrieval"] == ["emotion: recomputed profiles"]
    assert np.allclose(np.load(d / "emotion.npy"), em, equal_nan=True)


def test_issue_dict():
    i = Issue("dense", "missing", "x", items=[str(n) for n in range(50)], repair="dense")
    assert i.to_dict()["count"] == 50 and len(i.to_dict()["items"]) == 20


@pytest.mark.integration
def test_check_on_real_ingest(real_store, real_data_dir, tmp_path):
    """After the real ingest: BM25/emotion/catalog indexes (no dense: MiniLM over 31k songs is too slow
    for a test), corrupt BM25, check reports it, --repair rebuilds BM25 only."""
    from musicgraph.retrieval.incremental import IncrementalBM25, RetrievalIndexes
    from musicgraph.retrieval.index import build_indexes

    build_indexes(real_store, tmp_path / "idx", dense=False, data_dir=real_data_dir, progress=False)
    idx = RetrievalIndexes(tmp_path / "idx", data_dir=real_data_dir)
    assert run_check(real_store, [idx]).ok
    bm = IncrementalBM25.load(tmp_path / "idx" / "bm25inc")
    gone = bm.rows()[:10]
    bm.delete(gone)
    bm.save(tmp_path / "idx" / "bm25inc")
    emo_before = (tmp_path / "idx" / "emotion.npy").stat().st_mtime_ns
    rep = run_check(real_store, [idx])
    assert [(i.component, i.kind, len(i.items)) for i in rep.issues] == [("bm25", "missing", 10)]
    fixed = run_check(real_store, [idx], repair=True)
    assert fixed.ok and all(line.startswith("bm25") for line in fixed.repaired["retrieval"])
    assert (tmp_path / "idx" / "emotion.npy").stat().st_mtime_ns >= emo_before


# ---- read_index_file pauses the garbage collector while it reads, and always restores it

def test_the_collector_is_off_while_reading_and_back_on_after(tmp_path) -> None:
    path = tmp_path / "x.json"
    path.write_text(json.dumps([[1], [2]]))
    seen = []

    def read():
        seen.append(gc.isenabled())
        return json.loads(path.read_text())

    assert gc.isenabled()
    assert read_index_file(path, "catalog", read) == [[1], [2]]
    assert seen == [False] and gc.isenabled()
    path.write_text("{not json")
    with pytest.raises(IndexFileError):
        read_index_file(path, "catalog", read)
    assert gc.isenabled()  # restored after a failed read too


def test_nested_and_concurrent_pauses_end_with_the_last_one() -> None:
    started, release = threading.Event(), threading.Event()

    def other() -> None:
        with gc_paused():
            started.set()
            release.wait(10)

    t = threading.Thread(target=other)
    with gc_paused():
        t.start()
        started.wait(10)
        with gc_paused():
            assert not gc.isenabled()
    assert not gc.isenabled()  # the other thread is still reading
    release.set()
    t.join(10)
    assert gc.isenabled()


def test_a_collector_switched_off_before_stays_off() -> None:
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
