"""The OpenAI-compatible and Ollama chat endpoints, through the ``openai`` client and a real uvicorn on loopback."""

from __future__ import annotations

import json

import pytest

openai = pytest.importorskip("openai", reason="the openai client comes with the dev extra")


@pytest.fixture(scope="module")
def oa(live_server):
    return openai.OpenAI(base_url=live_server.url + "/v1", api_key="unused-on-loopback", max_retries=0, timeout=60)


def test_models_are_listed(oa):
    ids = {m.id for m in oa.models.list()}
    assert {"musicgraph", "musicgraph-template"} <= ids


def test_chat_completion_is_a_grounded_answer_with_cited_songs(oa, fixture_store):
    resp = oa.chat.completions.create(model="musicgraph-template",
                                      messages=[{"role": "system", "content": "You recommend music."},
                                                {"role": "user", "content": "sad songs"}])
    text = resp.choices[0].message.content
    assert resp.choices[0].finish_reason == "stop" and resp.usage.completion_tokens > 0
    extra = resp.model_extra["musicgraph"]
    recs = extra["recommendations"]
    assert recs and [r["id"] for r in recs] == extra["cited_ids"]
    for r in recs:  # every cited song is in the catalog and named in the text
        node = fixture_store.get_node("Song", r["id"])
        assert node is not None and node.props["title"] in text
        assert r["paths"] or r["evidence"]
    assert "Grey Sky" in text  # the fixture's sad song


def test_streaming_gives_the_same_text(oa):
    messages = [{"role": "user", "content": "sad songs"}]
    whole = oa.chat.completions.create(model="musicgraph-template", messages=messages).choices[0].message.content
    pieces, finish, extra = [], None, None
    stream = oa.chat.completions.create(model="musicgraph-template", messages=messages, stream=True)
    for chunk in stream:
        delta = chunk.choices[0].delta
        if delta.content:
            pieces.append(delta.content)
        if chunk.choices[0].finish_reason:
            finish = chunk.choices[0].finish_reason
            extra = (chunk.model_extra or {}).get("musicgraph")
    assert "".join(pieces) == whole and len(pieces) > 3
    assert finish == "stop" and extra and extra["cited_ids"]


def test_earlier_user_turns_refine_the_answer(oa):
    first = oa.chat.completions.create(model="musicgraph-template", messages=[{"role": "user", "content": "sad songs"}])
    assert "Some Band" in {r["artist"] for r in first.model_extra["musicgraph"]["recommendations"]}
    resp = oa.chat.completions.create(model="musicgraph-template", messages=[
        {"role": "user", "content": "sad songs"},
        {"role": "assistant", "content": first.choices[0].message.content},
        {"role": "user", "content": "no Some Band"}])
    artists = {r["artist"] for r in resp.model_extra["musicgraph"]["recommendations"]}
    assert artists and "Some Band" not in artists
    assert resp.model_extra["musicgraph"]["query"] == "sad songs, no Some Band"


def test_unknown_model_is_a_404_the_client_understands(oa):
    with pytest.raises(openai.NotFoundError) as err:
        oa.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "sad songs"}])
    assert "musicgraph-template" in str(err.value)


def test_ollama_pair(live_server):
    import httpx2 as httpx

    tags = httpx.get(live_server.url + "/api/tags").json()
    assert "musicgraph-template:latest" in {m["name"] for m in tags["models"]}
    body = {"model": "musicgraph-template:latest", "messages": [{"role": "user", "content": "sad songs"}]}
    whole = httpx.post(live_server.url + "/api/chat", json={**body, "stream": False}, timeout=60).json()
    assert whole["done"] and "Grey Sky" in whole["message"]["content"]
    with httpx.stream("POST", live_server.url + "/api/chat", json=body, timeout=60) as resp:
        lines = [json.loads(ln) for ln in resp.iter_lines() if ln.strip()]
    assert lines[-1]["done"] is True and all(not ln["done"] for ln in lines[:-1])
    assert "".join(ln["message"]["content"] for ln in lines) == whole["message"]["content"]
