"""MusicBrainz client: parsing WS/2 JSON, confident matching, User-Agent, rate limit, errors."""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import requests
import responses

from musicgraph.loaders.http_cache import (
    ApiUnavailableError,
    HttpCache,
    HttpClient,
    MalformedResponseError,
    NotFoundError,
    RetryPolicy,
)
from musicgraph.loaders.musicbrainz import (
    MusicBrainzClient,
    best_artist_match,
    check_includes,
    lucene_quote,
    parse_artist,
    parse_artist_search,
    parse_recording,
    parse_recording_search,
    user_agent,
)
from musicgraph.loaders.ratelimit import FakeClock, RateLimiter

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "api"
WS = "https://musicbrainz.org/ws/2"
BLURTONES = "11111111-1111-4111-8111-111111111111"
GLASS = "55555555-5555-4555-8555-555555555555"


def fx(name: str) -> dict:
    return json.loads((FIX / name).read_text(encoding="utf-8"))


def make_client(tmp_path: Path, retries: int = 2) -> tuple[MusicBrainzClient, FakeClock]:
    clock = FakeClock(start=0.0)
    http = HttpClient(
        "musicbrainz", RateLimiter(1.0, clock=clock, name="musicbrainz"), HttpCache(tmp_path / "http.sqlite"),
        session=requests.Session(), user_agent=user_agent("tests@example.org"),
        retry=RetryPolicy(retries=retries),
    )
    return MusicBrainzClient(http), clock


def test_user_agent_follows_musicbrainzngs_convention() -> None:
    ua = user_agent("me@example.org", version="9.9")
    assert ua.startswith("musicgraph/9.9 python-musicbrainzngs/")
    assert ua.endswith("( me@example.org )")
    with pytest.raises(ValueError, match="MUSICGRAPH_CONTACT"):
        user_agent("  ")


def test_includes_are_checked_against_musicbrainzngs() -> None:
    assert check_includes("artist", ["aliases", "artist-rels"]) == ["aliases", "artist-rels"]
    with pytest.raises(ValueError, match="invalid inc"):
        check_includes("artist", ["no-such-inc"])


def test_lucene_quote_escapes_specials() -> None:
    assert lucene_quote('AC/DC: "Live"') == '"AC\\/DC\\: \\"Live\\""'


def test_parse_artist_with_relations_genres_and_tags() -> None:
    info = parse_artist(fx("mb_artist_blurtones.json"))
    assert info.mbid == BLURTONES and info.type == "Group" and info.begin_year == 1997 and info.end_year is None
    assert [g.name for g in info.genres] == ["dream pop", "shoegaze"]
    members = info.memberships()
    assert {(m.member_name, m.group_name, m.relation) for m in members} == {
        ("Ada Quill", "The Blurtones", "member of band"),
        ("The Blurtones", "Quill & Friends", "collaboration"),
    }
    assert all(m.relation != "is person" for m in members)


def test_parse_recording_dates_releases_isrcs() -> None:
    rec = parse_recording(fx("mb_recording_glass_harbor.json"))
    assert rec.isrcs == ["NZXX09900001"]
    assert rec.year == 1999
    assert rec.first_release() is not None and rec.first_release().title == "Tidal Static"
    assert rec.artist_credit == "The Blurtones feat. Ada Quill"
    assert [a for _, a in rec.artists] == ["The Blurtones", "Ada Quill"]


def test_artist_matching_requires_score_and_name_agreement() -> None:
    hits = parse_artist_search(fx("mb_artist_search_blurtones.json"))
    match = best_artist_match("Blurtones", hits)
    assert match is not None and match.mbid == BLURTONES and match.confidence == 1.0
    assert best_artist_match("Completely Unrelated", hits) is None
    low = parse_artist_search(fx("mb_artist_search_nomatch.json"))
    assert best_artist_match("Completely Different", low, min_score=96) is None
    ambiguous = best_artist_match("Mirrorfield", parse_artist_search(fx("mb_artist_search_ambiguous.json")))
    assert ambiguous is not None and ambiguous.confidence == pytest.approx(0.95)


@responses.activate
def test_resolve_and_lookup_through_the_json_api_at_one_request_per_second(tmp_path: Path) -> None:
    responses.get(f"{WS}/artist", json=fx("mb_artist_search_blurtones.json"))
    responses.get(f"{WS}/artist/{BLURTONES}", json=fx("mb_artist_blurtones.json"))
    responses.get(f"{WS}/recording", json=fx("mb_recording_search_glass_harbor.json"))
    responses.get(f"{WS}/recording/{GLASS}", json=fx("mb_recording_glass_harbor.json"))
    client, clock = make_client(tmp_path)
    match = client.resolve_artist("The Blurtones")
    assert match is not None
    info = client.artist(match.mbid)
    rec_match = client.resolve_recording("The Blurtones", "Glass Harbor")
    assert rec_match is not None and rec_match.mbid == GLASS  # studio original, not "(live)"
    rec = client.recording(rec_match.mbid)
    assert info.name == "The Blurtones" and rec.title == "Glass Harbor"
    q = parse_qs(urlparse(responses.calls[0].request.url).query)
    assert q["fmt"] == ["json"] and q["query"] == ['artist:"The Blurtones"']
    inc = parse_qs(urlparse(responses.calls[1].request.url).query)["inc"][0]
    assert inc.split(" ") == ["aliases", "genres", "tags", "artist-rels"] or inc.split("+") == [
        "aliases", "genres", "tags", "artist-rels"]
    assert "python-musicbrainzngs" in responses.calls[0].request.headers["User-Agent"]
    assert clock.now() == pytest.approx(3.0)  # 4 requests, one per second


@responses.activate
def test_lookup_404_and_503(tmp_path: Path) -> None:
    responses.get(f"{WS}/artist/{BLURTONES}", status=404, json={"error": "Not Found"})
    responses.get(f"{WS}/recording/{GLASS}", status=503)
    client, _ = make_client(tmp_path, retries=1)
    with pytest.raises(NotFoundError):
        client.artist(BLURTONES)
    with pytest.raises(ApiUnavailableError, match="503"):
        client.recording(GLASS)


# ------------------------------------------------------------ recorded real responses
def _data_dir() -> Path:
    from musicgraph.config import get_settings

    return Path(os.environ.get("MUSICGRAPH_DATA_DIR") or get_settings().data_dir) / "api_fixtures"


@pytest.mark.integration
def test_recorded_picard_responses_parse() -> None:
    ws = _data_dir() / "musicbrainz_picard_ws_data"
    if not ws.is_dir():
        pytest.fail(f"recorded MusicBrainz responses not found at {ws}")
    artist = parse_artist(json.loads((ws / "artist.json").read_text()))
    assert artist.name == "Ed Sheeran" and artist.begin_year == 1991 and artist.country == "GB"
    rec = parse_recording(json.loads((ws / "recording.json").read_text()))
    assert rec.title == "Thinking Out Loud" and rec.isrcs == ["GBAHS1400099"] and rec.year == 2014
    assert rec.artists[0] == ("b8a7c51f-362c-4dcb-a259-bc6e0095f0a6", "Ed Sheeran")
    parsed = 0
    for path in sorted(ws.glob("*.json")):
        data = json.loads(path.read_text())
        parser = parse_recording if path.name.startswith("recording") else parse_artist
        if not path.name.startswith(("recording", "artist")):
            continue
        if data.get("id") is None:  # the *_null fixtures: every field null
            with pytest.raises(MalformedResponseError, match="no 'id'"):
                parser(data)
            continue
        assert parser(data).mbid == data["id"]
        parsed += 1
    assert parsed >= 12


@pytest.mark.integration
@responses.activate
def test_recorded_lookup_served_through_the_client(tmp_path: Path) -> None:
    ws = _data_dir() / "musicbrainz_picard_ws_data"
    body = (ws / "recording.json").read_text()
    responses.get(f"{WS}/recording/cb2cc207-8125-445c-9ef9-6ea44eee959a", body=body,
                  content_type="application/json")
    client, _ = make_client(tmp_path)
    rec = client.recording("cb2cc207-8125-445c-9ef9-6ea44eee959a")
    assert rec.first_release_date == "2014-06-20"
    assert {t.name for t in rec.tags} >= set()  # tags parse (may be empty)


def test_search_answers_keep_hits_with_an_id_and_refuse_a_missing_list() -> None:
    from musicgraph.loaders.http_cache import MalformedResponseError

    artists = parse_artist_search({"artists": [
        {"id": "a1", "name": "Blurtones", "score": 100, "aliases": [{"name": "The Blurtones"}, {"x": 1}, "bad"]},
        {"name": "no id"}, "not a hit"]})
    assert [(a.mbid, a.aliases) for a in artists] == [("a1", ["The Blurtones"])]
    recordings = parse_recording_search({"recordings": [{"id": "r1", "title": "Glass Harbor"}, {"title": "no id"}]})
    assert [r.mbid for r in recordings] == ["r1"]
    with pytest.raises(MalformedResponseError, match="musicbrainz: artist search has no 'artists' list"):
        parse_artist_search({"recordings": []})
    with pytest.raises(MalformedResponseError, match="musicbrainz: recording search has no 'recordings' list"):
        parse_recording_search({"recordings": None})
