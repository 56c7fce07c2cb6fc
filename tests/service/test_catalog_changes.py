"""POST /catalog/changes: API key, atomic per request, idempotent by change id, indexes reloaded live."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.service.conftest import API_KEY, HashEncoder, make_app

KEY = {"Authorization": f"Bearer {API_KEY}"}
ZEBRA = {"type": "song", "artist": "Zebra Parade", "title": "Unique Stripes", "year": 2020, "moods": ["happy"],
         "features": {"energy": 0.9, "valence": 0.9}}
ZEBRA_KEY = "zebra parade|unique stripes"


@pytest.fixture
def home_client(make_home) -> Iterator[tuple[Any, Any]]:
    from fastapi.testclient import TestClient

    from musicgraph.service.engine import Engine

    home = make_home()
    engine = Engine(home.settings, home.store, index_dir=home.index_dir, encoder=HashEncoder())
    with TestClient(make_app(home.settings, engine)) as c:
        yield c, home


def _songs(store: Any) -> int:
    return store.count_nodes()["Song"]


def _retrieved(client: Any, query: str, k: int = 3) -> list[str]:
    resp = client.post("/retrieve", json={"query": query, "k": k})
    assert resp.status_code == 200, resp.text
    return [r["id"] for r in resp.json()["results"]]


def test_writes_need_a_key(home_client):
    c, home = home_client
    body = {"change_id": "c-1", "op": "add", "changes": [ZEBRA]}
    before = home.store.version()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-API-Key": "wrong"}):
        resp = c.post("/catalog/changes", json=body, headers=headers)
        assert resp.status_code == 401 and resp.json()["error"]["code"] == "unauthorized"
        assert resp.headers["www-authenticate"].startswith("Bearer")
    assert home.store.version() == before and home.store.get_node("Song", ZEBRA_KEY) is None


def test_no_key_configured_means_no_writes(make_home):
    from fastapi.testclient import TestClient

    from musicgraph.service.engine import Engine

    home = make_home(serve_api_keys=None)
    engine = Engine(home.settings, home.store, index_dir=home.index_dir, encoder=HashEncoder())
    with TestClient(make_app(home.settings, engine)) as c:
        resp = c.post("/catalog/changes", json={"change_id": "c-1", "op": "add", "changes": [ZEBRA]}, headers=KEY)
        assert resp.status_code == 401 and "no API key configured" in resp.json()["error"]["message"]
    assert home.store.get_node("Song", ZEBRA_KEY) is None


def test_same_change_id_changes_the_store_once(home_client):
    c, home = home_client
    assert ZEBRA_KEY not in _retrieved(c, "happy songs", k=10)
    n0 = _songs(home.store)
    body = {"change_id": "add-zebra-1", "op": "add", "changes": [ZEBRA]}
    first = c.post("/catalog/changes", json=body, headers=KEY)
    assert first.status_code == 200, first.text
    out = first.json()
    assert out["replayed"] is False and out["changes"]["added"]["Song"] == 1
    assert out["indexes"]["retrieval"] and not out["index_errors"]
    version = home.store.version()
    assert _songs(home.store) == n0 + 1
    again = c.post("/catalog/changes", json=body, headers=KEY)
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert again.json()["changes"] == out["changes"]
    assert home.store.version() == version and _songs(home.store) == n0 + 1
    # the same id with other records is a conflict, and changes nothing
    other = {**body, "changes": [{**ZEBRA, "title": "Other Stripes"}]}
    resp = c.post("/catalog/changes", json=other, headers=KEY)
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "change_id_conflict"
    assert home.store.version() == version


def test_the_new_song_is_served_without_a_restart(home_client):
    c, home = home_client
    assert c.post("/catalog/changes", json={"change_id": "z", "op": "add", "changes": [ZEBRA]},
                  headers=KEY).status_code == 200
    c.app.state.engine.wait_reloaded(timeout=60)
    assert _retrieved(c, "songs by Zebra Parade") == [ZEBRA_KEY]
    assert c.get(f"/songs/{ZEBRA_KEY}").json()["moods"] == ["happy"]
    health = c.get("/health").json()
    assert health["indexes"][0]["state"] == "current" and health["serving_version"] == home.store.version()
    # and deleted again: gone from retrieval and from look-ups
    resp = c.post("/catalog/changes", json={"change_id": "z-del", "op": "delete",
                                             "changes": [{"type": "song", "artist": "Zebra Parade",
                                                          "title": "Unique Stripes"}]}, headers=KEY)
    assert resp.status_code == 200 and resp.json()["changes"]["deleted"]["Song"] == 1
    c.app.state.engine.wait_reloaded(timeout=60)
    assert ZEBRA_KEY not in _retrieved(c, "happy songs", k=40)
    assert c.get(f"/songs/{ZEBRA_KEY}").status_code == 404


def test_a_bad_record_changes_nothing(home_client):
    c, home = home_client
    before = (home.store.version(), _songs(home.store))
    bad = {"type": "song", "artist": "Nobody"}  # no title
    resp = c.post("/catalog/changes", json={"change_id": "c-bad", "op": "add", "changes": [ZEBRA, bad]}, headers=KEY)
    assert resp.status_code == 422
    err = resp.json()["error"]
    assert err["code"] == "invalid_change" and "record 2" in err["message"] and "title" in err["message"]
    assert (home.store.version(), _songs(home.store)) == before
    assert home.store.get_node("Song", ZEBRA_KEY) is None
    # the id was not used up: the corrected request goes through
    ok = c.post("/catalog/changes", json={"change_id": "c-bad", "op": "add", "changes": [ZEBRA]}, headers=KEY)
    assert ok.status_code == 200 and ok.json()["replayed"] is False


def test_update_of_a_missing_song_is_refused_atomically(home_client):
    c, home = home_client
    before = home.store.version()
    changes = [{"type": "artist", "name": "Brand New Artist", "tags": {"fresh": 3}},
               {"type": "song", "artist": "Nobody Here", "title": "Missing", "year": 2001}]
    resp = c.post("/catalog/changes", json={"change_id": "u-1", "op": "update", "changes": changes}, headers=KEY)
    assert resp.status_code == 422 and "not in the store" in resp.json()["error"]["message"]
    assert home.store.version() == before and home.store.get_node("Artist", "brand new artist") is None


def test_jsonl_body_like_the_cli(home_client):
    c, home = home_client
    lines = "\n".join(json.dumps(r) for r in (ZEBRA, {"type": "tag", "artist": "Zebra Parade", "tag": "stripes",
                                                       "weight": 5}))
    resp = c.post("/catalog/changes?op=add", content=lines.encode(),
                  headers={**KEY, "Content-Type": "application/x-ndjson", "Idempotency-Key": "jsonl-1"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["change_id"] == "jsonl-1" and home.store.get_node("Song", ZEBRA_KEY) is not None
    assert "stripes" in {n.name for _, n in home.store.neighbors("Artist", "zebra parade", "TAGGED", "out")}
    resp = c.post("/catalog/changes?op=add&change_id=jsonl-2", content=b'{"type": "song"\n',
                  headers={**KEY, "Content-Type": "application/x-ndjson"})
    assert resp.status_code == 422 and "line 1" in resp.json()["error"]["message"]
    resp = c.post("/catalog/changes", content=b"op=add", headers={**KEY, "Content-Type": "text/csv"})
    assert resp.status_code == 415


def test_reads_keep_working_while_the_catalog_changes(home_client):
    c, home = home_client
    failures: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            resp = c.post("/retrieve", json={"query": "happy songs", "k": 5})
            if resp.status_code != 200:
                failures.append(resp.text)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for i in range(4):
            song = {**ZEBRA, "title": f"Stripe {i}"}
            resp = c.post("/catalog/changes", json={"change_id": f"w-{i}", "op": "add", "changes": [song]}, headers=KEY)
            assert resp.status_code == 200, resp.text
        c.app.state.engine.wait_reloaded(timeout=60)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert failures == []
    assert c.app.state.engine.reloads >= 1
    assert sorted(_retrieved(c, "songs by Zebra Parade", k=10)) == [f"zebra parade|stripe {i}" for i in range(4)]


def test_neo4j_browser_link_when_neo4j_is_the_store():
    from musicgraph.config import Settings
    from musicgraph.graph.results import ExplanationPath, Result
    from musicgraph.graph.schema import NodeRef
    from musicgraph.service.views import browser_cypher, browser_url

    p = ExplanationPath([NodeRef("Artist", "o'brien"), NodeRef("Song", "o'brien|x")], ["O'Brien", "X"], ["<-PERFORMED_BY"])
    res = Result(rank=1, kind="song", id="o'brien|x", name="X", score=1.0, artist="O'Brien", title="X", paths=[p])
    cy = browser_cypher(res)
    assert cy == "MATCH p = (n0:Artist {uid: 'o\\'brien'})<-[:PERFORMED_BY]-(n1:Song {uid: 'o\\'brien|x'}) RETURN p"
    url = browser_url(Settings(neo4j_uri="bolt://db.example:7750", neo4j_http_port=7751), cy)
    assert url.startswith("http://db.example:7751/browser/?cmd=edit&arg=MATCH%20p%20%3D%20")
