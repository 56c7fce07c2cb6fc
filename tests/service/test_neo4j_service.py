"""The service with Neo4j as the store: Browser links that run, the exploration pack and raw Cypher over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from tests.service.conftest import API_KEY, HashEncoder, make_app, settings_for

pytestmark = pytest.mark.neo4j
KEY = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture(scope="module")
def neo4j_client(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                 fixture_data_dir) -> Iterator[tuple[Any, Any]]:
    from fastapi.testclient import TestClient

    from musicgraph.graph.ingest import ingest
    from musicgraph.retrieval.index import build_indexes
    from musicgraph.service.engine import Engine

    store = request.getfixturevalue("neo4j_tests").claim(request)
    ingest(store, fixture_data_dir, progress=False)
    home = tmp_path_factory.mktemp("neo4j-service-home")
    index_dir = home / "indexes" / "default"
    build_indexes(store, index_dir, encoder=HashEncoder(), data_dir=fixture_data_dir, progress=False)
    settings = settings_for(home, fixture_data_dir, neo4j_http_port=7999)
    engine = Engine(settings, store, index_dir=index_dir, encoder=HashEncoder())
    with TestClient(make_app(settings, engine)) as c:
        yield c, store
    store.close()


def test_every_result_links_to_a_browser_query_that_finds_its_path(neo4j_client):
    c, store = neo4j_client
    resp = c.post("/retrieve", json={"query": "sad songs", "k": 4})
    assert resp.status_code == 200, resp.text
    for r in resp.json()["results"]:
        url = urlparse(r["neo4j_browser"])
        assert url.port == 7999 and url.path == "/browser/"
        cypher = parse_qs(url.query)["arg"][0]
        rows = store.query(cypher)  # read-only, as Browser would run it
        assert rows, cypher
        if r["paths"]:
            assert cypher.startswith("MATCH p = ")


def test_packaged_and_raw_cypher_over_http(neo4j_client):
    c, _ = neo4j_client
    resp = c.post("/cypher/mood_playlists", json={"params": {"mood": "sad"}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["name"] == "mood_playlists" and resp.json()["row_count"] >= 1
    resp = c.post("/cypher/similar_artists", json={})  # default parameter 'radiohead': not in the fixture
    assert resp.status_code == 200 and resp.json()["rows"] == []
    resp = c.post("/cypher", json={"query": "MATCH (s:Song) RETURN count(s) AS n"}, headers=KEY)
    assert resp.status_code == 200 and resp.json()["rows"] == [{"n": 31}]
    resp = c.post("/cypher", json={"query": "CREATE (x:Song {uid: 'evil'}) RETURN x"}, headers=KEY)
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "read_only"
    assert c.post("/cypher", json={"query": "MATCH (n) RETURN n"}).status_code == 401
    resp = c.post("/cypher", json={"query": "MATCH (n RETURN n"}, headers=KEY)
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "invalid_request"


def test_catalog_changes_apply_in_one_neo4j_transaction(neo4j_client):
    c, store = neo4j_client
    body = {"change_id": "n-1", "op": "add", "changes": [{"type": "song", "artist": "Neo Band", "title": "Bolt"}]}
    resp = c.post("/catalog/changes", json=body, headers=KEY)
    assert resp.status_code == 200, resp.text
    assert store.get_node("Song", "neo band|bolt") is not None
    again = c.post("/catalog/changes", json=body, headers=KEY)
    assert again.status_code == 200 and again.json()["replayed"] is True
    # a bad record anywhere in the request: nothing of it is written
    bad = {"change_id": "n-2", "op": "add", "changes": [{"type": "song", "artist": "Neo Band", "title": "Half"},
                                                         {"type": "song", "artist": "", "title": "No artist"}]}
    resp = c.post("/catalog/changes", json=bad, headers=KEY)
    assert resp.status_code == 422, resp.text
    assert store.get_node("Song", "neo band|half") is None
