"""Playlist files: XSPF valid against a RELAX NG grammar of the XSPF 1 spec (tests/fixtures/xspf/xspf-1.rng,
checked here to reject invalid documents too), extended M3U, JSON; atomic writes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from lxml import etree

from musicgraph.export import write_playlist
from musicgraph.export.playlist import KEY_REL, XSPF_NS, render_xspf
from musicgraph.graph.results import ExplanationPath, Result
from musicgraph.graph.schema import NodeRef

RNG = Path(__file__).resolve().parents[1] / "fixtures" / "xspf" / "xspf-1.rng"


@pytest.fixture(scope="module")
def schema() -> etree.RelaxNG:
    return etree.RelaxNG(etree.parse(str(RNG)))


def results() -> list[Result]:
    path = ExplanationPath([NodeRef("User", "me:t"), NodeRef("Artist", "portishead"), NodeRef("Song", "tricky|overcome")],
                 ["you (t)", "Portishead", "Overcome"], ["LISTENED_TO", "<-PERFORMED_BY"], 0.1,
                 note="you played Portishead 212 times")
    return [
        Result(1, "song", "tricky|overcome", "Overcome", 0.9, artist="Tricky", title="Overcome", paths=[path],
               props={"spotify_id": "4bLYiwPXc9o0D7Nlwa6W5W", "album": "Maxinquaye", "duration_ms": 275000}),
        Result(2, "song", "a|b & c", "B & C <live>", 0.5, artist="Ärtist \"Q\"", title="B & C <live>",
               evidence={"mood": ["sad"]}, props={"duration_ms": 12.7}),
        Result(3, "artist", "massive attack", "Massive Attack", 0.4),
    ]


def test_xspf_is_valid_and_carries_the_tracks(tmp_path: Path, schema) -> None:
    out = write_playlist(results(), tmp_path / "x.xspf", title="for you & me", request="rainy <night>")
    assert out == {"path": str(tmp_path / "x.xspf"), "format": "xspf", "tracks": 2}  # the artist row is left out
    doc = etree.parse(str(tmp_path / "x.xspf"))
    assert schema.validate(doc), schema.error_log
    ns = {"x": XSPF_NS}
    tracks = doc.findall(".//x:track", ns)
    assert [t.findtext("x:title", namespaces=ns) for t in tracks] == ["Overcome", "B & C <live>"]
    assert tracks[0].findtext("x:location", namespaces=ns) == "https://open.spotify.com/track/4bLYiwPXc9o0D7Nlwa6W5W"
    assert tracks[0].findtext("x:identifier", namespaces=ns) == "spotify:track:4bLYiwPXc9o0D7Nlwa6W5W"
    assert tracks[0].findtext("x:annotation", namespaces=ns) == (
        "you played Portishead 212 times: you (t) → listened to → Portishead → performs → Overcome")
    assert tracks[0].findtext("x:duration", namespaces=ns) == "275000"
    assert tracks[1].findtext("x:creator", namespaces=ns) == 'Ärtist "Q"' and tracks[1].find("x:location", ns) is None
    assert tracks[1].findtext("x:duration", namespaces=ns) == "12"
    assert [m.text for m in doc.findall(f".//x:meta[@rel='{KEY_REL}']", ns)] == ["tricky|overcome", "a|b & c"]
    assert doc.findtext("x:annotation", namespaces=ns) == "rainy <night>"


def test_the_schema_rejects_what_the_spec_forbids(schema) -> None:
    good = render_xspf(results()[:1], "t")
    assert schema.validate(etree.fromstring(good.encode()))
    broken = {
        "no trackList": good.replace("<trackList>", "<x>").replace("</trackList>", "</x>"),
        "negative duration": good.replace("<duration>275000</duration>", "<duration>-1</duration>"),
        "two titles": good.replace("<title>Overcome</title>", "<title>Overcome</title><title>Again</title>"),
        "date not a dateTime": re.sub(r"<date>[^<]*</date>", "<date>yesterday</date>", good),
        "wrong version": good.replace('version="1"', 'version="2"'),
        "wrong namespace": good.replace(XSPF_NS, "http://example.org/ns/"),
    }
    for what, text in broken.items():
        assert not schema.validate(etree.fromstring(text.encode())), what


def test_m3u8_and_json(tmp_path: Path) -> None:
    write_playlist(results(), tmp_path / "x.m3u8", title="for you")
    lines = (tmp_path / "x.m3u8").read_text(encoding="utf-8").splitlines()
    assert lines == [
        "#EXTM3U", "#PLAYLIST:for you",
        "#EXTINF:275,Tricky - Overcome", "https://open.spotify.com/track/4bLYiwPXc9o0D7Nlwa6W5W",
        '#EXTINF:0,Ärtist "Q" - B & C <live>', "spotify:search:%C3%84rtist%20%22Q%22%20B%20%26%20C%20%3Clive%3E",
    ]
    write_playlist(results(), tmp_path / "x.json", title="for you", request="r")
    doc = json.loads((tmp_path / "x.json").read_text(encoding="utf-8"))
    assert doc["title"] == "for you" and doc["request"] == "r" and len(doc["tracks"]) == 2
    assert doc["tracks"][0]["id"] == "tricky|overcome" and doc["tracks"][0]["why"].startswith("you played Portishead")
    assert doc["tracks"][1]["why"] == "mood: sad"


def test_bad_suffix_or_no_songs_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown playlist format '.txt'"):
        write_playlist(results(), tmp_path / "x.txt")
    with pytest.raises(ValueError, match="no songs"):
        write_playlist(results()[2:], tmp_path / "x.xspf")
    assert list(tmp_path.iterdir()) == []
