"""Listening-history readers: every format on files written here, malformed files as one-line file:line errors,
the Last.fm recorded page (integration), the ListenBrainz client's paging on constructed answers."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest
import requests
import responses

from musicgraph.loaders.history import HistoryFormatError, lastfm_plays, listenbrainz_plays, read_history
from musicgraph.loaders.http_cache import HttpCache, HttpClient, RetryPolicy
from musicgraph.loaders.listenbrainz import ListenBrainzClient
from musicgraph.loaders.ratelimit import FakeClock, RateLimiter

HIST = Path(__file__).resolve().parents[1] / "fixtures" / "history"


def test_spotify_streaming_history() -> None:
    read = read_history([HIST / "StreamingHistory_music_0.json"])
    assert len(read.plays) == 13 and read.not_music == 0 and read.formats == {"spotify": 13}
    first = read.plays[0]
    assert (first.artist, first.title, first.ms_played, first.source) == ("Velvet Hours", "Paper Lanterns", 200000, "spotify")
    assert first.ts == 1704441600  # 2024-01-05 08:00 UTC
    assert first.where == f"{HIST / 'StreamingHistory_music_0.json'}:2"
    assert read.plays[-1].where.endswith(":14")


def test_spotify_podcast_file_is_not_music() -> None:
    read = read_history([HIST / "StreamingHistory_podcast_0.json"])
    assert read.plays == [] and read.not_music == 1


def test_spotify_extended_history_skips_episodes_and_keeps_skips() -> None:
    read = read_history([HIST / "endsong_0.json"])
    assert [(p.title, p.ms_played, p.skipped) for p in read.plays] == [
        ("Winter Orchard", 210000, None), ("Winter Orchard", 100000, True), ("Riverstone", 5000, True),
        ("Chrome Sunset", 230000, False)]
    assert read.not_music == 1  # the podcast episode
    assert read.plays[0].uri == "spotify:track:0000000000000000000001" and read.plays[0].source == "spotify-extended"
    # the export's personal fields are not carried anywhere
    assert not any("192.0.2.1" in repr(p) or "never-read" in repr(p) for p in read.plays)


def test_listenbrainz_jsonl_json_array_and_export_zip(tmp_path: Path) -> None:
    read = read_history([HIST / "listens.jsonl"])
    assert [(p.artist, p.title, p.ts, p.ms_played) for p in read.plays] == [
        ("Sunday Static", "Soft Focus", 1700000000, None), ("Sunday Static", "Soft Focus", 1700000300, None),
        ("Copper Owls feat. Mara Quell", "Evening Hymn", 1700000600, None)]
    assert read.plays[2].where.endswith("listens.jsonl:4")  # line 3 is blank
    as_array = tmp_path / "listens-export.json"
    as_array.write_text(json.dumps([json.loads(x) for x in (HIST / "listens.jsonl").read_text().splitlines() if x.strip()]))
    assert [p.title for p in read_history([as_array]).plays] == [p.title for p in read.plays]
    archive = tmp_path / "listenbrainz_export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("user.json", '{"user_name": "someone"}')
        zf.writestr("listens/2023/11.jsonl", (HIST / "listens.jsonl").read_text())
    assert len(read_history([archive]).plays) == 3


def test_lastfm_page_file_skips_now_playing() -> None:
    read = read_history([HIST / "recenttracks_page.json"])
    assert [(p.artist, p.title, p.ts, p.source) for p in read.plays] == [
        ("Lumen Drive", "Tunnel Vision", 1700001000, "lastfm"), ("Paper Comets", "Comet Tail", 1700002000, "lastfm")]


def test_directory_reads_every_history_file(tmp_path: Path) -> None:
    d = tmp_path / "my_spotify_data"
    d.mkdir()
    for name in ("StreamingHistory_music_0.json", "StreamingHistory_podcast_0.json", "endsong_0.json"):
        (d / name).write_bytes((HIST / name).read_bytes())
    (d / "Userdata.json").write_text('{"username": "x"}')  # other files of the export are not read
    read = read_history([d])
    assert len(read.plays) == 13 + 4 and read.not_music == 2 and len(read.files) == 3


@pytest.mark.parametrize(
    "name,text,message",
    [
        ("StreamingHistory0.json", '[\n{"endTime": "2024-01-05 08:00", "artistName": "A", "trackName": "T", "msPlayed": 1}\n'
         ',\n{"endTime": "2024-01-05 08:00", "artistName": "A", "trackName": "T"}\n]', r"StreamingHistory0\.json:4: missing field 'msPlayed'"),
        ("StreamingHistory0.json", '[{"endTime": "5 Jan 2024", "artistName": "A", "trackName": "T", "msPlayed": 1}]',
         r":1: field 'endTime' is '5 Jan 2024', expected YYYY-MM-DD HH:MM"),
        ("StreamingHistory0.json", '[\n{"endTime": "2024-01-05 08:00", "artistName": "A", "trackName": "T", "msPlayed": -5}]',
         r":2: field 'msPlayed' must not be negative"),
        ("StreamingHistory0.json", '[\n{"endTime": "2024-01-05 08:00", "artistName": "", "trackName": "T", "msPlayed": 5}]',
         r":2: field 'artistName' is empty"),
        ("StreamingHistory0.json", '[\n{"endTime": "2024-01-05 08:00",\n "artistName": "A" "trackName": "T"}]',
         r"StreamingHistory0\.json:3: not valid JSON"),
        ("StreamingHistory0.json", '[\n{"endTime": "2024-01-05 08:00", "artistName": "A", "trackName": "T", "msPlayed": 5}\n',
         r":3: the JSON array is not closed"),
        ("endsong_0.json", '[\n{"ts": "2023-06-01T20:00:00Z", "ms_played": "long", "master_metadata_track_name": "T",'
         ' "master_metadata_album_artist_name": "A"}]', r"endsong_0\.json:2: field 'ms_played' must be a whole number"),
        ("endsong_0.json", '[{"ts": "2023-06-01T20:00:00Z", "ms_played": 5000, "master_metadata_track_name": "T",'
         ' "master_metadata_album_artist_name": "A", "skipped": "yes"}]', r":1: field 'skipped' must be true, false or null"),
        ("mixed.json", '[{"endTime": "2024-01-05 08:00", "artistName": "A", "trackName": "T", "msPlayed": 5},\n'
         '{"listened_at": 1, "track_metadata": {"artist_name": "A", "track_name": "T"}}]', r"mixed\.json:2: a listenbrainz record in a spotify file"),
        ("listens.jsonl", '{"listened_at": 1, "track_metadata": {"artist_name": "A", "track_name": "T"}}\n{"listened_at": 2}\n',
         r"listens\.jsonl:2: missing object 'track_metadata'"),
        ("listens.jsonl", '{"listened_at": 1, "track_metadata": {"artist_name": "A", "track_name": "T"}}\n{oops\n',
         r"listens\.jsonl:2: not valid JSON"),
        ("other.json", '[{"name": "a playlist", "tracks": []}]', r"other\.json:1: not a listening-history record"),
        ("empty.json", "   \n", r"empty\.json:1: the file is empty"),
    ],
)
def test_malformed_files_are_one_line_errors_with_file_and_line(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(HistoryFormatError, match=message) as info:
        read_history([path])
    assert "\n" not in str(info.value)


def test_missing_file_and_not_utf8(tmp_path: Path) -> None:
    with pytest.raises(HistoryFormatError, match="no such file"):
        read_history([tmp_path / "nope.json"])
    bad = tmp_path / "StreamingHistory0.json"
    bad.write_bytes(b"\xff\xfe[\x00]")
    with pytest.raises(HistoryFormatError, match="not UTF-8"):
        read_history([bad])
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(HistoryFormatError, match="no listening-history file"):
        read_history([tmp_path / "empty_dir"])


def _lastfm_client(tmp_path: Path):
    from musicgraph.loaders.lastfm import LastFmClient

    http = HttpClient("lastfm", RateLimiter(4.0, clock=FakeClock(start=0.0), name="lastfm"),
                      HttpCache(tmp_path / "http.sqlite"), session=requests.Session(), retry=RetryPolicy(retries=0))
    return LastFmClient(http, api_key="KEY")


@responses.activate
def test_lastfm_plays_through_the_client(tmp_path: Path) -> None:
    from musicgraph.loaders import lastfm

    page = json.loads((HIST / "recenttracks_page.json").read_text())
    responses.get(lastfm.API_ROOT, json=page)
    read = lastfm_plays("someone", _lastfm_client(tmp_path))
    assert [p.title for p in read.plays] == ["Tunnel Vision", "Comet Tail"] and read.files == ["lastfm:someone"]
    assert "user=someone" in responses.calls[0].request.url


@pytest.mark.integration
def test_recorded_lastfm_page_reads_as_a_history_file() -> None:
    from musicgraph.config import get_settings

    path = (Path(os.environ.get("MUSICGRAPH_DATA_DIR") or get_settings().data_dir) / "api_fixtures"
            / "lastfm_domchristie" / "user.getRecentTracks_domchristie.json")
    if not path.is_file():
        pytest.fail(f"recorded Last.fm response not found at {path}")
    read = read_history([path])
    assert len(read.plays) == 10 and read.plays[0].artist == "Kelpe"
    assert read.plays[0].title == "Single Stripe (Original Mix)" and read.plays[0].ts == 1373622302


@responses.activate
def test_listenbrainz_client_pages_by_max_ts(tmp_path: Path) -> None:
    url = "https://api.listenbrainz.org/1/user/some%20one/listens"

    def listen(ts: int, title: str) -> dict:
        return {"listened_at": ts, "track_metadata": {"artist_name": "Lumen Drive", "track_name": title}}

    responses.get(url, json={"payload": {"count": 2, "user_id": "some one",
                                         "listens": [listen(300, "Overpass"), listen(200, "Tunnel Vision")]}},
                  match=[responses.matchers.query_param_matcher({"count": "2"})])
    responses.get(url, json={"payload": {"count": 1, "listens": [listen(100, "Mercury Lights")]}},
                  match=[responses.matchers.query_param_matcher({"count": "2", "max_ts": "200"})])
    http = HttpClient("listenbrainz", RateLimiter(2.0, clock=FakeClock(start=0.0), name="lb"),
                      HttpCache(tmp_path / "http.sqlite"), session=requests.Session(), retry=RetryPolicy(retries=0))
    client = ListenBrainzClient(http)
    got = list(client.iter_listens("some one", count=2))
    assert [x["track_metadata"]["track_name"] for x in got] == ["Overpass", "Tunnel Vision", "Mercury Lights"]
    read = listenbrainz_plays("some one", client, count=2)  # served from the cache now
    assert [p.ts for p in read.plays] == [300, 200, 100] and len(responses.calls) == 2
