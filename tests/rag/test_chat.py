from __future__ import annotations

import pytest

from musicgraph.rag.chat import ChatSession, ChatState, parse_ordinal


def session(store, retriever) -> ChatSession:
    return ChatSession(k=3, backend="template", retriever=retriever, store=store)


def test_parse_ordinal():
    assert parse_ordinal("second") == 2 and parse_ordinal("3") == 3 and parse_ordinal("last") == -1


def test_more_upbeat_moves_features_up(store, retriever):
    chat = session(store, retriever)
    first = chat.send("sad songs for a rainy night")
    second = chat.send("more upbeat")
    assert chat.state.turns[-1][1].intent == "refine"
    targets = chat.state.targets()
    assert targets["valence"] == pytest.approx(first.mean_features()["valence"] + 0.2)
    assert second.mean_features()["valence"] > first.mean_features()["valence"]
    assert second.mean_features()["energy"] > first.mean_features()["energy"]


def test_no_artist_excludes_it(store, retriever):
    chat = session(store, retriever)
    first = chat.send("sad songs")
    assert any(r.result.artist == "The Velvet Foxes" for r in first.recommendations)
    second = chat.send("no The Velvet Foxes")
    assert chat.state.excluded_artists == ["The Velvet Foxes"]
    assert second.recommendations and all(r.result.artist != "The Velvet Foxes" for r in second.recommendations)


def test_more_like_the_second_one_seeds_query(store, retriever):
    chat = session(store, retriever)
    first = chat.send("sad songs")
    second_song = first.recommendations[1].result
    answer = chat.send("more like the second one")
    assert second_song.display() in answer.query
    assert retriever.calls[-1][0] == answer.query
    assert second_song.id not in answer.cited_ids  # the seed itself is not recommended again


def test_why_that_one_explains_without_retrieval(store, retriever):
    chat = session(store, retriever)
    first = chat.send("sad songs")
    calls = len(retriever.calls)
    why = chat.send("why the third one?")
    assert len(retriever.calls) == calls
    assert why.backend == "explain"
    third = first.recommendations[2]
    assert third.result.display() in why.text and third.reasons[0] in why.text
    again = chat.send("why that one?")  # "that one" = the one just discussed
    assert third.result.display() in again.text
    missing = chat.send("why the ninth one?")
    assert "no recommendation #9" in missing.text


def test_new_request_resets_refinements(store, retriever):
    state = ChatState()
    state.interpret("sad songs")
    state.interpret("no Quiet Engines")
    assert state.excluded_artists == ["Quiet Engines"]
    turn = state.interpret("happy songs for a summer party with friends")
    assert turn.intent == "new" and state.excluded_artists == [] and turn.query.startswith("happy songs")


def test_more_like_unknown_number_is_an_error(store, retriever):
    chat = session(store, retriever)
    chat.send("sad songs")
    with pytest.raises(ValueError, match="no recommendation #7"):
        chat.send("more like the 7th one")
