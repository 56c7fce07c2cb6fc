"""Recommendations out of musicgraph: playlist files (XSPF, M3U8, JSON) and Spotify playlists."""

from __future__ import annotations

from musicgraph.export.playlist import FORMATS, playlist_format, render_playlist, write_playlist

__all__ = ["FORMATS", "playlist_format", "render_playlist", "write_playlist"]
