"""The shared HTTP layer: SQLite cache, offline mode, retries, Retry-After and error messages."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
import responses

from musicgraph.loaders.http_cache import (
    ApiUnavailableError,
    HttpCache,
    HttpClient,
    HttpResponse,
    MalformedResponseError,
    NotFoundError,
    OfflineCacheMiss,
    RateLimitedError,
    RetryPolicy,
    canonical_request,
    parse_retry_after,
    request_key,
)
from musicgraph.loaders.ratelimit import FakeClock, RateLimiter

URL = "https://api.example.test/thing"


def make_client(tmp_path: Path, *, offline: bool = False, retries: int = 3) -> tuple[HttpClient, FakeClock]:
    clock = FakeClock(start=0.0)
    client = HttpClient(
        "testapi",
        RateLimiter(1.0, clock=clock, name="testapi"),
        HttpCache(tmp_path / "cache" / "http.sqlite"),
        session=requests.Session(),
        user_agent="musicgraph-test/0 ( test@example.org )",
        offline=offline,
        retry=RetryPolicy(retries=retries, base=1.0, factor=2.0),
    )
    return client, clock


def test_request_key_ignores_param_order_and_secrets() -> None:
    a = request_key("GET", URL, {"b": 2, "a": "x", "api_key": "SECRET"})
    b = request_key("GET", URL, {"a": "x", "b": 2, "api_key": "OTHER"})
    assert a == b
    assert a != request_key("GET", URL, {"a": "y", "b": 2})
    assert "SECRET" not in canonical_request("GET", URL, {"api_key": "SECRET", "q": 1})


@responses.activate
def test_second_request_is_served_from_disk_cache(tmp_path: Path) -> None:
    responses.get(URL, json={"value": 1})
    client, _ = make_client(tmp_path)
    assert client.get_json(URL, {"q": "a"}) == {"value": 1}
    # a new client on the same cache file: no request at all
    client2, _ = make_client(tmp_path)
    assert client2.get_json(URL, {"q": "a"}) == {"value": 1}
    assert len(responses.calls) == 1
    assert client2.requests_sent == 0
    assert client2.cache is not None and client2.cache.hits == 1
    assert responses.calls[0].request.headers["User-Agent"] == "musicgraph-test/0 ( test@example.org )"


@responses.activate
def test_offline_mode_serves_cache_and_refuses_misses(tmp_path: Path) -> None:
    responses.get(URL, json={"value": 2})
    online, _ = make_client(tmp_path)
    online.get_json(URL, {"q": "cached"})
    offline, _ = make_client(tmp_path, offline=True)
    assert offline.get_json(URL, {"q": "cached"}) == {"value": 2}
    with pytest.raises(OfflineCacheMiss, match="offline mode and no cached response"):
        offline.get_json(URL, {"q": "never-fetched"})
    assert len(responses.calls) == 1


@responses.activate
def test_404_raises_not_found_and_is_cached(tmp_path: Path) -> None:
    responses.get(URL, status=404, json={"error": "Not Found"})
    client, _ = make_client(tmp_path)
    for _ in range(2):
        with pytest.raises(NotFoundError, match="404"):
            client.get_json(URL, {"id": "x"})
    assert len(responses.calls) == 1


@responses.activate
def test_503_is_retried_with_exponential_backoff(tmp_path: Path) -> None:
    responses.get(URL, status=503)
    responses.get(URL, status=503)
    responses.get(URL, json={"ok": True})
    client, clock = make_client(tmp_path)
    assert client.get_json(URL) == {"ok": True}
    assert len(responses.calls) == 3
    backoffs = [s for s in clock.sleeps if s >= 1.0]
    assert backoffs[:2] == [1.0, 2.0]


@responses.activate
def test_503_forever_raises_unavailable_and_caches_nothing(tmp_path: Path) -> None:
    responses.get(URL, status=503)
    client, _ = make_client(tmp_path, retries=2)
    with pytest.raises(ApiUnavailableError, match="HTTP 503 after 3 tries"):
        client.get_json(URL)
    assert client.cache is not None and client.cache.count() == 0


@responses.activate
def test_429_retry_after_pauses_the_limiter(tmp_path: Path) -> None:
    responses.get(URL, status=429, headers={"Retry-After": "7"})
    responses.get(URL, json={"ok": 1})
    client, clock = make_client(tmp_path)
    assert client.get_json(URL) == {"ok": 1}
    assert clock.now() >= 7.0
    assert 7.0 in clock.sleeps or sum(clock.sleeps) >= 7.0


@responses.activate
def test_persistent_429_raises_rate_limited(tmp_path: Path) -> None:
    responses.get(URL, status=429, headers={"Retry-After": "2"})
    client, _ = make_client(tmp_path, retries=1)
    with pytest.raises(RateLimitedError, match="429"):
        client.get_json(URL)


@responses.activate
def test_timeout_is_retried_then_reported(tmp_path: Path) -> None:
    responses.get(URL, body=requests.Timeout("read timed out"))
    responses.get(URL, json={"after": "timeout"})
    client, _ = make_client(tmp_path)
    assert client.get_json(URL) == {"after": "timeout"}
    responses.reset()
    responses.get(URL, body=requests.ConnectionError("no route to host"))
    with pytest.raises(ApiUnavailableError, match="network error.*--offline"):
        client.get_json(URL, {"other": 1})


@responses.activate
def test_malformed_json_is_an_error_and_not_kept(tmp_path: Path) -> None:
    responses.get(URL, body="<html>oops</html>", status=200)
    responses.get(URL, json={"fixed": True})
    client, _ = make_client(tmp_path)
    with pytest.raises(MalformedResponseError, match="malformed JSON.*oops"):
        client.get_json(URL)
    assert client.get_json(URL) == {"fixed": True}  # asked again, not served the bad body


def test_parse_retry_after_seconds_and_dates() -> None:
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == pytest.approx(10.0)


def test_cache_max_age_makes_entries_stale(tmp_path: Path) -> None:
    cache = HttpCache(tmp_path / "c.sqlite", max_age=60)
    cache.put("k", HttpResponse(200, b"{}", URL, fetched_at=0.0))
    assert cache.get("k") is None
    assert cache.get("k", allow_stale=True) is not None


def test_api_clients_build_their_default_http_client_one_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Last.fm, Genius and ListenBrainz build the same default client: the shared User-Agent, the
    offline setting, and a missing key refused only when online."""
    from musicgraph import __version__
    from musicgraph.config import reset_settings
    from musicgraph.loaders.genius import GeniusClient
    from musicgraph.loaders.http_cache import MissingCredentialError, default_user_agent
    from musicgraph.loaders.lastfm import LastFmClient
    from musicgraph.loaders.listenbrainz import ListenBrainzClient

    monkeypatch.setenv("MUSICGRAPH_HOME", str(tmp_path))
    monkeypatch.setenv("MUSICGRAPH_CONTACT", "ops@example.org")
    monkeypatch.setenv("MUSICGRAPH_OFFLINE", "1")
    monkeypatch.delenv("MUSICGRAPH_LASTFM_API_KEY", raising=False)
    reset_settings()
    try:
        agent = f"musicgraph/{__version__} ( ops@example.org )"
        assert default_user_agent("ops@example.org") == agent
        clients = [LastFmClient(), GeniusClient(), ListenBrainzClient()]
        assert [c.http.user_agent for c in clients] == [agent] * 3
        assert [c.http.offline for c in clients] == [True] * 3
        with pytest.raises(MissingCredentialError, match="MUSICGRAPH_LASTFM_API_KEY"):
            LastFmClient(offline=False)
        given = make_client(tmp_path, offline=True)[0]
        assert LastFmClient(given).http is given and given.offline  # a given client's offline flag is kept
    finally:
        reset_settings()
