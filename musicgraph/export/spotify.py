"""Create or update a Spotify playlist from recommendations (``--spotify NAME``), through ``spotipy``.

Authorization is OAuth 2.0 with PKCE (:class:`spotipy.oauth2.SpotifyPKCE`): it needs the client id of
your own Spotify app (``MUSICGRAPH_SPOTIFY_CLIENT_ID``) and its redirect URI
(``MUSICGRAPH_SPOTIFY_REDIRECT_URI``, default ``http://127.0.0.1:8888/callback``), never a client secret.
The first run opens the consent page once; the token (and its refresh token) is cached in
``MUSICGRAPH_HOME/cache/spotify-token.json`` (mode 600) and refreshed from there afterwards.

Scopes asked for (:data:`SCOPES`): ``playlist-read-private`` (find your playlist of that name),
``playlist-modify-private`` (create it private, replace its tracks) and ``playlist-modify-public``
(update it if you made it public).

Steps: ``GET /v1/me``; ``GET /v1/me/playlists`` (paged) for a playlist of that name owned by you;
``POST /v1/me/playlists`` (private) when there is none; each song's Spotify URI from the catalog's
``spotify_id``, else ``GET /v1/search`` (``type=track``) with the first hit whose artist has the
same normalized name (:func:`~musicgraph.graph.resolve.artist_key`); ``PUT /v1/playlists/{id}/items``
replaces the tracks (so a rerun updates the playlist instead of appending), ``POST`` adds beyond 100.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from musicgraph.errors import MusicgraphError
from musicgraph.graph.resolve import artist_key, title_key
from musicgraph.graph.results import Result

log = logging.getLogger(__name__)

SCOPES: tuple[str, ...] = ("playlist-read-private", "playlist-modify-private", "playlist-modify-public")
TOKEN_FILE = "spotify-token.json"
_BATCH = 100


class SpotifyExportError(MusicgraphError, RuntimeError):
    """The playlist cannot be written (no client id, no song found on Spotify, an API error)."""


@dataclass(slots=True)
class SpotifyExport:
    """What :func:`export_to_spotify` did."""

    playlist_id: str
    url: str
    created: bool
    tracks: int
    not_found: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"playlist_id": self.playlist_id, "url": self.url, "created": self.created, "tracks": self.tracks,
                "not_found": list(self.not_found)}


def auth_manager(settings: Any = None, open_browser: bool = True) -> Any:
    """The PKCE auth manager with the token cached under ``MUSICGRAPH_HOME/cache`` (see the module docstring).

    Args:
        settings: the settings with the client id and redirect URI (default: the configured ones).
        open_browser: open the authorization page in a web browser (False: spotipy prints its URL).

    Raises:
        SpotifyExportError: ``MUSICGRAPH_SPOTIFY_CLIENT_ID`` is not set.
    """
    from spotipy.cache_handler import CacheFileHandler
    from spotipy.oauth2 import SpotifyPKCE

    from musicgraph.config import get_settings

    s = settings or get_settings()
    if not s.spotify_client_id:
        raise SpotifyExportError(
            "--spotify needs the client id of your Spotify app: set MUSICGRAPH_SPOTIFY_CLIENT_ID "
            "(create an app at https://developer.spotify.com/dashboard and add the redirect URI "
            f"{s.spotify_redirect_uri}; no client secret is needed)"
        )
    cache_path = Path(s.cache_dir) / TOKEN_FILE
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    if not cache_path.exists():
        cache_path.touch(mode=0o600)
    os.chmod(cache_path, 0o600)
    return SpotifyPKCE(client_id=s.spotify_client_id, redirect_uri=s.spotify_redirect_uri, scope=" ".join(SCOPES),
                       cache_handler=CacheFileHandler(cache_path=str(cache_path)), open_browser=open_browser)


def _uri(sp: Any, r: Result) -> str | None:
    for name in ("spotify_id", "spotify_uri", "uri"):
        v = r.props.get(name)
        if isinstance(v, str) and v:
            return v if v.startswith("spotify:track:") else "spotify:track:" + v.rsplit("/", 1)[-1]
    if not r.artist:
        return None
    title = r.title or r.name
    found = sp.search(q=f'track:"{title}" artist:"{r.artist}"', type="track", limit=5)
    want_a, want_t = artist_key(r.artist), title_key(title)
    items = ((found or {}).get("tracks") or {}).get("items") or []
    for item in items:
        names = [artist_key(a.get("name", "")) for a in item.get("artists") or []]
        if want_a in names and title_key(item.get("name", "")) == want_t and item.get("uri"):
            return str(item["uri"])
    return None


def _find_playlist(sp: Any, user_id: str, name: str) -> dict[str, Any] | None:
    page = sp.current_user_playlists(limit=50)
    while page:
        for pl in page.get("items") or []:
            if pl and pl.get("name") == name and (pl.get("owner") or {}).get("id") == user_id:
                return pl
        page = sp.next(page) if page.get("next") else None
    return None


def export_to_spotify(results: Sequence[Result], name: str, *, client: Any = None, description: str = "") -> SpotifyExport:
    """Create (private) or update the playlist ``name`` of the authorized user with the songs of ``results``.

    Args:
        results: recommendations (songs; artists are left out).
        name: the playlist name.
        client: a ready ``spotipy.Spotify`` (tests); default: one with :func:`auth_manager`.
        description: the playlist description (e.g. the request).

    Returns:
        The playlist's id and URL, whether it was created (else its tracks were replaced), the
        number of tracks and the songs not found on Spotify.

    Raises:
        SpotifyExportError: no client id, no song found on Spotify, or the API refused.
    """
    import spotipy

    if not name.strip():
        raise SpotifyExportError("--spotify needs a playlist name")
    sp = client or spotipy.Spotify(auth_manager=auth_manager())
    try:
        me = sp.current_user()
        user_id = str(me["id"])
        uris, missing = [], []
        for r in results:
            if r.kind != "song":
                continue
            uri = _uri(sp, r)
            if uri is None:
                missing.append(r.display())
            elif uri not in uris:
                uris.append(uri)
        if not uris:
            raise SpotifyExportError(f"none of the {len(missing)} songs was found on Spotify; playlist {name!r} left as it was")
        existing = _find_playlist(sp, user_id, name)
        created = existing is None
        if existing is None:
            existing = sp.current_user_playlist_create(name, public=False, description=description[:300])
        pid = str(existing["id"])
        sp.playlist_replace_items(pid, uris[:_BATCH])
        for start in range(_BATCH, len(uris), _BATCH):
            sp.playlist_add_items(pid, uris[start : start + _BATCH])
        if description and not created:
            sp.playlist_change_details(pid, description=description[:300])
    except spotipy.SpotifyException as exc:
        raise SpotifyExportError(f"Spotify refused: HTTP {exc.http_status} {exc.msg}".strip()) from exc
    url = str((existing.get("external_urls") or {}).get("spotify") or f"https://open.spotify.com/playlist/{pid}")
    return SpotifyExport(pid, url, created, len(uris), missing)
