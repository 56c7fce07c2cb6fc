from __future__ import annotations

import pytest

from musicgraph.graph import EmbeddedStore, MissingNodeError, SchemaError
from musicgraph.graph.store import merge_props


@pytest.fixture
def store(tmp_path):
    s = EmbeddedStore(tmp_path / "s", batch_size=3)
    yield s
    s.close()


def test_merge_rules():
    old = {"name": "A", "aliases": ["x"], "year": 1999}
    new = {"name": None, "aliases": ["y", "x"], "year": 2001, "genre": "rock"}
    assert merge_props(old, new) == {"name": "A", "aliases": ["x", "y"], "year": 2001, "genre": "rock"}


def test_upsert_is_idempotent_and_merges(store):
    rows = [(f"a{i}", {"name": f"A{i}", "aliases": [f"A{i}"]}) for i in range(10)]
    store.upsert_nodes("Artist", rows)
    v1 = store.version()
    store.upsert_nodes("Artist", rows)
    assert store.count_nodes()["Artist"] == 10
    assert store.version() != v1  # every write bumps the version
    store.upsert_nodes("Artist", [("a1", {"aliases": ["Alias"], "name": None})])
    assert store.get_node("Artist", "a1").props == {"name": "A1", "aliases": ["A1", "Alias"]}


def test_duplicate_keys_in_one_batch_merge(store):
    store.upsert_nodes("Tag", [("rock", {"sources": ["a"]}), ("rock", {"sources": ["b"]})])
    assert store.get_node("Tag", "rock").props == {"sources": ["a", "b"]}


def test_edges_require_endpoints_and_write_nothing_of_a_bad_batch(store):
    store.upsert_nodes("User", [("u1", {}), ("u2", {})])
    store.upsert_nodes("Artist", [("a", {})])
    with pytest.raises(MissingNodeError) as err:
        store.upsert_edges("LISTENED_TO", "User", "Artist", [("u1", "a", {"weight": 1}), ("u1", "zzz", {})])
    assert "Artist:zzz" in str(err.value)
    assert store.count_edges()["LISTENED_TO"] == 0
    store.upsert_edges("LISTENED_TO", "User", "Artist", [("u1", "a", {"weight": 3}), ("u2", "a", {"weight": 1})])
    store.upsert_edges("LISTENED_TO", "User", "Artist", [("u1", "a", {"weight": 5})])
    assert store.count_edges()["LISTENED_TO"] == 2
    (edge, node), = store.neighbors("User", "u1", direction="out")
    assert edge.props == {"weight": 5} and node.key == "a"
    assert {n.key for _, n in store.neighbors("Artist", "a", direction="in")} == {"u1", "u2"}


def test_schema_is_enforced(store):
    with pytest.raises(SchemaError):
        store.upsert_nodes("Robot", [("r", {})])
    store.upsert_nodes("User", [("u", {})])
    store.upsert_nodes("Tag", [("t", {})])
    with pytest.raises(SchemaError):
        store.upsert_edges("LISTENED_TO", "User", "Tag", [("u", "t", {})])
    with pytest.raises(ValueError, match="invalid property name"):
        store.upsert_nodes("User", [("u", {"bad name; DROP": 1})])


def test_delete_leaves_no_orphans(store):
    store.upsert_nodes("Song", [("s", {})])
    store.upsert_nodes("Artist", [("a", {}), ("b", {})])
    store.upsert_edges("PERFORMED_BY", "Song", "Artist", [("s", "a", {}), ("s", "b", {})])
    assert store.delete_nodes("Artist", ["a"]) == 1
    assert store.count_edges()["PERFORMED_BY"] == 1
    assert store.delete_edges("PERFORMED_BY", "Song", "Artist", [("s", "b")]) == 1
    assert store.count_edges()["PERFORMED_BY"] == 0


def test_persisted_and_reopened(tmp_path):
    path = tmp_path / "p"
    with EmbeddedStore(path) as s:
        s.upsert_nodes("Mood", [("sad", {"name": "sad"})])
        s.put_texts({"sha1:x": "some words"})
        s.set_meta("k", "v")
    with EmbeddedStore(path) as s:
        assert s.get_node("Mood", "sad").props["name"] == "sad"
        assert s.get_texts(["sha1:x", "nope"]) == {"sha1:x": "some words"}
        assert s.get_meta("k") == "v"


def test_projection_is_cached_and_refreshed(store):
    store.upsert_nodes("User", [("u1", {}), ("u2", {})])
    store.upsert_nodes("Artist", [("b", {"name": "B"}), ("a", {"name": "A"})])
    store.upsert_edges("LISTENED_TO", "User", "Artist", [("u1", "a", {"weight": 2.0})])
    p1 = store.projection()
    assert store.projection() is p1
    ia, iu = p1.index("Artist", "a"), p1.index("User", "u1")
    assert p1.matrices["LISTENED_TO"][iu, ia] == 2.0
    assert p1.label_of(ia) == "Artist" and p1.names[ia] == "A"
    store.upsert_edges("LISTENED_TO", "User", "Artist", [("u2", "b", {})])
    p2 = store.projection()
    assert p2 is not p1 and p2.matrices["LISTENED_TO"].nnz == 2
    # a fresh process reads the cache from disk
    again = EmbeddedStore(store.path)
    p3 = again.projection()
    assert p3.version == p2.version and (p3.matrices["LISTENED_TO"] != p2.matrices["LISTENED_TO"]).nnz == 0


def test_to_networkx(store):
    store.upsert_nodes("Song", [("s", {"title": "S"})])
    store.upsert_nodes("Artist", [("a", {"name": "A"})])
    store.upsert_edges("PERFORMED_BY", "Song", "Artist", [("s", "a", {"role": "main"})])
    g = store.to_networkx()
    assert g.has_edge("Song:s", "Artist:a")
    assert g.nodes["Song:s"]["title"] == "S"


# ------------------------------------------------------------------ transactions
def test_transaction_commits_all_writes_with_one_version_bump(tmp_path):
    store = EmbeddedStore(tmp_path / "s")
    before = int(store.version())
    with store.transaction():
        store.upsert_nodes("Artist", [("a", {"name": "A"})])
        store.upsert_nodes("Song", [("a|x", {"title": "X"})])
        store.upsert_edges("PERFORMED_BY", "Song", "Artist", [("a|x", "a", {})])
        assert store.get_node("Song", "a|x") is not None  # visible inside the block
    assert int(store.version()) == before + 1
    reopened = EmbeddedStore(tmp_path / "s")
    assert reopened.count_nodes()["Song"] == 1 and reopened.count_edges()["PERFORMED_BY"] == 1


def test_transaction_rolls_everything_back_when_the_block_raises(tmp_path):
    store = EmbeddedStore(tmp_path / "s")
    store.upsert_nodes("Artist", [("a", {"name": "A"})])
    before = store.version()
    with pytest.raises(RuntimeError, match="boom"):
        with store.transaction():
            store.upsert_nodes("Song", [("a|x", {"title": "X"})])
            store.set_meta("k", "v")
            raise RuntimeError("boom")
    assert store.version() == before and store.get_node("Song", "a|x") is None and store.get_meta("k") is None
    # the store still takes writes afterwards
    store.upsert_nodes("Song", [("a|y", {"title": "Y"})])
    assert store.get_node("Song", "a|y") is not None


def test_write_batches_come_from_one_chunker():
    from musicgraph.graph.store import chunked

    assert list(chunked(iter(range(7)), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(chunked([], 3)) == [] and list(chunked("ab", 5)) == [["a", "b"]]
