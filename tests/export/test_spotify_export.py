"""--spotify NAME through spotipy against constructed Web API answers (shapes from Spotify's Web API
reference: the current user, a paging object of simplified playlists, search results, the playlist object
and snapshot ids); the PKCE auth manager's scopes and token cache."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import pytest
import responses
import spotipy

from musicgraph.config import Settings
from musicgraph.export.spotify import SCOPES, SpotifyExportError, auth_manager, export_to_spotify
from musicgraph.graph.results import Result

API = "https://api.spotify.com/v1/"


def songs() -> list[Result]:
    return [
        Result(1, "song", "tricky|overcome", "Overcome", 1.0, artist="Tricky", title="Overcome",
               props={"spotify_id": "4bLYiwPXc9o0D7Nlwa6W5W"}),
        Result(2, "song", "mazzy star|fade into you", "Fade Into You", 0.9, artist="Mazzy Star", title="Fade Into You"),
        Result(3, "song", "nobody|nowhere", "Nowhere", 0.8, artist="Nobody", title="Nowhere"),
    ]


def playlist(pid: str, name: str, owner: str = "user123") -> dict:
    return {"id": pid, "name": name, "type": "playlist", "uri": f"spotify:playlist:{pid}", "public": False,
            "collaborative": False, "owner": {"id": owner, "type": "user"},
            "external_urls": {"spotify": f"https://open.spotify.com/playlist/{pid}"},
            "items": {"href": f"{API}playlists/{pid}/items", "total": 0}}


def paging(items: list, nxt: str | None = None) -> dict:
    return {"href": f"{API}me/playlists?offset=0&limit=50", "items": items, "limit": 50, "next": nxt, "offset": 0,
            "previous": None, "total": len(items)}


def search_answer(*tracks: tuple[str, str, str]) -> dict:
    return {"tracks": {"href": f"{API}search", "limit": 5, "next": None, "offset": 0, "previous": None,
                       "total": len(tracks),
                       "items": [{"id": uri.rsplit(":", 1)[1], "uri": uri, "name": name, "type": "track",
                                  "artists": [{"name": artist, "type": "artist"}]} for name, artist, uri in tracks]}}


def mock_common() -> None:
    responses.get(f"{API}me/", json={"id": "user123", "display_name": "Test", "type": "user", "uri": "spotify:user:user123"})
    responses.get(f"{API}search", json=search_answer(
        ("Fade Into You - Remastered", "Mazzy Star", "spotify:track:1LzNfuep1bnAUR9skqdHCK"),
        ("Fade Into You", "Some Cover Band", "spotify:track:0000000000000000000000")),
        match=[responses.matchers.query_param_matcher({"q": 'track:"Fade Into You" artist:"Mazzy Star"', "type": "track",
                                                       "limit": "5", "offset": "0"})])
    responses.get(f"{API}search", json=search_answer(),
                  match=[responses.matchers.query_param_matcher({"q": 'track:"Nowhere" artist:"Nobody"', "type": "track",
                                                                 "limit": "5", "offset": "0"})])


@responses.activate
def test_creates_a_private_playlist_with_resolved_tracks() -> None:
    mock_common()
    responses.get(f"{API}me/playlists", json=paging([playlist("other1", "Something else")]))
    responses.post(f"{API}me/playlists", json=playlist("new123", "for you"), status=201)
    responses.put(f"{API}playlists/new123/items", json={"snapshot_id": "s1"})
    done = export_to_spotify(songs(), "for you", client=spotipy.Spotify(auth="TOKEN"), description="rainy night")
    assert done.created and done.playlist_id == "new123" and done.tracks == 2
    assert done.not_found == ["Nobody - Nowhere"] and done.url == "https://open.spotify.com/playlist/new123"
    create = next(c for c in responses.calls if c.request.method == "POST")
    assert json.loads(create.request.body) == {"name": "for you", "public": False, "collaborative": False,
                                               "description": "rainy night"}
    put = next(c for c in responses.calls if c.request.method == "PUT")
    assert json.loads(put.request.body) == {"uris": ["spotify:track:4bLYiwPXc9o0D7Nlwa6W5W",
                                                     "spotify:track:1LzNfuep1bnAUR9skqdHCK"]}  # not the cover
    assert put.request.headers["Authorization"] == "Bearer TOKEN"


@responses.activate
def test_updates_the_existing_playlist_instead_of_appending() -> None:
    mock_common()
    responses.get(f"{API}me/playlists", json=paging([playlist("mine9", "for you"), playlist("theirs", "for you", "other")]))
    responses.put(f"{API}playlists/mine9/items", json={"snapshot_id": "s2"})
    responses.put(f"{API}playlists/mine9", body="")
    done = export_to_spotify(songs(), "for you", client=spotipy.Spotify(auth="TOKEN"), description="again")
    assert not done.created and done.playlist_id == "mine9"
    assert not [c for c in responses.calls if c.request.method == "POST"]  # nothing created, nothing appended
    assert any(c.request.url.endswith("/playlists/mine9") and json.loads(c.request.body) == {"description": "again"}
               for c in responses.calls if c.request.method == "PUT")


@responses.activate
def test_no_song_found_changes_nothing_and_api_errors_are_one_line() -> None:
    mock_common()
    with pytest.raises(SpotifyExportError, match="none of the 1 songs was found"):
        export_to_spotify(songs()[2:], "for you", client=spotipy.Spotify(auth="TOKEN"))
    assert all(c.request.method == "GET" for c in responses.calls)
    responses.get(f"{API}me/playlists", json={"error": {"status": 403, "message": "Insufficient client scope"}}, status=403)
    with pytest.raises(SpotifyExportError, match="HTTP 403"):
        export_to_spotify(songs()[:1], "for you", client=spotipy.Spotify(auth="TOKEN", retries=0, status_retries=0))


def test_pkce_auth_manager_scopes_and_cached_token(tmp_path: Path) -> None:
    with pytest.raises(SpotifyExportError, match="MUSICGRAPH_SPOTIFY_CLIENT_ID"):
        auth_manager(Settings(home=tmp_path))
    s = Settings(home=tmp_path, spotify_client_id="my-client-id")
    am = auth_manager(s, open_browser=False)
    assert set(am.scope.split()) == set(SCOPES) and am.client_id == "my-client-id"
    cache = s.cache_dir / "spotify-token.json"
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    cache.write_text(json.dumps({"access_token": "cached-token", "token_type": "Bearer", "expires_in": 3600,
                                 "refresh_token": "r", "scope": " ".join(SCOPES), "expires_at": int(time.time()) + 3600}))
    with responses.RequestsMock():  # any network call would fail the test
        assert am.get_access_token(check_cache=True) == "cached-token"
