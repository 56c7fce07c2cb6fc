"""The GNN's graph source: embedded store, Neo4j (same interactions and HeteroData as the embedded store),
personal histories left out of training, and `gnn train` on Neo4j followed by `gnn embed` into Neo4j's
vector index (re-embedding replaces the vectors)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from musicgraph.gnn.source import EmbeddedSource, HetrecFilesSource, Neo4jSource, open_source
from musicgraph.graph.schema import LABELS, REL_TYPES


def add_personal(store) -> None:
    store.upsert_nodes("User", [("me:x", {"source": "me", "source_id": "x", "import_state": "complete"})])
    store.upsert_edges("LISTENED_TO", "User", "Artist", [("me:x", "artist 01", {"weight": 40.0, "plays": 40})])
    store.upsert_edges("LISTENED_TO", "User", "Song", [("me:x", "artist 01|song 0", {"weight": 9.0, "plays": 9})])


def copy_store(src, dst) -> None:
    for label in LABELS:
        dst.upsert_nodes(label, [(n.key, n.props) for n in src.iter_nodes(label)])
    for rel in REL_TYPES:
        by_pair: dict[tuple[str, str], list] = {}
        for e in src.iter_edges(rel):
            by_pair.setdefault((e.src.label, e.dst.label), []).append((e.src.key, e.dst.key, e.props))
        for (sl, dl), rows in by_pair.items():
            dst.upsert_edges(rel, sl, dl, rows)


def test_open_source_picks_the_configured_one(store, tmp_path) -> None:
    from musicgraph.config import Settings

    s = Settings(home=tmp_path / "h", data_dir=tmp_path / "d")
    assert isinstance(open_source("hetrec", settings=s), HetrecFilesSource)
    with open_source("store", store_dir=store.path, settings=s) as src:
        assert isinstance(src, EmbeddedSource)
    with pytest.raises(FileNotFoundError, match="no embedded store"):
        open_source("store", settings=s)
    with pytest.raises(ValueError, match="unknown backend"):
        open_source("store", backend="oracle", settings=s)


def test_personal_histories_do_not_change_what_trains(store, tmp_path) -> None:
    from musicgraph.gnn.data import tables_from_store

    src = EmbeddedSource(store, None, own=False)
    before_i, before_t = src.interactions(), tables_from_store(store)
    add_personal(store)
    after_i, after_t = src.interactions(), tables_from_store(store)
    assert list(after_i.user_keys) == list(before_i.user_keys) and np.array_equal(after_i.weight, before_i.weight)
    assert {t: list(k) for t, k in after_t.keys.items()} == {t: list(k) for t, k in before_t.keys.items()}
    assert after_t.edges.keys() == before_t.edges.keys()
    for et, arrays in before_t.edges.items():
        assert all(np.array_equal(a, b) for a, b in zip(arrays, after_t.edges[et], strict=True)), et


@pytest.mark.neo4j
def test_neo4j_source_equals_the_embedded_source(store, request, tmp_path) -> None:
    neo = request.getfixturevalue("neo4j_tests").claim(request)
    try:
        add_personal(store)
        copy_store(store, neo)
        a, b = EmbeddedSource(store, None, own=False), Neo4jSource(neo, None, own=False)
        ia, ib = a.interactions(), b.interactions()
        assert list(ia.user_keys) == list(ib.user_keys) and list(ia.item_keys) == list(ib.item_keys)
        assert np.array_equal(ia.user, ib.user) and np.array_equal(ia.item, ib.item) and np.array_equal(ia.weight, ib.weight)
        da, ka = a.hetero()
        db, kb = b.hetero()
        assert {t: list(k) for t, k in ka.items()} == {t: list(k) for t, k in kb.items()}
        assert not [k for k in ka["User"] if str(k).startswith("me:")]
        assert sorted(da.edge_types) == sorted(db.edge_types)
        for et in da.edge_types:
            assert np.array_equal(da[et].edge_index.numpy(), db[et].edge_index.numpy()), et
    finally:
        neo.close()


@pytest.mark.neo4j
def test_gnn_train_from_neo4j_then_embed_into_its_vector_index(store, request, tmp_path, monkeypatch) -> None:
    from musicgraph.cli import app
    from musicgraph.config import reset_settings
    from musicgraph.gnn.embed import load_embeddings

    tests_db = request.getfixturevalue("neo4j_tests")
    neo = tests_db.claim(request)
    monkeypatch.setenv("MUSICGRAPH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MUSICGRAPH_NEO4J_URI", neo.uri)
    reset_settings()
    runner = CliRunner()
    try:
        copy_store(store, neo)
        runs = []
        for seed in (1, 2):
            out = tmp_path / f"run{seed}"
            res = runner.invoke(app, ["gnn", "train", "--model", "lightgcn", "--dim", "8", "--epochs", "2",
                                      "--eval-every", "1", "--batch-size", "64", "--seed", str(seed), "--out", str(out),
                                      "--no-progress", "--threads", "1"])
            assert res.exit_code == 0, res.output
            assert json.loads((out / "config.json").read_text())["backend"] is None  # the configured store: Neo4j
            res = runner.invoke(app, ["gnn", "embed", "--run", str(out)])
            assert res.exit_code == 0, res.output
            report = json.loads(res.stdout[res.stdout.index("{"):])
            assert report["store"].startswith("Neo4jStore(") and report["nodes"] == {"Artist": 40, "User": 24}
            runs.append(load_embeddings(out))
            keys, vecs = runs[-1]["Artist"]
            got = neo.get_vectors("Artist", keys)
            assert np.allclose(np.array([got[k] for k in keys]), vecs, atol=1e-6)  # replaced, not unioned
            assert neo.vector_index_dim("Artist") == 8
            hit = neo.vector_search("Artist", vecs[keys.index("artist 03")], k=1)
            assert [n.key for n, _ in hit] == ["artist 03"]
        assert not np.allclose(runs[0]["Artist"][1], runs[1]["Artist"][1])
    finally:
        neo.ensure_vector_index("Artist", neo.embedding_dim)
        neo.ensure_vector_index("Song", neo.embedding_dim)
        neo.close()
        reset_settings()
