"""Recommendations as playlist files: XSPF, extended M3U (UTF-8) and JSON.

:func:`write_playlist` picks the format from the file name (``.xspf``, ``.m3u8``/``.m3u``, ``.json``)
and writes atomically (a temporary file in the same folder, then a rename), so a failed export never
leaves half a playlist.

* **XSPF** (https://xspf.org/spec, version 1): ``<playlist version="1" xmlns="http://xspf.org/ns/0/">``
  with ``title``, ``creator``, ``annotation`` (the request), ``date`` (``xsd:dateTime``) and a
  ``trackList``; each ``track`` has ``title``, ``creator`` (the artist), ``album``, ``duration``
  (milliseconds) when known, ``annotation`` (why: the first explanation path), ``location``
  (``https://open.spotify.com/track/<id>``) and ``identifier`` (``spotify:track:<id>``) when the
  catalog knows the Spotify id, and a ``meta`` with the musicgraph song key.
  ``tests/fixtures/xspf/xspf-1.rng`` is a RELAX NG grammar written for the tests from the spec
  (element names, cardinalities and types such as ``anyURI``, ``dateTime`` and
  ``nonNegativeInteger``); every export in the tests is validated against it with lxml.
* **M3U8**: ``#EXTM3U``, ``#PLAYLIST:<title>``, then per track ``#EXTINF:<seconds>,<artist> - <title>``
  and its location: the Spotify URL when known, else a ``spotify:search:`` URI for the song.
* **JSON**: ``{"title", "created", "request", "tracks": [Result.to_dict() + "location", "why"]}``.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape

from musicgraph.graph.results import Result

__all__ = ["FORMATS", "XSPF_NS", "playlist_format", "render_playlist", "write_playlist"]

XSPF_NS = "http://xspf.org/ns/0/"
#: ``meta rel`` of the musicgraph node key of a track.
KEY_REL = "tag:musicgraph.local,2024:song-key"
FORMATS: dict[str, str] = {".xspf": "xspf", ".m3u8": "m3u8", ".m3u": "m3u8", ".json": "json"}


def playlist_format(path: str | Path) -> str:
    """``xspf``, ``m3u8`` or ``json`` from the file name's suffix (:data:`FORMATS`).

    Raises:
        ValueError: any other suffix (the message names the path).
    """
    suffix = Path(path).suffix.lower()
    fmt = FORMATS.get(suffix)
    if fmt is None:
        raise ValueError(f"{path}: unknown playlist format {suffix or '(no suffix)'!r}; use .xspf, .m3u8 or .json")
    return fmt


def _spotify_id(r: Result) -> str | None:
    for name in ("spotify_id", "spotify_uri", "uri"):
        v = r.props.get(name)
        if isinstance(v, str) and v:
            return v.rsplit(":", 1)[-1].rsplit("/", 1)[-1]
    return None


def _why(r: Result) -> str:
    if r.paths:
        return r.paths[0].explain()
    return "; ".join(f"{k}: {', '.join(v[:3])}" for k, v in r.evidence.items() if k != "explain")


def _duration(r: Result) -> int | None:
    v = r.props.get("duration_ms")
    return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 else None


def _location(r: Result) -> str:
    sid = _spotify_id(r)
    if sid:
        return f"https://open.spotify.com/track/{sid}"
    return "spotify:search:" + quote(f"{r.artist or ''} {r.title or r.name}".strip())


def _xml(text: str) -> str:
    # XML 1.0 allows no control characters other than tab, newline and carriage return
    clean = "".join(ch for ch in str(text) if ch in "\t\n\r" or ord(ch) >= 0x20)
    return escape(clean)


def render_xspf(results: Sequence[Result], title: str, request: str = "") -> str:
    """An XSPF version 1 document (see the module docstring)."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    out = ['<?xml version="1.0" encoding="UTF-8"?>', f'<playlist version="1" xmlns="{XSPF_NS}">',
           f"  <title>{_xml(title)}</title>", "  <creator>musicgraph</creator>"]
    if request:
        out.append(f"  <annotation>{_xml(request)}</annotation>")
    out += [f"  <date>{now}</date>", "  <trackList>"]
    for r in results:
        out.append("    <track>")
        sid = _spotify_id(r)
        if sid:
            out.append(f"      <location>https://open.spotify.com/track/{_xml(quote(sid))}</location>")
            out.append(f"      <identifier>spotify:track:{_xml(quote(sid))}</identifier>")
        out.append(f"      <title>{_xml(r.title or r.name)}</title>")
        if r.artist:
            out.append(f"      <creator>{_xml(r.artist)}</creator>")
        why = _why(r)
        if why:
            out.append(f"      <annotation>{_xml(why)}</annotation>")
        album = r.props.get("album")
        if isinstance(album, str) and album:
            out.append(f"      <album>{_xml(album)}</album>")
        dur = _duration(r)
        if dur is not None:
            out.append(f"      <duration>{dur}</duration>")
        out.append(f'      <meta rel="{KEY_REL}">{_xml(r.id)}</meta>')
        out.append("    </track>")
    out += ["  </trackList>", "</playlist>", ""]
    return "\n".join(out)


def render_m3u8(results: Sequence[Result], title: str) -> str:
    """An extended M3U playlist (UTF-8)."""
    lines = ["#EXTM3U", f"#PLAYLIST:{' '.join(title.split())}"]
    for r in results:
        dur = _duration(r)
        seconds = round(dur / 1000) if dur is not None else -1
        label = " ".join(f"{r.artist} - {r.title or r.name}".split()) if r.artist else " ".join(r.name.split())
        lines += [f"#EXTINF:{seconds},{label}", _location(r)]
    return "\n".join(lines) + "\n"


def render_json(results: Sequence[Result], title: str, request: str = "") -> str:
    tracks = [{**r.to_dict(), "location": _location(r), "why": _why(r)} for r in results]
    doc = {"title": title, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "request": request,
           "tracks": tracks}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def render_playlist(results: Sequence[Result], fmt: str, title: str, request: str = "") -> str:
    """The playlist text in ``fmt`` (``xspf``, ``m3u8``, ``json``).

    Args:
        results: the tracks, in playlist order.
        fmt: the format (:func:`playlist_format` maps a file name to it).
        title: the playlist title.
        request: the request the playlist answers (XSPF annotation, JSON ``request``; not in M3U8).

    Raises:
        ValueError: an unknown format.
    """
    if fmt == "xspf":
        return render_xspf(results, title, request)
    if fmt == "m3u8":
        return render_m3u8(results, title)
    if fmt == "json":
        return render_json(results, title, request)
    raise ValueError(f"unknown playlist format {fmt!r}; expected xspf, m3u8 or json")


def write_playlist(results: Sequence[Result], path: str | Path, title: str = "musicgraph", request: str = "") -> dict[str, Any]:
    """Write ``results`` (songs; artists are left out) to ``path`` in the format its suffix names.

    The file is written atomically (a temporary file in the same folder, then a rename).

    Args:
        results: recommendations; only songs are written.
        path: the file (``.xspf``, ``.m3u8``/``.m3u`` or ``.json``); missing folders are created.
        title: the playlist title.
        request: the request the playlist answers (recorded where the format has a place for it).

    Returns:
        ``{"path", "format", "tracks"}``: where it went, the format and the number of songs written.

    Raises:
        ValueError: an unknown suffix, or no song among ``results``.
    """
    path = Path(path)
    fmt = playlist_format(path)
    songs = [r for r in results if r.kind == "song"]
    if not songs:
        raise ValueError("nothing to export: the results hold no songs (use --kind song)")
    text = render_playlist(songs, fmt, title, request)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return {"path": str(path), "format": fmt, "tracks": len(songs)}
