"""The REST endpoints in process (TestClient) over the read-only fixture store."""

from __future__ import annotations

from typing import Any

import pytest

from tests.service.conftest import API_KEY, make_app, settings_for

AXES = ["danceability", "energy", "valence", "acousticness", "instrumentalness", "speechiness", "liveness"]


def _check_result(r: dict[str, Any]) -> None:
    ids = {n["id"] for n in r["graph"]["nodes"]}
    result_nodes = [n for n in r["graph"]["nodes"] if n["role"] == "result"]
    assert len(result_nodes) == 1 and result_nodes[0]["id"].endswith(":" + r["id"])
    assert r["graph"]["edges"], f"{r['id']}: no edge to draw"
    for e in r["graph"]["edges"]:
        assert e["source"] in ids and e["target"] in ids and e["phrase"]
    assert r["radar"]["axes"] == AXES
    for p in r["paths"]:  # names and relationship types alternate, from a seed to the result
        assert len(p) % 2 == 1 and p[-1] in (r["title"], r["name"])


# ----------------------------------------------------------------------------- search
def test_retrieve_free_text_has_paths_graph_and_radar(client):
    resp = client.post("/retrieve", json={"query": "sad songs", "k": 4})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert len(body["results"]) == 4
    assert [r["rank"] for r in body["results"]] == [1, 2, 3, 4]
    assert body["request"]["structured"] is False
    assert body["retriever"] == "hybrid"
    assert "sad" in body["request"]["description"] and body["request"]["parsed"]["targets"]["moods"] == ["sad"]
    for r in body["results"]:
        _check_result(r)
        assert r["radar"]["target"]["valence"] < 0.5  # "sad" asks for low valence
    top = body["results"][0]
    assert top["id"] == "some band|grey sky" and top["paths"][0] == ["sad", "<-HAS_MOOD", "Grey Sky"]
    assert top["radar"]["item"]["valence"] == pytest.approx(0.1)
    assert top["neo4j_browser"] is None  # the embedded store has no Browser


def test_recommend_structured_request_artists_excludes_the_seed(client):
    req = {"seeds": [{"label": "Artist", "name": "Invented Singer", "relation": "related"}], "kind": "artist", "k": 3}
    resp = client.post("/recommend", json={"request": req})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["retriever"] == "graph"
    assert body["request"]["structured"] is True and body["request"]["parsed"]["kind"] == "artist"
    assert len(body["results"]) == 3 and all(r["kind"] == "artist" for r in body["results"])
    assert "invented singer" not in [r["id"] for r in body["results"]]
    top = body["results"][0]
    assert top["why"] and top["why"][0].startswith("Invented Singer → ")
    for r in body["results"]:
        _check_result(r)


def test_the_body_can_name_the_retriever(client):
    for name in ("graph", "hybrid", "bm25", "dense"):
        resp = client.post("/recommend", json={"query": "sad songs", "k": 3, "retriever": name})
        assert resp.status_code == 200, (name, resp.text)
        assert resp.json()["retriever"] == name and resp.json()["results"]
    assert client.post("/recommend", json={"query": "sad", "retriever": "magic"}).status_code == 422


def test_recommend_structured_exclusion_is_applied(client):
    base = {"seeds": [{"label": "Mood", "name": "sad"}], "k": 5}
    first = client.post("/recommend", json={"request": base}).json()["results"]
    assert any(r["artist"] == "Some Band" for r in first)
    req = {**base, "constraints": {"exclude": [{"label": "Artist", "name": "Some Band"}]}}
    resp = client.post("/recommend", json={"request": req})
    assert resp.status_code == 200, resp.text
    artists = [r["artist"] for r in resp.json()["results"]]
    assert artists and "Some Band" not in artists


def test_request_model_is_in_the_openapi_document(client):
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert "Request" in schemas and "Seed" in schemas and "Constraints" in schemas
    body = spec["paths"]["/recommend"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["$ref"].endswith("/SearchBody")
    assert {"422", "404"} <= set(spec["paths"]["/recommend"]["post"]["responses"])


@pytest.mark.parametrize("body, where", [
    ({"query": "sad", "request": {"seeds": []}}, "exactly one of"),
    ({}, "exactly one of"),
    ({"query": "sad", "k": 0}, "k"),
    ({"query": "sad", "colour": "blue"}, "colour"),
    ({"request": {"k": 5000}}, "k"),
    ({"request": {"seeds": [{"label": "Mood", "name": "sad", "relation": "member_of"}]}}, "member_of"),
])
def test_invalid_bodies_are_422_with_a_stable_code(client, body, where):
    resp = client.post("/retrieve", json=body)
    assert resp.status_code == 422
    err = resp.json()["error"]
    assert err["code"] == "validation_error" and err["status"] == 422
    assert where in err["message"] or any(where in str(d["loc"]) for d in err["details"])


def test_unknown_seed_is_404_with_suggestions(client):
    req = {"seeds": [{"label": "Artist", "name": "Some Bnad"}]}
    resp = client.post("/recommend", json={"request": req})
    assert resp.status_code == 404
    err = resp.json()["error"]
    assert err["code"] == "unknown_entity" and "Some Band" in err["suggestions"]
    assert "did you mean" in err["message"]


def test_other_kinds_and_the_k_limit(client):
    resp = client.post("/recommend", json={"request": {"seeds": [{"label": "Mood", "name": "sad"}], "kind": "album",
                                                       "k": 2}})
    assert resp.status_code == 200, resp.text
    results = resp.json()["results"]
    assert results and all(r["kind"] == "album" for r in results)
    assert all(n["id"].startswith("Album:") for r in results for n in r["graph"]["nodes"] if n["role"] == "result")
    resp = client.post("/recommend", json={"request": {"seeds": [{"label": "Mood", "name": "sad"}], "k": 500}})
    assert resp.status_code == 422 and resp.json()["error"]["field"] == "k"


# ----------------------------------------------------------------------------- ask and chat
def test_ask_is_grounded_in_the_catalog(client, fixture_store):
    resp = client.post("/ask", json={"question": "sad songs", "k": 3, "backend": "template"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["backend"] == "template" and len(body["recommendations"]) == 3
    assert [r["id"] for r in body["recommendations"]] == body["cited_ids"]
    for rec in body["recommendations"]:
        assert fixture_store.get_node("Song", rec["id"]) is not None
        assert rec["title"] in body["text"] and rec["reasons"]
        _check_result(rec)
    assert body["request"]["parsed"]["targets"]["moods"] == ["sad"]


def test_chat_refinement_excludes_an_artist_and_keeps_the_session(client):
    first = client.post("/chat", json={"message": "sad songs", "k": 5, "backend": "template"})
    assert first.status_code == 200, first.text
    a = first.json()
    assert a["intent"] == "new" and "Some Band" in [r["artist"] for r in a["recommendations"]]
    second = client.post("/chat", json={"message": "no Some Band", "session_id": a["session_id"], "k": 5,
                                        "backend": "template"})
    assert second.status_code == 200, second.text
    b = second.json()
    assert b["session_id"] == a["session_id"] and b["intent"] == "refine"
    assert b["changes"] == ["exclude Some Band"]
    assert b["recommendations"] and "Some Band" not in [r["artist"] for r in b["recommendations"]]
    why = client.post("/chat", json={"message": "why the first one?", "session_id": a["session_id"],
                                     "backend": "template"}).json()
    assert why["intent"] == "explain" and why["cited_ids"] == [b["cited_ids"][0]]


def test_chat_sessions_expire(service_settings, engine):
    from fastapi.testclient import TestClient

    with TestClient(make_app(service_settings, engine)) as c:
        now = [1000.0]
        c.app.state.sessions._clock = lambda: now[0]
        sid = c.post("/chat", json={"message": "sad songs", "backend": "template"}).json()["session_id"]
        assert c.post("/chat", json={"message": "more upbeat", "session_id": sid, "backend": "template"}).status_code == 200
        now[0] += service_settings.serve_session_ttl + 1
        resp = c.post("/chat", json={"message": "more upbeat", "session_id": sid, "backend": "template"})
        assert resp.status_code == 404 and resp.json()["error"]["code"] == "unknown_session"
        assert c.delete(f"/chat/{sid}").json() == {"session_id": sid, "deleted": False}


# ----------------------------------------------------------------------------- entities
def test_song_by_key_and_by_name_never_serves_lyrics(client):
    by_key = client.get("/songs/some band|grey sky")
    assert by_key.status_code == 200
    song = by_key.json()
    assert song["title"] == "Grey Sky" and song["artist_id"] == "some band" and song["moods"] == ["sad"]
    assert song["features"]["valence"] == pytest.approx(0.1)
    assert "lyric" not in by_key.text.lower()
    assert client.get("/songs/Some Band - Grey Sky").json()["id"] == "some band|grey sky"


def test_unknown_song_is_404_with_suggestions(client):
    resp = client.get("/songs/some band|grey skies")
    assert resp.status_code == 404
    err = resp.json()["error"]
    assert err["code"] == "unknown_entity" and "some band|grey sky" in err["suggestions"]


def test_artist_by_name_and_key(client):
    a = client.get("/artists/Some Band").json()
    assert a["id"] == "some band" and a["name"] == "Some Band"
    assert {"grey sky", "rain drops"} <= {s["title"].lower() for s in a["songs"]}
    assert client.get("/artists/some band").json() == a


def test_explain_gives_subgraph_radar_and_request(client):
    resp = client.get("/explain/some band|grey sky", params={"q": "sad songs"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["matched"] is True and body["kind"] == "song"
    assert ("Mood:sad", "Song:some band|grey sky") in {(e["source"], e["target"]) for e in body["graph"]["edges"]}
    assert body["radar"]["item"]["valence"] == pytest.approx(0.1) and body["radar"]["target"]["valence"] < 0.5
    assert body["request"]["parsed"]["targets"]["moods"] == ["sad"]
    facts = client.get("/explain/some band|grey sky").json()
    assert facts["matched"] is False and facts["request"] is None and facts["graph"]["edges"]


# ----------------------------------------------------------------------------- operations
def test_health_names_the_index_state(client):
    body = client.get("/health").json()
    assert body["ready"] and body["status"] == "ok" and body["stale"] == []
    assert body["indexes"][0] == {"name": "retrieval", "state": "current",
                                  "detail": f"store version {body['store']['version']}"}


def test_metrics_count_requests_per_route_template(client):
    client.get("/songs/some band|grey sky")
    client.get("/songs/some band|rain drops")
    text = client.get("/metrics").text
    line = [ln for ln in text.splitlines()
            if ln.startswith("musicgraph_http_requests_total{") and 'endpoint="/songs/{id}"' in ln and 'status="200"' in ln]
    assert line and float(line[0].rsplit(" ", 1)[1]) >= 2
    assert 'musicgraph_http_request_duration_seconds_bucket{endpoint="/songs/{id}",le="0.1",method="GET"}' in text
    assert "some band|grey sky" not in text  # raw paths never become labels


def test_unknown_route_and_method_are_json_errors(client):
    resp = client.get("/nowhere")
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"
    resp = client.get("/retrieve")
    assert resp.status_code == 405 and resp.json()["error"]["code"] == "method_not_allowed"


def test_cypher_needs_neo4j_and_raw_cypher_needs_a_key(client):
    names = {q["name"] for q in client.get("/cypher").json()}
    assert "similar_artists" in names
    resp = client.post("/cypher/similar_artists", json={"params": {"artist": "some band"}})
    assert resp.status_code == 501 and resp.json()["error"]["code"] == "not_supported"
    assert client.post("/cypher/no_such_query", json={}).status_code in (404, 501)
    resp = client.post("/cypher", json={"query": "MATCH (n) RETURN n LIMIT 1"})
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "unauthorized"


def test_web_page_and_its_modules_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and 'src="/static/app.js"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for name in ("app.js", "svg.js", "style.css"):
        assert client.get(f"/static/{name}").status_code == 200


# ----------------------------------------------------------------------------- limits and keys
def test_request_body_limit_is_413(service_settings, engine, tmp_path, fixture_data_dir):
    from fastapi.testclient import TestClient

    settings = settings_for(tmp_path, fixture_data_dir, serve_max_body=1024)
    with TestClient(make_app(settings, engine)) as c:
        resp = c.post("/retrieve", json={"query": "x" * 1500})
        assert resp.status_code == 413 and resp.json()["error"]["code"] == "payload_too_large"
        assert c.post("/retrieve", json={"query": "sad songs"}).status_code == 200


def test_rate_limit_per_key_is_429_with_retry_after(engine, tmp_path, fixture_data_dir):
    from fastapi.testclient import TestClient

    settings = settings_for(tmp_path, fixture_data_dir, serve_rate_limit=0.5, serve_rate_burst=2)
    with TestClient(make_app(settings, engine)) as c:
        codes = [c.get("/songs/some band|grey sky").status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        limited = c.get("/songs/some band|grey sky")
        assert limited.json()["error"]["code"] == "rate_limited" and int(limited.headers["retry-after"]) >= 1
        # a made-up key does not escape the address's bucket; a valid key has its own; health is never limited
        assert c.get("/songs/some band|grey sky", headers={"X-API-Key": "made-up"}).status_code == 429
        assert c.get("/songs/some band|grey sky", headers={"X-API-Key": API_KEY}).status_code == 200
        assert c.get("/health").status_code == 200


def test_wrong_key_is_refused_and_reads_can_require_keys(engine, tmp_path, fixture_data_dir):
    from fastapi.testclient import TestClient

    settings = settings_for(tmp_path, fixture_data_dir, serve_keys_for_reads=True)
    with TestClient(make_app(settings, engine)) as c:
        assert c.get("/songs/some band|grey sky").status_code == 401
        assert c.get("/songs/some band|grey sky", headers={"Authorization": "Bearer nope"}).status_code == 401
        ok = c.get("/songs/some band|grey sky", headers={"Authorization": f"Bearer {API_KEY}"})
        assert ok.status_code == 200
        assert c.get("/health").status_code == 200  # probes need no key


def test_language_model_backends_are_off_unless_enabled(client):
    resp = client.post("/ask", json={"question": "sad songs", "backend": "smollm2"})
    assert resp.status_code == 422
    err = resp.json()["error"]
    assert err["field"] == "backend" and "MUSICGRAPH_SERVE_BACKENDS" in err["message"]
    ids = {m["id"] for m in client.get("/v1/models").json()["data"]}
    assert "musicgraph-smollm2" not in ids
    best = client.post("/ask", json={"question": "sad songs", "backend": "best", "k": 2})
    assert best.status_code == 200 and best.json()["backend"] == "template"
