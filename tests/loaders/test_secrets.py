"""Secrets never reach logs, errors or stores (issue 15): a dummy Last.fm key, Genius token and Neo4j
password, and a transport that fails (as an unreachable network does: the error text carries the whole
request URL, query string included), for each service."""

from __future__ import annotations

import json
import logging
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from musicgraph.loaders.http_cache import ApiError, HttpCache, HttpClient, RetryPolicy
from musicgraph.loaders.ratelimit import FakeClock, RateLimiter

LASTFM_KEY = "dummyLastfmKey0123456789abcdef"
GENIUS_TOKEN = "dummyGeniusToken-ABCDEFGHIJ0123456789"
NEO4J_PASSWORD = "dummyNeo4jPassw0rd!%&"


class FailingAdapter(requests.adapters.HTTPAdapter):
    """A transport that cannot reach the server; its error repeats the request, as urllib3's do."""

    def send(self, request, **kwargs):  # noqa: ANN001, ANN003, ANN201 - requests' adapter signature
        raise requests.ConnectionError(
            f"HTTPSConnectionPool: Max retries exceeded with url: {request.url} "
            f"(headers: {dict(request.headers)}; Caused by NewConnectionError: [Errno 101] Network is unreachable)")


def failing_http(service: str, tmp_path: Path) -> HttpClient:
    session = requests.Session()
    session.mount("http://", FailingAdapter())
    session.mount("https://", FailingAdapter())
    clock = FakeClock(start=0.0)
    return HttpClient(service, RateLimiter(100.0, clock=clock, name=service), HttpCache(tmp_path / "http.sqlite"),
                      session=session, retry=RetryPolicy(retries=2))


def everything_recorded(tmp_path: Path, caplog: pytest.LogCaptureFixture, *texts: str) -> str:
    """Log lines, error texts, and every byte of every file written under ``tmp_path`` (store, cache)."""
    parts = [r.getMessage() for r in caplog.records]
    parts += [logging.Formatter("%(message)s %(exc_info)s").format(r) for r in caplog.records]
    parts += list(texts)
    for p in tmp_path.rglob("*"):
        if p.is_file():
            parts.append(p.read_bytes().decode("utf-8", errors="replace"))
    return "\n".join(parts)


def _seeded_store(path: Path):
    from musicgraph.graph import EmbeddedStore

    store = EmbeddedStore(path)
    store.upsert_nodes("Artist", [("blurtones", {"name": "Blurtones"}), ("ada quill", {"name": "Ada Quill"})])
    store.upsert_nodes("Song", [("blurtones|glass harbor", {"title": "Glass Harbor", "artist": "Blurtones"})])
    store.upsert_edges("PERFORMED_BY", "Song", "Artist", [("blurtones|glass harbor", "blurtones", {"role": "main"})])
    return store


@pytest.mark.parametrize("source", ["lastfm", "genius", "musicbrainz"])
def test_enrichment_with_a_failing_network_leaks_no_secret(tmp_path, caplog, source):
    from musicgraph.graph.enrich import EnrichAborted, Enricher
    from musicgraph.loaders.genius import GeniusClient
    from musicgraph.loaders.lastfm import LastFmClient
    from musicgraph.loaders.musicbrainz import MusicBrainzClient

    caplog.set_level(logging.DEBUG)
    http = failing_http(source, tmp_path)
    if source == "lastfm":
        client, secret = LastFmClient(http, api_key=LASTFM_KEY), LASTFM_KEY
    elif source == "genius":
        client, secret = GeniusClient(http, token=GENIUS_TOKEN), GENIUS_TOKEN
    else:  # no secret of its own: the other services' secrets must not show up either
        http.headers["Authorization"] = f"Bearer {GENIUS_TOKEN}"
        client, secret = MusicBrainzClient(http), GENIUS_TOKEN
    store = _seeded_store(tmp_path / "store")
    try:
        with pytest.raises(EnrichAborted) as info:
            Enricher(store, source, client).run(progress=False)
        meta = store.get_meta(f"enrich:{source}:last_run")
    finally:
        store.close()
    assert meta is not None and json.loads(meta)["aborted"]
    recorded = everything_recorded(tmp_path, caplog, str(info.value), repr(info.value), meta)
    assert "Network is unreachable" in recorded  # the failure itself is reported...
    assert secret not in recorded  # ...without the secret
    assert "***" in recorded


def test_api_error_and_retry_warning_redact_the_url_key(tmp_path, caplog):
    from musicgraph.loaders.lastfm import LastFmClient

    caplog.set_level(logging.DEBUG)
    client = LastFmClient(failing_http("lastfm", tmp_path), api_key=LASTFM_KEY)
    with pytest.raises(ApiError) as info:
        client.artist_similar("Blurtones")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2  # one per retry
    assert all("api_key=***" in w and LASTFM_KEY not in w for w in warnings)
    assert LASTFM_KEY not in str(info.value) and LASTFM_KEY not in info.value.url


def test_cli_enrich_lastfm_unreachable_prints_no_key(tmp_path, fixture_data_dir):
    """The whole command as a user runs it, with the network unreachable (a closed local port)."""
    import os

    home = tmp_path / "home"
    store = _seeded_store(home / "stores" / "default")
    store.close()
    env = {**os.environ, "MUSICGRAPH_HOME": str(home), "MUSICGRAPH_LASTFM_API_KEY": LASTFM_KEY,
           "MUSICGRAPH_LOG_LEVEL": "DEBUG", "MUSICGRAPH_DATA_DIR": str(fixture_data_dir)}
    env.pop("MUSICGRAPH_NEO4J_URI", None)
    code = ("import musicgraph.loaders.ratelimit as r; r.SystemClock.sleep = lambda self, s: None; "  # no waits
            "from musicgraph.cli import main; main()")
    proc = subprocess.run([sys.executable, "-c", code, "enrich", "--source", "lastfm", "--base-url",
                           "http://127.0.0.1:9/2.0/", "--limit", "1"],
                          capture_output=True, text=True, env=env, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "127.0.0.1" in out and "api_key=***" in out
    assert LASTFM_KEY not in out
    db = sqlite3.connect(home / "stores" / "default" / "graph.sqlite")
    stored = "\n".join(v for (v,) in db.execute("SELECT value FROM meta"))
    db.close()
    assert "lastfm" in stored and LASTFM_KEY not in stored
    for p in home.rglob("*"):
        if p.is_file():
            assert LASTFM_KEY.encode() not in p.read_bytes(), p


def test_neo4j_password_not_in_connection_errors(caplog):
    from musicgraph.graph.neo4j_store import Neo4jStore
    from musicgraph.graph.store import StoreError

    caplog.set_level(logging.DEBUG)
    with pytest.raises(StoreError) as info:
        Neo4jStore(f"bolt://neo4j:{NEO4J_PASSWORD}@127.0.0.1:9", password=NEO4J_PASSWORD, apply_schema=False)
    text = str(info.value) + "\n" + "\n".join(r.getMessage() for r in caplog.records)
    assert "Neo4j" in text and "127.0.0.1:9" in text
    assert NEO4J_PASSWORD not in text
    with pytest.raises(StoreError) as info:
        Neo4jStore("bolt://127.0.0.1:9", password=NEO4J_PASSWORD, apply_schema=False)
    text = str(info.value) + "\n" + "\n".join(r.getMessage() for r in caplog.records)
    assert "cannot reach Neo4j" in text and NEO4J_PASSWORD not in text


def test_redact_forms():
    from musicgraph.redact import redact, register_secret

    register_secret("s3cretValue+/=")
    text = ("GET https://x/?api_key=abc123&format=json token=zzz Authorization: Bearer qqq.www "
            "s3cretValue+/= s3cretValue%2B%2F%3D {'password': 'hunter2'}")
    out = redact(text)
    for leaked in ("abc123", "zzz", "qqq.www", "s3cretValue", "hunter2"):
        assert leaked not in out, out
    assert "format=json" in out  # ordinary parameters stay
