"""Index damage (issue 15): every unreadable index file is an error that names it and suggests
``musicgraph check --repair``; ``check`` reports it and ``--repair`` restores results equal to the
undamaged index. A deleted ``dense.faiss`` is rebuilt from ``dense.vectors.npy`` (retrieval warns meanwhile),
a store that went backwards is flagged, and an interrupted update is recovered."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

import musicgraph
from musicgraph.graph.check import run_check
from musicgraph.retrieval.catalog import IndexFileError
from musicgraph.retrieval.encoder import HashingEncoder

QUERIES = ("sad songs", "party dance", "metal shout")
#: every file an index directory holds after a build and an incremental update
FILES = ["manifest.json", "catalog.json", "features.npy", "alive.npy", "estimated.npy", "explicit.npy",
         "emotion.npy", "emotion_words.json", "bm25inc/meta.json", "bm25inc/terms.json", "bm25inc/segment-0.npz",
         "bm25inc/segment-1.npz", "dense.faiss", "dense.vectors.npy", "dense.labels.npy"]


@pytest.fixture(scope="module")
def built(tmp_path_factory, fixture_data_dir):
    """The fixture data ingested, every index built (dense: hashing encoder, flat), then one catalog change
    applied incrementally (so BM25 has two segments)."""
    from musicgraph.graph import EmbeddedStore
    from musicgraph.graph.catalog import CatalogEditor
    from musicgraph.graph.ingest import ingest
    from musicgraph.retrieval.incremental import RetrievalIndexes
    from musicgraph.retrieval.index import build_indexes

    base = tmp_path_factory.mktemp("damage")
    store = EmbeddedStore(base / "store")
    ingest(store, fixture_data_dir, progress=False)
    build_indexes(store, base / "idx", encoder=HashingEncoder(dim=32), data_dir=fixture_data_dir, progress=False,
                  dense_kind="flat")
    idx = RetrievalIndexes(base / "idx", encoder=HashingEncoder(dim=32), data_dir=fixture_data_dir)
    CatalogEditor(store, [idx]).add_songs([{"artist": "Soft Voice", "title": "Rain Letter", "genres": ["pop"],
                                            "lyrics": "sad rain on the window, tears tonight"}])
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


def results(store, index_dir: Path) -> list[list[str]]:
    """Top-5 song keys per query through the public API (dense off: the query encoder is MiniLM)."""
    return [[r.id for r in musicgraph.retrieve(q, k=5, store=store, index_dir=index_dir, use_dense=False)]
            for q in QUERIES]


def dense_results(index_dir: Path) -> list[list[int]]:
    from musicgraph.retrieval.index import IndexBundle

    bundle = IndexBundle.load(index_dir)
    enc = HashingEncoder(dim=32)
    out = []
    for q in QUERIES:
        _, rows = bundle.dense.search(enc.encode([q]), 5)
        out.append(rows[0].tolist())
    return out


def damage(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: max(1, len(data) // 2)])  # truncated, as a crash or a full disk leaves it


def test_every_file_is_listed(built) -> None:
    on_disk = {str(p.relative_to(built / "idx")) for p in (built / "idx").rglob("*")
               if p.is_file() and p.name != ".lock" and "bm25/" not in str(p.relative_to(built / "idx"))}
    assert on_disk == {*FILES, "catalog.keys.json"}


def test_damaged_copy_of_the_row_keys_is_reported_and_rewritten(work) -> None:
    store, idx, d = work
    damage(d / "catalog.keys.json")
    rep = run_check(store, [idx])
    assert any(str(d / "catalog.keys.json") in i.message for i in rep.issues)
    assert run_check(store, [idx], repair=True).ok
    assert run_check(store, [idx]).ok


@pytest.mark.parametrize("name", FILES)
def test_unreadable_file_is_named_reported_and_repaired(work, name) -> None:
    store, idx, d = work
    shutil.copytree(d, d.with_name("pristine"))  # results of the undamaged index, from a copy (the API
    want, want_dense = results(store, d.with_name("pristine")), dense_results(d)  # keeps a loaded retriever)
    damage(d / name)
    with pytest.raises(IndexFileError) as info:  # the public API names the file
        results(store, d)
    assert str(d / name) in str(info.value) and "musicgraph check --repair" in str(info.value)
    rep = run_check(store, [idx])
    assert not rep.ok and any(str(d / name) in i.message for i in rep.issues), [i.message for i in rep.issues]
    fixed = run_check(store, [idx], repair=True)
    assert fixed.ok, [i.message for i in fixed.remaining]
    assert results(store, d) == want
    assert dense_results(d) == want_dense


def test_cli_names_the_unreadable_file(work, monkeypatch, tmp_path) -> None:
    from typer.testing import CliRunner

    import musicgraph.cli.catalog as cli_catalog
    from musicgraph.cli import app

    store, idx, d = work
    damage(d / "bm25inc" / "segment-0.npz")
    monkeypatch.setattr(cli_catalog, "derived_indexes", lambda index_dir=None, dense_encoder=None: [idx])
    monkeypatch.setattr(cli_catalog, "open_cli_store", lambda s=None: store.__class__(store.path))
    r = CliRunner().invoke(app, ["check", "--json"])
    assert r.exit_code == 1
    import json

    assert any(str(d / "bm25inc" / "segment-0.npz") in i["message"] for i in json.loads(r.stdout)["issues"])
    r = CliRunner().invoke(app, ["check", "--repair"])
    assert r.exit_code == 0, r.output
    assert "all consistent after repair" in r.output


def test_deleted_faiss_index_warns_and_is_rebuilt_from_stored_vectors(work, caplog) -> None:
    store, idx, d = work
    want_dense = dense_results(d)
    (d / "dense.faiss").unlink()  # (no retriever was loaded for d yet)
    caplog.set_level(logging.WARNING)
    results(store, d)  # still answers...
    assert any("dense.faiss is missing: retrieval runs without the dense" in r.getMessage() for r in caplog.records)
    rep = run_check(store, [idx])
    assert [(i.component, i.kind) for i in rep.issues] == [("dense", "missing")]
    fixed = run_check(store, [idx], repair=True)
    assert fixed.ok, [i.message for i in fixed.remaining]
    assert any("encoded 0" in line for line in fixed.repaired["retrieval"])  # from the stored vectors
    assert dense_results(d) == want_dense


def test_store_that_went_backwards_is_flagged(work, tmp_path) -> None:
    from musicgraph.graph import EmbeddedStore
    from musicgraph.graph.catalog import CatalogEditor

    store, idx, d = work
    store.close()
    shutil.copytree(store.path, tmp_path / "store-before")
    live = EmbeddedStore(store.path)
    CatalogEditor(live, [idx]).add_songs([{"artist": "Soft Voice", "title": "Lost Write", "lyrics": "gone"}])
    live.close()
    for f in Path(store.path).glob("graph.sqlite*"):  # the store loses its recent writes (WAL and all)
        f.unlink()
    for f in (tmp_path / "store-before").glob("graph.sqlite*"):
        shutil.copy(f, Path(store.path) / f.name)
    back = EmbeddedStore(store.path)
    try:
        rep = run_check(back, [idx])
        kinds = {(i.component, i.kind) for i in rep.issues}
        assert ("store", "backwards") in kinds and ("catalog", "stale") in kinds
        fixed = run_check(back, [idx], repair=True)
        assert fixed.ok, [i.message for i in fixed.remaining]
        assert "soft voice|lost write" not in {r.id for q in QUERIES for r in musicgraph.retrieve(
            q, k=50, store=back, index_dir=d, use_dense=False)}
    finally:
        back.close()


def test_interrupted_update_is_refused_then_recovered(work, monkeypatch) -> None:
    from musicgraph.graph.catalog import CatalogEditor
    from musicgraph.retrieval.incremental import IncrementalBM25

    store, idx, d = work
    change = [{"artist": "Soft Voice", "title": "Half Written", "lyrics": "party dance all night"}]

    def crash(self, directory):  # the process dies between the catalog and the BM25 files
        raise SystemExit("killed")

    monkeypatch.setattr(IncrementalBM25, "save", crash)
    with pytest.raises(SystemExit):
        CatalogEditor(store, [idx]).add_songs(change)
    monkeypatch.undo()
    assert (d / "update.pending").is_file()
    with pytest.raises(IndexFileError, match="interrupted.*check --repair"):
        results(store, d)
    assert ("retrieval", "interrupted") in {(i.component, i.kind) for i in run_check(store, [idx]).issues}
    # the next catalog command recovers every part from the store, then check is clean
    CatalogEditor(store, [idx]).add_songs([{"artist": "Soft Voice", "title": "Next One"}])
    assert not (d / "update.pending").exists()
    assert run_check(store, [idx]).ok
    got = results(store, d)
    assert "soft voice|half written" in {r.id for r in musicgraph.retrieve("party dance", k=50, store=store,
                                                                             index_dir=d, use_dense=False)}
    assert len(got) == len(QUERIES)
    assert np.isfinite(np.asarray(dense_results(d))).all()
