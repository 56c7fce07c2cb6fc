"""Grounded answers through the real hybrid retriever (issue 15): the fixture data ingested into an
embedded store with its retrieval indexes built, asked through the public ``musicgraph.ask`` (not the
``FakeRetriever`` of the other RAG tests)."""

from __future__ import annotations

import pytest

import musicgraph
from musicgraph.rag.generators import clear_cache


@pytest.fixture(scope="module")
def real(tmp_path_factory, fixture_data_dir):
    """A home with the fixture data and its indexes (no dense index: the MiniLM encoder is not needed)."""
    from musicgraph.config import reset_settings
    from musicgraph.graph import EmbeddedStore
    from musicgraph.graph.ingest import ingest
    from musicgraph.retrieval.index import build_indexes

    home = tmp_path_factory.mktemp("rag-home")
    mp = pytest.MonkeyPatch()
    mp.setenv("MUSICGRAPH_HOME", str(home))
    mp.setenv("MUSICGRAPH_DATA_DIR", str(fixture_data_dir))
    mp.delenv("MUSICGRAPH_NEO4J_URI", raising=False)
    reset_settings()
    store = EmbeddedStore(home / "stores" / "default")
    ingest(store, fixture_data_dir, progress=False)
    build_indexes(store, home / "indexes" / "default", dense=False, data_dir=fixture_data_dir, progress=False)
    clear_cache()
    yield store
    store.close()
    clear_cache()
    mp.undo()
    reset_settings()


def moods_of(store, key: str) -> set[str]:
    return {nb.key for _, nb in store.neighbors("Song", key, "HAS_MOOD", "out")}


def test_answer_cites_songs_the_retriever_found(real) -> None:
    store = real
    answer = musicgraph.ask("sad songs", k=3, store=store, backend="template")
    retrieved = [r.id for r in musicgraph.retrieve("sad songs", k=30, store=store)]
    assert answer.cited_ids, answer.text
    assert set(answer.cited_ids) <= set(retrieved)  # only what the real retriever returned
    assert set(answer.cited_ids) <= set(store.node_keys("Song"))
    # the two songs labelled sad in the fixture data lead the answer
    assert {answer.cited_ids[0], answer.cited_ids[1]} == {"some band|grey sky", "manegruppen|kall natt"}
    assert all("sad" in moods_of(store, k) for k in answer.cited_ids[:2])
    for rec in answer.recommendations:  # every cited song is explained from its evidence
        assert rec.result.id in answer.cited_ids and rec.reasons
        assert rec.result.title in answer.text


def test_exclusion_and_unknown_names(real) -> None:
    store = real
    answer = musicgraph.ask("sad songs but no Manegruppen", k=3, store=store, backend="template")
    assert answer.cited_ids and not any(k.startswith("manegruppen|") for k in answer.cited_ids)
    assert "some band|grey sky" in answer.cited_ids  # the other sad song is still there
    answer = musicgraph.ask("songs like Radiohead", k=3, store=store, backend="template")
    assert any("Radiohead" in note and "not in the catalog" in note for note in answer.notes)


def test_nothing_matching_says_so(real) -> None:
    store = real
    answer = musicgraph.ask("sad songs", k=3, store=store, backend="template", filters={"year": (1901, 1902)})
    assert answer.cited_ids == [] and "nothing in the catalog" in answer.text


def test_follow_up_turn_through_the_real_retriever(real) -> None:
    from musicgraph.rag.chat import ChatSession

    session = ChatSession(k=3, backend="template", store=real)
    first = session.send("sad songs")
    assert first.cited_ids
    assert "manegruppen|kall natt" in first.cited_ids
    second = session.send("no Manegruppen")
    assert second.cited_ids and not any(k.startswith("manegruppen|") for k in second.cited_ids)
