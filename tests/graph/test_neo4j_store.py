"""Neo4jStore specifics: validation, batch atomicity, texts/meta, search helpers, connection errors."""

from __future__ import annotations

import pytest
from test_store_parity import neo4j_session_store

from musicgraph.graph.schema import SchemaError
from musicgraph.graph.store import MissingNodeError, StoreError


def test_unreachable_server_is_a_clear_error() -> None:
    from musicgraph.graph.neo4j_store import Neo4jStore

    with pytest.raises(StoreError, match=r"(?s)cannot reach Neo4j at bolt://127.0.0.1:1.*musicgraph neo4j start"):
        Neo4jStore("bolt://127.0.0.1:1")


@pytest.fixture(scope="module")
def store(request):
    s = neo4j_session_store(request)
    s.claim_for_tests()
    yield s
    s.close()




@pytest.mark.neo4j
def test_names_are_validated_never_formatted(store) -> None:
    with pytest.raises(SchemaError):
        store.upsert_nodes("Artist`) DETACH DELETE (n", [("x", {})])
    with pytest.raises(SchemaError):
        store.upsert_edges("LIKES", "User", "Artist", [])
    with pytest.raises(SchemaError):
        store.upsert_edges("LISTENED_TO", "Artist", "User", [])
    with pytest.raises(ValueError, match="invalid property name"):
        store.upsert_nodes("Artist", [("x", {"bad name": 1})])
    with pytest.raises(ValueError, match="reserved"):
        store.upsert_nodes("Artist", [("x", {"uid": "other"})])
    with pytest.raises(ValueError, match="non-empty string"):
        store.upsert_nodes("Artist", [("", {})])
    weird = "o'brien\") MATCH (n) DETACH DELETE n //"
    store.upsert_nodes("Artist", [(weird, {"name": weird})])
    assert store.get_node("Artist", weird).props == {"name": weird}
    store.delete_nodes("Artist", [weird])


@pytest.mark.neo4j
def test_missing_endpoint_writes_nothing_of_the_batch(store) -> None:
    store.upsert_nodes("User", [("t:1", {"source": "t"})])
    store.upsert_nodes("Artist", [("t a", {"name": "A"})])
    before = store.count_edges()["LISTENED_TO"]
    with pytest.raises(MissingNodeError, match="Artist:t missing"):
        store.upsert_edges("LISTENED_TO", "User", "Artist", [("t:1", "t a", {"weight": 1}), ("t:1", "t missing", {})])
    assert store.count_edges()["LISTENED_TO"] == before
    store.delete_nodes("User", ["t:1"])
    store.delete_nodes("Artist", ["t a"])


@pytest.mark.neo4j
def test_small_batches_many_transactions_and_version(store) -> None:
    from musicgraph.graph.neo4j_store import Neo4jStore

    small = Neo4jStore(store.uri, batch_size=7, apply_schema=False)
    v0 = int(small.version())
    assert small.upsert_nodes("Tag", [(f"batch {i}", {"name": f"B{i}", "n": [i]}) for i in range(30)]) == 30
    assert int(small.version()) == v0 + 5  # ceil(30 / 7) transactions
    assert len(small.get_nodes("Tag", [f"batch {i}" for i in range(30)])) == 30
    assert small.delete_nodes("Tag", [f"batch {i}" for i in range(30)]) == 30
    small.close()


@pytest.mark.neo4j
def test_texts_meta_fulltext_vector(store) -> None:
    store.put_texts({"ref:1": "moonlight over the quiet river", "ref:2": "engines roaring down the highway"})
    assert store.get_texts(["ref:1", "nope"]) == {"ref:1": "moonlight over the quiet river"}
    hits = store.fulltext("lyrics_text", "river")
    assert [n.key for n, _ in hits] == ["ref:1"]
    store.set_meta("ingest:stage:x", "fp1")
    store.set_meta("ingest:stage:x", "fp2")
    assert store.get_meta("ingest:stage:x") == "fp2" and store.get_meta("absent") is None
    store.delete_meta("ingest:")
    assert store.get_meta("ingest:stage:x") is None and store.get_meta("version") is not None

    dim = store.embedding_dim
    store.upsert_nodes("Song", [("v|a", {"title": "A"}), ("v|b", {"title": "B"}), ("v|c", {"title": "C"})])
    unit = lambda i: [1.0 if j == i else 0.0 for j in range(dim)]  # noqa: E731
    near = [0.9 if j == 0 else (0.1 if j == 1 else 0.0) for j in range(dim)]
    assert store.set_embeddings("Song", {"v|a": unit(0), "v|b": near, "v|c": unit(2)}) == 3
    got = store.vector_search("Song", unit(0), k=2)
    assert [n.key for n, _ in got] == ["v|a", "v|b"] and got[0][1] >= got[1][1]
    assert "embedding" not in store.get_node("Song", "v|a").props
    with pytest.raises(ValueError, match="dimensions"):
        store.set_embeddings("Song", {"v|a": [1.0, 2.0]})
    store.delete_nodes("Song", ["v|a", "v|b", "v|c"])
