"""Enrichment of a store from recorded/mock API responses: writes, provenance, idempotence, resume, CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests
import responses

from musicgraph.graph.embedded import EmbeddedStore
from musicgraph.graph.enrich import EnrichAborted, Enricher, EnrichError, checkpoint_key, text_ref
from musicgraph.loaders.genius import GeniusClient
from musicgraph.loaders.http_cache import HttpCache, HttpClient, RetryPolicy
from musicgraph.loaders.lastfm import API_ROOT as LASTFM_API
from musicgraph.loaders.lastfm import LastFmClient
from musicgraph.loaders.musicbrainz import MusicBrainzClient
from musicgraph.loaders.ratelimit import FakeClock, RateLimiter

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "api"
WS = "https://musicbrainz.org/ws/2"
BLURTONES = "11111111-1111-4111-8111-111111111111"
GLASS = "55555555-5555-4555-8555-555555555555"
NOW = "2024-05-01T12:00:00Z"


def fx(name: str) -> Any:
    return json.loads((FIX / name).read_text(encoding="utf-8"))


def make_store(path: Path) -> EmbeddedStore:
    store = EmbeddedStore(path)
    store.upsert_nodes("Artist", [
        ("blurtones", {"name": "The Blurtones", "aliases": ["The Blurtones"], "sources": ["hetrec"]}),
        ("ada quill", {"name": "Ada Quill", "aliases": ["Ada Quill"], "sources": ["hetrec"]}),
        ("velvet static", {"name": "Velvet Static", "aliases": ["Velvet Static"], "sources": ["hetrec"]}),
    ])
    store.upsert_nodes("Song", [
        ("blurtones|glass harbor", {"title": "Glass Harbor", "artist": "The Blurtones", "sources": ["spotify"]}),
        ("blurtones|salt lines", {"title": "Salt Lines", "artist": "The Blurtones", "year": 2001,
                                  "lyrics_ref": "sha1:existing", "sources": ["spotify"]}),
    ])
    store.upsert_nodes("Tag", [("dream pop", {"name": "dream pop", "sources": ["hetrec"]})])
    store.upsert_edges("TAGGED", "Artist", "Tag", [("blurtones", "dream pop", {"weight": 7.0})])
    store.upsert_edges("PERFORMED_BY", "Song", "Artist", [
        ("blurtones|glass harbor", "blurtones", {"role": "main"}),
        ("blurtones|salt lines", "blurtones", {"role": "main"}),
    ])
    store.put_texts({"sha1:existing": "old words"})
    return store


def http(service: str, tmp_path: Path, rate: float = 1.0) -> HttpClient:
    clock = FakeClock(start=0.0)
    return HttpClient(service, RateLimiter(rate, clock=clock, name=service), HttpCache(tmp_path / "http.sqlite"),
                      session=requests.Session(), retry=RetryPolicy(retries=2))


def mb_callback(request: requests.PreparedRequest) -> tuple[int, dict, str]:
    url = urlparse(request.url)
    q = parse_qs(url.query)
    path = url.path.rstrip("/")
    if path.endswith("/artist"):
        name = "mb_artist_search_blurtones.json" if "Blurtones" in q["query"][0] else "mb_artist_search_nomatch.json"
    elif path.endswith(f"/artist/{BLURTONES}"):
        name = "mb_artist_blurtones.json"
    elif path.endswith("/recording"):
        if "Glass Harbor" not in q["query"][0]:
            return 200, {}, json.dumps({"count": 0, "recordings": []})
        name = "mb_recording_search_glass_harbor.json"
    elif path.endswith(f"/recording/{GLASS}"):
        name = "mb_recording_glass_harbor.json"
    else:
        return 404, {}, json.dumps({"error": "Not Found"})
    return 200, {"Content-Type": "application/json"}, (FIX / name).read_text()


def mock_mb() -> None:
    responses.add_callback(responses.GET, re.compile(re.escape(WS) + r"/.*"), callback=mb_callback)


def mb_enricher(store: EmbeddedStore, tmp_path: Path, **kw: Any) -> Enricher:
    return Enricher(store, "musicbrainz", MusicBrainzClient(http("musicbrainz", tmp_path)), now=lambda: NOW, **kw)


@responses.activate
def test_musicbrainz_writes_mbids_relations_and_provenance(tmp_path: Path) -> None:
    mock_mb()
    store = make_store(tmp_path / "store")
    report = mb_enricher(store, tmp_path).run()
    assert report.enriched == 2  # The Blurtones and Glass Harbor
    assert report.no_match == 3  # Ada Quill, Velvet Static (no confident hit), Salt Lines
    artist = store.get_node("Artist", "blurtones")
    assert artist is not None
    p = artist.props
    assert p["mbid"] == BLURTONES and p["mb_type"] == "Group" and p["begin_year"] == 1997
    assert p["sources"] == ["hetrec", "musicbrainz"]
    assert p["musicbrainz_fetched_at"] == NOW and p["musicbrainz_match"] == 1.0
    # genres and tags, with provenance; the hetrec weight of an existing edge is kept
    genres = {n.key: e.props for e, n in store.neighbors("Artist", "blurtones", "HAS_GENRE", "out")}
    assert set(genres) == {"dream pop", "shoegaze"}
    assert genres["shoegaze"]["sources"] == ["musicbrainz"] and genres["shoegaze"]["musicbrainz_match"] == 1.0
    tags = {n.key: e.props for e, n in store.neighbors("Artist", "blurtones", "TAGGED", "out")}
    assert tags["dream pop"]["weight"] == 7.0 and tags["dream pop"]["musicbrainz_weight"] == 4.0
    assert tags["new zealand"]["weight"] == 1.0 and "bad tag" not in tags
    # members: existing Ada Quill linked, the collaboration project created with its MBID
    members = {(e.src.key, e.dst.key): e.props for e in store.iter_edges("MEMBER_OF")}
    assert set(members) == {("ada quill", "blurtones"), ("blurtones", "quill and friends")}
    assert members[("ada quill", "blurtones")]["relation"] == "member of band"
    assert members[("ada quill", "blurtones")]["musicbrainz_fetched_at"] == NOW
    created = store.get_node("Artist", "quill and friends")
    assert created is not None and created.props["mbid"] == "33333333-3333-4333-8333-333333333333"
    # song: MBID, ISRCs, year and album filled in
    song = store.get_node("Song", "blurtones|glass harbor")
    assert song is not None
    assert song.props["mbid"] == GLASS and song.props["isrcs"] == ["NZXX09900001"]
    assert song.props["year"] == 1999 and song.props["album"] == "Tidal Static"
    assert {n.key for _, n in store.neighbors("Song", "blurtones|glass harbor", "TAGGED", "out")} == {"rainy day"}
    # checkpoints
    done = json.loads(store.get_meta(checkpoint_key("musicbrainz", "Artist", "blurtones")) or "{}")
    assert done == {"status": "enriched", "at": NOW}
    assert json.loads(store.get_meta("enrich:musicbrainz:last_run") or "{}")["enriched"] == 2


@responses.activate
def test_rerun_is_idempotent_and_costs_no_request(tmp_path: Path) -> None:
    mock_mb()
    store = make_store(tmp_path / "store")
    mb_enricher(store, tmp_path).run()
    edges, nodes = store.count_edges(), store.count_nodes()
    calls = len(responses.calls)
    # the collaboration artist created by the first run is looked up by its MBID (404 here)
    second = mb_enricher(store, tmp_path).run()
    assert second.already_done == 5 and second.processed == 1 and second.not_found == 1
    assert len(responses.calls) == calls + 1 and "33333333" in responses.calls[-1].request.url
    calls = len(responses.calls)
    edges, nodes = store.count_edges(), store.count_nodes()
    again = mb_enricher(store, tmp_path).run()
    assert again.already_done == 6 and again.processed == 0 and len(responses.calls) == calls
    forced = mb_enricher(store, tmp_path, force=True).run()
    assert forced.enriched == 2 and forced.requests == 0  # all from the HTTP cache (404 included)
    assert store.count_edges() == edges and store.count_nodes() == nodes


@responses.activate
def test_killed_run_continues_where_it_stopped(tmp_path: Path) -> None:
    store = make_store(tmp_path / "store")
    # First run: the network dies after 4 requests: the three artists (key order) are done, the
    # first song's search fails.
    state = {"ok": 4}

    def flaky(request: requests.PreparedRequest) -> tuple[int, dict, str]:
        if state["ok"] <= 0:
            raise requests.ConnectionError("network is unreachable")
        state["ok"] -= 1
        return mb_callback(request)

    responses.add_callback(responses.GET, re.compile(re.escape(WS) + r"/.*"), callback=flaky)
    with pytest.raises(EnrichAborted, match="network is unreachable") as info:
        mb_enricher(store, tmp_path).run()
    assert info.value.report.processed == 4 and info.value.report.enriched == 1
    assert "Song:blurtones|glass harbor" in str(info.value)
    assert store.get_node("Artist", "blurtones").props["mbid"] == BLURTONES  # kept
    assert store.get_meta(checkpoint_key("musicbrainz", "Artist", "velvet static")) is not None
    assert store.get_meta(checkpoint_key("musicbrainz", "Song", "blurtones|glass harbor")) is None
    # Second run, network back: only the rest is requested.
    responses.reset()
    seen: list[str] = []

    def recording(request: requests.PreparedRequest) -> tuple[int, dict, str]:
        seen.append(request.url)
        return mb_callback(request)

    responses.add_callback(responses.GET, re.compile(re.escape(WS) + r"/.*"), callback=recording)
    report = mb_enricher(store, tmp_path).run()
    # the two songs, plus the collaboration artist created by the first run
    assert report.already_done == 3 and report.processed == 3
    assert not any(BLURTONES in u or "Ada" in u or "Velvet" in u for u in seen)
    assert store.get_node("Song", "blurtones|glass harbor").props["mbid"] == GLASS


@responses.activate
def test_limit_and_artist_filter(tmp_path: Path) -> None:
    mock_mb()
    store = make_store(tmp_path / "store")
    enricher = mb_enricher(store, tmp_path)
    assert [n.key for n in enricher.select(artist="the blurtones")] == [
        "blurtones", "blurtones|glass harbor", "blurtones|salt lines"]
    report = enricher.run(limit=1, artist="The Blurtones")
    assert report.processed == 1 and store.get_node("Artist", "blurtones").props["mbid"] == BLURTONES
    assert store.get_node("Song", "blurtones|glass harbor").props.get("mbid") is None
    with pytest.raises(EnrichError, match="not in the store"):
        enricher.select(artist="Nobody At All")
    with pytest.raises(EnrichError, match="unknown enrichment source"):
        Enricher(store, "spotify", None)


@responses.activate
def test_genius_writes_lyrics_text_and_ref(tmp_path: Path) -> None:
    responses.get("https://api.genius.com/search", json=fx("genius_search_glass_harbor.json"))
    responses.get("https://genius.com/The-blurtones-glass-harbour-lyrics",
                  body=(FIX / "genius_page_glass_harbour.html").read_text(), content_type="text/html")
    store = make_store(tmp_path / "store")
    client = GeniusClient(http("genius", tmp_path, rate=2.0), token="t")
    report = Enricher(store, "genius", client, now=lambda: NOW).run(artist="The Blurtones")
    assert report.processed == 2 and report.texts_written == 1
    song = store.get_node("Song", "blurtones|glass harbor").props
    text = store.get_texts([song["lyrics_ref"]])[song["lyrics_ref"]]
    assert song["lyrics_ref"] == text_ref(text) and text.startswith("Salt on the window")
    assert song["genius_id"] == 9001 and song["lyrics_source"] == "genius" and song["genius_fetched_at"] == NOW
    assert 0.85 < song["genius_match"] < 1.0
    # a song that already had lyrics keeps them
    assert store.get_node("Song", "blurtones|salt lines").props["lyrics_ref"] == "sha1:existing"


@responses.activate
def test_lastfm_similar_only_to_known_artists_and_tags(tmp_path: Path) -> None:
    def cb(request: requests.PreparedRequest) -> tuple[int, dict, str]:
        q = parse_qs(urlparse(request.url).query)
        method, artist = q["method"][0], q.get("artist", [""])[0]
        if method == "artist.getSimilar" and artist == "The Blurtones":
            return 200, {}, json.dumps(fx("lastfm_similar_blurtones.json"))
        if method == "artist.getTopTags" and artist == "The Blurtones":
            return 200, {}, json.dumps(fx("lastfm_artist_toptags_blurtones.json"))
        if method == "track.getTopTags" and q["track"][0] == "Glass Harbor":
            return 200, {}, json.dumps(fx("lastfm_track_toptags_single.json"))
        return 404, {}, json.dumps(fx("lastfm_error_not_found.json"))

    responses.add_callback(responses.GET, LASTFM_API, callback=cb)
    store = make_store(tmp_path / "store")
    client = LastFmClient(http("lastfm", tmp_path, rate=4.0), api_key="k")
    report = Enricher(store, "lastfm", client, now=lambda: NOW).run()
    assert report.enriched == 2 and report.not_found == 3 and report.aborted is None
    similar = {n.key: e.props for e, n in store.neighbors("Artist", "blurtones", "SIMILAR_TO", "out")}
    assert set(similar) == {"ada quill", "velvet static"}  # "Unknown Band" is not in the store
    assert similar["velvet static"]["weight"] == pytest.approx(0.42)
    assert similar["velvet static"]["sources"] == ["lastfm"] and similar["velvet static"]["lastfm_fetched_at"] == NOW
    tags = {n.key: e.props for e, n in store.neighbors("Artist", "blurtones", "TAGGED", "out")}
    assert set(tags) == {"dream pop", "shoegaze"}  # "seen live" (weight 3) dropped
    assert tags["dream pop"]["weight"] == 7.0 and tags["dream pop"]["lastfm_weight"] == 1.0
    assert store.get_node("Artist", "unknown band") is None


# ------------------------------------------------------------------------------ CLI
@pytest.fixture()
def cli_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from musicgraph.config import reset_settings

    monkeypatch.setenv("MUSICGRAPH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MUSICGRAPH_NEO4J_URI", raising=False)
    monkeypatch.delenv("MUSICGRAPH_GENIUS_TOKEN", raising=False)
    monkeypatch.delenv("MUSICGRAPH_OFFLINE", raising=False)
    reset_settings()
    make_store(tmp_path / "home" / "stores" / "default").close()
    yield tmp_path
    reset_settings()


def _patch_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Build CLI clients with a fake clock and fast retries (no real sleeping in tests)."""
    import musicgraph.graph.enrich as enrich_mod

    real = enrich_mod.make_client
    monkeypatch.setattr(enrich_mod, "make_client",
                        lambda source, **kw: real(source, clock=FakeClock(), retry=RetryPolicy(retries=1), **kw))


@responses.activate
def test_cli_enrich_musicbrainz_limit(cli_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from musicgraph.cli import app

    mock_mb()
    _patch_clock(monkeypatch)
    result = CliRunner().invoke(app, ["enrich", "--source", "musicbrainz", "--limit", "20", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["enriched"] == 2 and report["processed"] == 5
    store = EmbeddedStore(cli_home / "home" / "stores" / "default")
    assert store.get_node("Artist", "blurtones").props["mbid"] == BLURTONES
    assert store.count_edges()["MEMBER_OF"] == 2
    # offline rerun with --force: served from the cache that the first run filled
    responses.reset()
    result = CliRunner().invoke(app, ["enrich", "-s", "musicbrainz", "--offline", "--force", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["requests"] == 0


def test_cli_without_token_or_network_gives_clear_messages(cli_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from musicgraph.cli import app

    result = CliRunner().invoke(app, ["enrich", "--source", "genius"])
    assert result.exit_code == 2
    assert "MUSICGRAPH_GENIUS_TOKEN" in result.output
    _patch_clock(monkeypatch)
    with responses.RequestsMock() as rsps:
        rsps.add(responses.GET, re.compile(re.escape(WS) + r"/.*"), body=requests.ConnectionError("no network"))
        result = CliRunner().invoke(app, ["enrich", "--source", "musicbrainz", "--limit", "3"])
    assert result.exit_code == 1
    assert "no network" in result.output and "rerun the same command to continue" in result.output
