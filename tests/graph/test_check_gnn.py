"""GNN embedding index as a derived index: catalog changes fold new nodes in, deletes tombstone them,
``musicgraph check`` reports drift (missing / orphan ids, count, dimension) and ``--repair`` fixes it.

Fixture ingest + invented embeddings (random vectors per User/Artist/Song written with
``write_embeddings``), so no training is needed here; the fold-in quality itself is tested in
tests/gnn/test_inductive.py.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

pytest.importorskip("faiss")

from musicgraph.gnn.derived_index import GnnEmbeddings  # noqa: E402
from musicgraph.gnn.embed import GnnIndex, write_embeddings  # noqa: E402
from musicgraph.graph.catalog import CatalogEditor  # noqa: E402
from musicgraph.graph.check import run_check  # noqa: E402
from musicgraph.graph.schema import NodeRef  # noqa: E402

DIM = 16
LABELS = ("User", "Artist", "Song")


@pytest.fixture(scope="module")
def built(tmp_path_factory, fixture_data_dir):
    from musicgraph.graph import EmbeddedStore
    from musicgraph.graph.ingest import ingest

    base = tmp_path_factory.mktemp("gnn-check")
    store = EmbeddedStore(base / "store")
    ingest(store, fixture_data_dir, progress=False)
    rng = np.random.default_rng(0)
    emb = {}
    for lab in LABELS:
        keys = sorted(store.node_keys(lab))
        emb[lab] = (keys, rng.normal(size=(len(keys), DIM)).astype(np.float32))
    write_embeddings(store, emb, out_dir=base / "idx", progress=False)
    store.close()
    return base


@pytest.fixture()
def work(built, tmp_path):
    from musicgraph.graph import EmbeddedStore

    shutil.copytree(built / "store", tmp_path / "store")
    shutil.copytree(built / "idx", tmp_path / "idx")
    store = EmbeddedStore(tmp_path / "store")
    yield store, GnnEmbeddings(tmp_path / "idx"), tmp_path / "idx"
    store.close()


def _some_artist(store) -> str:
    return max(store.node_keys("Artist"), key=lambda k: len(store.neighbors("Artist", k)))


def test_fresh_index_is_consistent(work):
    store, gnn, _ = work
    rep = run_check(store, [gnn])
    assert rep.ok and rep.issues == [] and "gnn" in rep.checked


def test_added_song_is_folded_in_and_reachable(work):
    store, gnn, d = work
    artist = _some_artist(store)
    name = store.get_node("Artist", artist).props.get("name", artist)
    cs = CatalogEditor(store, [gnn]).add_songs([{"artist": name, "title": "A Brand New Tune", "genres": ["rock"]}])
    key = next(iter(cs.added["Song"]))
    assert cs.indexes["gnn"]["upserted"] >= 1
    idx = GnnIndex.load(d)
    vec = idx.vector(NodeRef("Song", key))
    assert vec is not None and vec.shape == (DIM,)
    # the only embedded neighbour is the artist: the fold-in vector points at it
    a = idx.vector(NodeRef("Artist", artist))
    assert float(vec @ a) == pytest.approx(1.0, abs=1e-5)
    hits = idx.similar([NodeRef("Song", key)], k=1, label="Artist")
    assert hits[0][0] == NodeRef("Artist", artist)
    assert len(store.get_node("Song", key).props["embedding"]) == DIM
    assert run_check(store, [gnn]).ok


def test_new_user_from_listens_and_new_artist_chain(work):
    store, gnn, d = work
    artists = sorted(store.node_keys("Artist"))[:3]
    names = [store.get_node("Artist", a).props.get("name", a) for a in artists]
    ed = CatalogEditor(store, [gnn])
    ed.apply_records("add", [
        {"type": "artist", "name": "Zz Newcomer"},
        {"type": "song", "artist": "Zz Newcomer", "title": "Debut"},
        {"type": "listen", "user": "catalog:newbie", "artist": names[0], "weight": 10},
        {"type": "listen", "user": "catalog:newbie", "artist": names[1], "weight": 5},
        {"type": "listen", "user": "catalog:newbie", "artist": "Zz Newcomer", "weight": 3},
    ])
    idx = GnnIndex.load(d)
    u = idx.vector(NodeRef("User", "catalog:newbie"))
    assert u is not None
    want = idx.vector(NodeRef("Artist", artists[0])) + idx.vector(NodeRef("Artist", artists[1]))
    # the user's vector leans towards both listened artists far more than a random vector would
    assert float(u @ idx.vector(NodeRef("Artist", artists[0]))) > 0.3
    assert float(u @ (want / np.linalg.norm(want))) > 0.5
    # the new artist had only new neighbours: it is folded in after the user, the song after it
    new_artist = next(k for k in store.node_keys("Artist") if "newcomer" in k)
    assert idx.vector(NodeRef("Artist", new_artist)) is not None
    song = next(k for k in store.node_keys("Song") if k.endswith("|debut"))
    assert idx.vector(NodeRef("Song", song)) is not None
    assert run_check(store, [gnn]).ok


def test_deleted_song_is_tombstoned_and_never_returned(work):
    store, gnn, d = work
    key = sorted(store.node_keys("Song"))[0]
    before = GnnIndex.load(d)
    n = len(before)
    CatalogEditor(store, [gnn]).delete_songs([key])
    idx = GnnIndex.load(d)
    assert idx.vector(NodeRef("Song", key)) is None and len(idx) <= n - 1
    assert idx.tombstones >= 1 or idx.index.ntotal == len(idx)  # compacted or tombstoned
    q = before.vector(NodeRef("Song", key))
    assert all(r != NodeRef("Song", key) for r, _ in idx.search(q, k=len(idx))[0])
    assert run_check(store, [gnn]).ok


def test_check_reports_drift_and_repair_fills_inductively(work):
    store, gnn, d = work
    artist = _some_artist(store)
    name = store.get_node("Artist", artist).props.get("name", artist)
    gone = sorted(store.node_keys("Song"))[1]
    CatalogEditor(store).add_songs([{"artist": name, "title": "Unindexed Song"}])  # no index registered
    CatalogEditor(store).delete_songs([gone])
    rep = run_check(store, [gnn])
    by = {i.kind: i for i in rep.issues if i.component == "gnn"}
    assert set(by) == {"missing", "orphan"}
    assert any(i.endswith("|unindexed song") for i in by["missing"].items)
    assert by["orphan"].items == [f"Song:{gone}"]
    fixed = run_check(store, [gnn], repair=True)
    assert fixed.ok, [i.message for i in fixed.remaining]
    assert any("folded in 1 missing" in line for line in fixed.repaired["gnn"])
    assert any("tombstoned 1 orphan" in line for line in fixed.repaired["gnn"])
    idx = GnnIndex.load(d)
    new = next(k for k in store.node_keys("Song") if k.endswith("|unindexed song"))
    assert float(idx.vector(NodeRef("Song", new)) @ idx.vector(NodeRef("Artist", artist))) == pytest.approx(1.0, abs=1e-5)


def test_count_and_dimension_drift_rebuild_from_store(work):
    store, gnn, d = work
    ids = json.loads((d / "gnn.ids.json").read_text())
    (d / "gnn.ids.json").write_text(json.dumps(ids[:-5]))  # id map lost entries
    rep = run_check(store, [gnn])
    kinds = {i.kind for i in rep.issues if i.component == "gnn"}
    assert "count" in kinds
    fixed = run_check(store, [gnn], repair=True)
    assert fixed.ok, [i.message for i in fixed.remaining]
    assert any("rebuilt the index" in line for line in fixed.repaired["gnn"])
    assert len(GnnIndex.load(d)) == len(ids)
    # a store property of another width than the index
    key = sorted(store.node_keys("User"))[0]
    from musicgraph.gnn.derived_index import _write_property

    _write_property(store, {NodeRef("User", key): np.arange(1, DIM + 4, dtype=np.float32)})
    rep = run_check(store, [gnn])
    dim = [i for i in rep.issues if i.kind == "dimension"]
    assert dim and str(DIM) in dim[0].message


def test_gnn_index_upsert_delete_compact_roundtrip(tmp_path):
    from musicgraph.gnn.embed import build_index

    rng = np.random.default_rng(3)
    vecs = rng.normal(size=(8, 4)).astype(np.float32)
    build_index(vecs, [["Artist", f"a{i}"] for i in range(8)], tmp_path)
    idx = GnnIndex.load(tmp_path)
    idx.upsert([NodeRef("Artist", "a0")], -vecs[:1])  # replace: old vector becomes a tombstone
    assert idx.tombstones == 1 and len(idx) == 8
    hit = idx.search(-vecs[0], k=1)[0][0]
    assert hit[0] == NodeRef("Artist", "a0") and hit[1] == pytest.approx(1.0, abs=1e-5)
    assert idx.delete([NodeRef("Artist", "a1"), NodeRef("Artist", "zz")]) == 1
    idx.save(tmp_path)
    again = GnnIndex.load(tmp_path)
    assert len(again) == 7 and again.vector(NodeRef("Artist", "a1")) is None
    for i in range(2, 6):
        again.delete([NodeRef("Artist", f"a{i}")])
    again.save(tmp_path)  # tombstones > 25%: compacted
    final = GnnIndex.load(tmp_path)
    assert final.tombstones == 0 and final.index.ntotal == len(final) == 3
    with pytest.raises(ValueError, match="dimension"):
        final.upsert([NodeRef("Artist", "x")], np.ones((1, 5), np.float32))


def test_cli_derived_indexes_include_gnn(work):
    from musicgraph.cli.catalog import derived_indexes

    _store, _gnn, d = work
    names = [i.name for i in derived_indexes(d)]
    assert "gnn" in names
    (d / "gnn.faiss").unlink()
    assert "gnn" not in [i.name for i in derived_indexes(d)]
