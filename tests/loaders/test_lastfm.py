"""Last.fm client: parsing, error codes (not found, rate limit, bad key), caching, paging."""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import requests
import responses

from musicgraph.loaders import lastfm
from musicgraph.loaders.http_cache import (
    HttpCache,
    HttpClient,
    MalformedResponseError,
    MissingCredentialError,
    NotFoundError,
    RateLimitedError,
    RetryPolicy,
)
from musicgraph.loaders.lastfm import LastFmClient, parse_recent_tracks, parse_similar, parse_top_tags
from musicgraph.loaders.ratelimit import FakeClock, RateLimiter

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "api"
API = lastfm.API_ROOT


def fx(name: str) -> dict:
    return json.loads((FIX / name).read_text(encoding="utf-8"))


def make_client(tmp_path: Path, retries: int = 2) -> tuple[LastFmClient, FakeClock]:
    clock = FakeClock(start=0.0)
    http = HttpClient("lastfm", RateLimiter(4.0, clock=clock, name="lastfm"), HttpCache(tmp_path / "http.sqlite"),
                      session=requests.Session(), retry=RetryPolicy(retries=retries))
    return LastFmClient(http, api_key="KEY123"), clock


def test_error_codes_match_pylast() -> None:
    import pylast

    assert lastfm.STATUS_RATE_LIMIT_EXCEEDED == pylast.STATUS_RATE_LIMIT_EXCEEDED
    assert lastfm.STATUS_INVALID_PARAMS == pylast.STATUS_INVALID_PARAMS
    assert lastfm.STATUS_INVALID_API_KEY == pylast.STATUS_INVALID_API_KEY
    assert lastfm.STATUS_TEMPORARILY_UNAVAILABLE == pylast.STATUS_TEMPORARILY_UNAVAILABLE
    assert lastfm.STATUS_OFFLINE == pylast.STATUS_OFFLINE


def test_parsers() -> None:
    similar = parse_similar(fx("lastfm_similar_blurtones.json"))
    assert [(s.name, s.match) for s in similar][:2] == [("Ada Quill", 1.0), ("Velvet Static", 0.42)]
    tags = parse_top_tags(fx("lastfm_artist_toptags_blurtones.json"))
    assert [(t.name, t.count) for t in tags] == [("dream pop", 100), ("Shoegaze", 35), ("seen live", 3)]
    single = parse_top_tags(fx("lastfm_track_toptags_single.json"))  # one tag: an object, not a list
    assert [t.name for t in single] == ["rainy day"]
    with pytest.raises(MalformedResponseError, match="toptags"):
        parse_top_tags({"something": {}})


@responses.activate
def test_calls_send_key_and_are_cached_without_it(tmp_path: Path) -> None:
    responses.get(API, json=fx("lastfm_similar_blurtones.json"))
    client, _ = make_client(tmp_path)
    assert len(client.artist_similar("The Blurtones")) == 3
    assert len(client.artist_similar("The Blurtones")) == 3
    assert len(responses.calls) == 1
    q = parse_qs(urlparse(responses.calls[0].request.url).query)
    assert q["api_key"] == ["KEY123"] and q["method"] == ["artist.getSimilar"] and q["format"] == ["json"]
    cache = client.http.cache
    assert cache is not None
    raw = cache._db.execute("SELECT url FROM responses").fetchone()[0]
    assert "KEY123" not in raw


@responses.activate
def test_not_found_error_code(tmp_path: Path) -> None:
    responses.get(API, json=fx("lastfm_error_not_found.json"), status=404)
    client, _ = make_client(tmp_path)
    with pytest.raises(NotFoundError, match="could not be found"):
        client.artist_top_tags("Nobody Here")


@responses.activate
def test_rate_limit_code_is_retried_then_succeeds(tmp_path: Path) -> None:
    responses.get(API, json=fx("lastfm_error_rate_limit.json"))
    responses.get(API, json=fx("lastfm_artist_toptags_blurtones.json"))
    client, clock = make_client(tmp_path)
    assert client.artist_top_tags("The Blurtones")[0].name == "dream pop"
    assert 1.0 in clock.sleeps  # first backoff step


@responses.activate
def test_rate_limit_code_forever(tmp_path: Path) -> None:
    responses.get(API, json=fx("lastfm_error_rate_limit.json"))
    client, _ = make_client(tmp_path, retries=1)
    with pytest.raises(RateLimitedError, match="error 29"):
        client.artist_top_tags("The Blurtones")
    assert client.http.cache is not None and client.http.cache.count() == 0


@responses.activate
def test_bad_key_names_the_variable(tmp_path: Path) -> None:
    responses.get(API, json=fx("lastfm_error_bad_key.json"), status=403)
    client, _ = make_client(tmp_path)
    with pytest.raises(MissingCredentialError, match="MUSICGRAPH_LASTFM_API_KEY"):
        client.artist_similar("x")


def test_missing_key_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from musicgraph.config import reset_settings

    monkeypatch.delenv("MUSICGRAPH_LASTFM_API_KEY", raising=False)
    monkeypatch.setenv("MUSICGRAPH_HOME", str(tmp_path))
    reset_settings()
    try:
        with pytest.raises(MissingCredentialError, match="MUSICGRAPH_LASTFM_API_KEY"):
            LastFmClient(offline=False)
    finally:
        reset_settings()


@responses.activate
def test_recent_tracks_paging(tmp_path: Path) -> None:
    def page(n: int, total: int) -> dict:
        return {"recenttracks": {"@attr": {"user": "u", "page": str(n), "totalPages": str(total), "total": "3"},
                                 "track": [{"artist": {"#text": f"A{n}", "mbid": ""}, "name": f"T{n}",
                                            "album": {"#text": ""}, "date": {"uts": str(1000 + n)}}]}}
    responses.get(API, json=page(1, 2))
    responses.get(API, json=page(2, 2))
    client, _ = make_client(tmp_path)
    tracks = list(client.iter_recent_tracks("u", max_pages=5))
    assert [(t.artist, t.title, t.uts) for t in tracks] == [("A1", "T1", 1001), ("A2", "T2", 1002)]


@pytest.mark.integration
def test_recorded_recent_tracks() -> None:
    from musicgraph.config import get_settings

    path = (Path(os.environ.get("MUSICGRAPH_DATA_DIR") or get_settings().data_dir) / "api_fixtures"
            / "lastfm_domchristie" / "user.getRecentTracks_domchristie.json")
    if not path.is_file():
        pytest.fail(f"recorded Last.fm response not found at {path}")
    result = parse_recent_tracks(json.loads(path.read_text()))
    assert result.user == "domchristie" and result.page == 1 and result.total_pages == 1213
    assert result.total == 12127 and len(result.tracks) == 10
    first = result.tracks[0]
    assert first.artist == "Kelpe" and first.title == "Single Stripe (Original Mix)"
    assert first.album == "Fourth: The Golden Eagle" and first.uts == 1373622302
    assert first.artist_mbid == "270ff0d9-7243-4411-bce5-eeafbefb1b65" and first.mbid is None
