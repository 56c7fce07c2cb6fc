"""Genius client: search parsing, matching, lyrics scraping through lyricsgenius, cleaning, errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import requests
import responses

from musicgraph.loaders.genius import (
    GeniusClient,
    GeniusSong,
    best_song_match,
    clean_lyrics,
    parse_search_hits,
)
from musicgraph.loaders.http_cache import (
    HttpCache,
    HttpClient,
    MalformedResponseError,
    MissingCredentialError,
    OfflineCacheMiss,
    RetryPolicy,
)
from musicgraph.loaders.ratelimit import FakeClock, RateLimiter

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "api"
PAGE = "https://genius.com/The-blurtones-glass-harbour-lyrics"


def make_client(tmp_path: Path, *, token: str | None = "test-token", offline: bool = False) -> GeniusClient:
    clock = FakeClock(start=0.0)
    http = HttpClient("genius", RateLimiter(2.0, clock=clock, name="genius"), HttpCache(tmp_path / "http.sqlite"),
                      session=requests.Session(), retry=RetryPolicy(retries=2), offline=offline)
    return GeniusClient(http, token=token, offline=offline)


def test_clean_lyrics_removes_headers_and_boilerplate() -> None:
    raw = (
        "12 ContributorsTranslationsEspañolGlass Harbour Lyrics[Verse 1]\nSalt on the window\n\n"
        "[Chorus: Ada Quill]\nGlass harbor, hold me\nYou might also like\n"
        "See The Blurtones LiveGet tickets as low as $35\nHold me [x2]\n\n\n\n[Outro]\nbye3Embed"
    )
    text = clean_lyrics(raw)
    assert text == "Salt on the window\n\nGlass harbor, hold me\n\nHold me\n\nbye"
    assert clean_lyrics(None) == "" and clean_lyrics("") == ""


def test_parse_search_hits_plain_and_multi() -> None:
    hits = parse_search_hits(json.loads((FIX / "genius_search_glass_harbor.json").read_text()))
    assert [h.id for h in hits] == [9001, 9002]
    assert hits[0].artist == "The Blurtones" and hits[0].url == PAGE
    with pytest.raises(MalformedResponseError, match="neither 'hits' nor 'sections'"):
        parse_search_hits({"response": {"oops": []}})


def test_best_song_match_needs_title_and_artist() -> None:
    hits = parse_search_hits(json.loads((FIX / "genius_search_glass_harbor.json").read_text()))
    match = best_song_match("The Blurtones", "Glass Harbor", hits)
    assert match is not None and match.song.id == 9001 and 0.85 < match.confidence < 1.0
    assert best_song_match("Nobody", "Glass Harbor", hits) is None
    assert best_song_match("The Blurtones", "x", []) is None


def test_missing_token_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from musicgraph.config import reset_settings

    monkeypatch.delenv("MUSICGRAPH_GENIUS_TOKEN", raising=False)
    monkeypatch.setenv("MUSICGRAPH_HOME", str(tmp_path))
    reset_settings()
    try:
        with pytest.raises(MissingCredentialError, match="MUSICGRAPH_GENIUS_TOKEN"):
            GeniusClient(offline=False)
        GeniusClient(offline=True)  # offline: cached responses need no token
    finally:
        reset_settings()


@responses.activate
def test_search_and_lyrics_through_lyricsgenius_with_cache(tmp_path: Path) -> None:
    responses.get("https://api.genius.com/search",
                  json=json.loads((FIX / "genius_search_glass_harbor.json").read_text()))
    responses.get(PAGE, body=(FIX / "genius_page_glass_harbour.html").read_text(), content_type="text/html")
    client = make_client(tmp_path)
    match = client.resolve_song("The Blurtones", "Glass Harbor")
    assert match is not None
    lyrics = client.lyrics(match.song)
    assert lyrics is not None
    assert lyrics.startswith("Salt on the window, light on the sand")
    assert "[" not in lyrics and "Embed" not in lyrics and "You might also like" not in lyrics
    assert "Glass harbor, fold me" in lyrics
    assert responses.calls[0].request.headers["Authorization"] == "Bearer test-token"
    # offline, without token, from the cache
    offline = make_client(tmp_path, token=None, offline=True)
    assert offline.lyrics(match.song) == lyrics
    assert len(responses.calls) == 2
    with pytest.raises(OfflineCacheMiss):
        offline.lyrics(GeniusSong(1, "x", "y", "https://genius.com/never-fetched-lyrics"))


@responses.activate
def test_429_with_retry_after_then_success(tmp_path: Path) -> None:
    responses.get("https://api.genius.com/search", status=429, headers={"Retry-After": "3"})
    responses.get("https://api.genius.com/search",
                  json=json.loads((FIX / "genius_search_glass_harbor.json").read_text()))
    client = make_client(tmp_path)
    assert client.search("Glass Harbor")[0].id == 9001
    assert client.limiter.clock.now() >= 3.0


@responses.activate
def test_rejected_token_is_reported(tmp_path: Path) -> None:
    responses.get("https://api.genius.com/search", status=401, json={"meta": {"status": 401}})
    with pytest.raises(MissingCredentialError, match="MUSICGRAPH_GENIUS_TOKEN"):
        make_client(tmp_path).search("anything")


@pytest.mark.integration
def test_recorded_search_multi_responses() -> None:
    from musicgraph.config import get_settings

    base = Path(os.environ.get("MUSICGRAPH_DATA_DIR") or get_settings().data_dir) / "api_fixtures" / "genius_searx"
    if not base.is_dir():
        pytest.fail(f"recorded Genius responses not found at {base}")
    assert parse_search_hits(json.loads((base / "search_multi_empty.json").read_text())) == []
    hits = parse_search_hits(json.loads((base / "search_multi_lyric_artist_album.json").read_text()))
    assert hits and hits[0].id == 52916 and hits[0].artist == "MC Jean Gab'1"
    assert hits[0].url == "https://genius.com/Mc-jean-gab1-jtemmerde-lyrics"
