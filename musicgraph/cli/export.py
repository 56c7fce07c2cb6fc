"""Shared ``--export FILE`` / ``--spotify NAME`` handling of ``recommend`` and ``ask`` (no commands of its own)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer


def export_results(results: list[Any], export: Path | None, spotify: str | None, title: str, request: str = "",
                   err: bool = False) -> None:
    """Write ``results`` to a playlist file and/or a Spotify playlist, reporting each on one line.

    Raises ``CliError`` (one line, exit 2) for an unknown file suffix, no songs, or a Spotify failure.
    """
    from musicgraph.cli.core import CliError

    if export is not None:
        from musicgraph.export import write_playlist

        try:
            info = write_playlist(results, export, title=title, request=request)
        except (ValueError, OSError) as exc:
            raise CliError(str(exc)) from exc
        typer.echo(f"wrote {info['tracks']} tracks to {info['path']} ({info['format']})", err=err)
    if spotify is not None:
        from musicgraph.export.spotify import SpotifyExportError, export_to_spotify

        try:
            done = export_to_spotify(results, spotify, description=request or title)
        except SpotifyExportError as exc:
            raise CliError(str(exc)) from exc
        verb = "created" if done.created else "updated"
        missing = f"; not on Spotify: {', '.join(done.not_found[:5])}" if done.not_found else ""
        typer.echo(f"{verb} Spotify playlist {spotify!r} with {done.tracks} tracks: {done.url}{missing}", err=err)
