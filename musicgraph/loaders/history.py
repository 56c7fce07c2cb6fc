"""A person's listening history, read from the files and services people actually have.

Every reader yields :class:`Play` records (artist, title, time, milliseconds played, skipped) and is
strict: a record that does not follow its format raises :class:`HistoryFormatError` with
``file:line`` and what is wrong, before anything is imported (``musicgraph me import`` is all or
nothing). Records that are valid but are not music (podcast episodes, audiobooks) are counted, not
imported.

Formats (detected from the content, whatever the file is called):

* **Spotify account data** (``StreamingHistory*.json``, ``StreamingHistory_music_*.json``): a JSON
  array of ``{"endTime": "YYYY-MM-DD HH:MM", "artistName", "trackName", "msPlayed"}``;
  ``StreamingHistory_podcast_*.json`` (``podcastName``/``episodeName``) is skipped as not music.
* **Spotify extended streaming history** (``endsong_*.json``, ``Streaming_History_Audio_*.json``): a
  JSON array of ``{"ts": ISO-8601, "ms_played", "master_metadata_track_name",
  "master_metadata_album_artist_name", "master_metadata_album_album_name", "spotify_track_uri",
  "skipped", ...}``; episodes and audiobook chapters have a null track name and are skipped. The
  other fields of this export (IP address, user agent, country, user name) are never read.
* **ListenBrainz export**: a JSON array of listens, a JSON Lines file (one listen a line, as in the
  ``listens/YYYY/M.jsonl`` members of the export archive), the export ``.zip`` itself, or an API
  page ``{"payload": {"listens": [...]}}``; a listen is ``{"listened_at": unix seconds,
  "track_metadata": {"artist_name", "track_name", "release_name", "additional_info"}}``.
* **Last.fm** ``user.getRecentTracks`` JSON pages saved to a file (``{"recenttracks": ...}``, or a
  list of such pages), and live through :class:`~musicgraph.loaders.lastfm.LastFmClient`
  (:func:`lastfm_plays`).

A directory is read as an unpacked export: every ``*.json``/``*.jsonl`` in it whose name matches one
of the formats above (``StreamingHistory*``, ``endsong_*``, ``Streaming_History_Audio_*``,
``listens*``, ``*.jsonl``). Scrobbles and listens carry no play time (``ms_played`` is None): both
services record a listen only after half the track or four minutes were played.
"""

from __future__ import annotations

import json
import logging
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from musicgraph.errors import MusicgraphError

log = logging.getLogger(__name__)

__all__ = [
    "HistoryFormatError",
    "HistoryRead",
    "Play",
    "lastfm_plays",
    "listenbrainz_plays",
    "read_history",
]

#: Name patterns of the history files inside a directory (lower-cased glob-like prefixes).
_DIR_PREFIXES = ("streaminghistory", "endsong", "streaming_history_audio", "listens")


class HistoryFormatError(MusicgraphError, ValueError):
    """A history file (or API answer) that does not follow its format; the message is one line with
    ``file:line`` where it applies."""


@dataclass(frozen=True, slots=True)
class Play:
    """One play of a track.

    Attributes:
        artist: the artist name as the source wrote it.
        title: the track title as the source wrote it.
        ts: when it was played (Unix seconds, UTC), when known.
        ms_played: how long it played; None for scrobbles/listens (counted as a full play).
        skipped: the listener skipped it (Spotify's extended history only; None when not recorded).
        album: the album name, when given.
        source: ``spotify``, ``spotify-extended``, ``listenbrainz`` or ``lastfm``.
        uri: the Spotify track URI, when given.
        where: ``file:line`` (or the API request) of the record, for messages.
    """

    artist: str
    title: str
    ts: int | None
    ms_played: int | None
    skipped: bool | None = None
    album: str = ""
    source: str = ""
    uri: str | None = None
    where: str = ""


@dataclass(slots=True)
class HistoryRead:
    """What reading one or more inputs gave: the plays, and what was left out and why."""

    plays: list[Play]
    files: list[str]
    not_music: int = 0
    formats: dict[str, int] | None = None

    def extend(self, other: HistoryRead) -> None:
        self.plays += other.plays
        self.files += other.files
        self.not_music += other.not_music
        fm = dict(self.formats or {})
        for k, v in (other.formats or {}).items():
            fm[k] = fm.get(k, 0) + v
        self.formats = fm


# ------------------------------------------------------------------------------ JSON with lines
def _json_elements(text: str, name: str) -> Iterator[tuple[int, Any]]:
    """The elements of a top-level JSON array with the line each starts on; a JSON object is one element."""
    dec = json.JSONDecoder()
    n = len(text)
    pos = 0
    line = 1

    def skip(p: int) -> int:
        nonlocal line
        while p < n and text[p] in " \t\r\n\ufeff":
            if text[p] == "\n":
                line += 1
            p += 1
        return p

    def decode(p: int) -> tuple[Any, int]:
        try:
            return dec.raw_decode(text, p)
        except json.JSONDecodeError as exc:
            raise HistoryFormatError(f"{name}:{exc.lineno}: not valid JSON ({exc.msg}, column {exc.colno})") from exc

    pos = skip(pos)
    if pos >= n:
        raise HistoryFormatError(f"{name}:1: the file is empty")
    if text[pos] != "[":
        obj, end = decode(pos)
        start = line
        line += text.count("\n", pos, end)
        if skip(end) < n:
            raise HistoryFormatError(f"{name}:{line}: unexpected data after the JSON value")
        yield start, obj
        return
    pos = skip(pos + 1)
    if pos < n and text[pos] == "]":
        return
    while True:
        start = line
        obj, end = decode(pos)
        line += text.count("\n", pos, end)
        yield start, obj
        pos = skip(end)
        if pos >= n:
            raise HistoryFormatError(f"{name}:{line}: the JSON array is not closed (missing ']')")
        if text[pos] == "]":
            if skip(pos + 1) < n:
                raise HistoryFormatError(f"{name}:{line}: unexpected data after the JSON array")
            return
        if text[pos] != ",":
            raise HistoryFormatError(f"{name}:{line}: expected ',' or ']' between records, found {text[pos]!r}")
        pos = skip(pos + 1)


def _jsonl_elements(text: str, name: str) -> Iterator[tuple[int, Any]]:
    for i, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            yield i, json.loads(raw)
        except json.JSONDecodeError as exc:
            raise HistoryFormatError(f"{name}:{i}: not valid JSON ({exc.msg}, column {exc.colno})") from exc


# ------------------------------------------------------------------------------ field checks
def _str(rec: Mapping[str, Any], key: str, where: str, *, nullable: bool = False) -> str | None:
    if key not in rec:
        raise HistoryFormatError(f"{where}: missing field {key!r}")
    value = rec[key]
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise HistoryFormatError(f"{where}: field {key!r} must be a string, got {type(value).__name__}")
    return value


def _int(rec: Mapping[str, Any], key: str, where: str) -> int:
    if key not in rec:
        raise HistoryFormatError(f"{where}: missing field {key!r}")
    value = rec[key]
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        raise HistoryFormatError(f"{where}: field {key!r} must be a whole number, got {value!r}")
    if value < 0:
        raise HistoryFormatError(f"{where}: field {key!r} must not be negative, got {value}")
    return value


def _time(value: str, fmt: str | None, where: str, key: str) -> int:
    try:
        if fmt is not None:
            dt = datetime.strptime(value, fmt).replace(tzinfo=UTC)
        else:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=UTC)
    except ValueError as exc:
        want = "YYYY-MM-DD HH:MM" if fmt else "an ISO-8601 time such as 2021-03-04T12:34:56Z"
        raise HistoryFormatError(f"{where}: field {key!r} is {value!r}, expected {want}") from exc
    return int(dt.timestamp())


def _nonblank(value: str | None, key: str, where: str) -> str:
    if value is None or not value.strip():
        raise HistoryFormatError(f"{where}: field {key!r} is empty")
    return value.strip()


# ------------------------------------------------------------------------------ record parsers
def _spotify(rec: Mapping[str, Any], where: str) -> Play:
    artist = _nonblank(_str(rec, "artistName", where), "artistName", where)
    title = _nonblank(_str(rec, "trackName", where), "trackName", where)
    ts = _time(_str(rec, "endTime", where) or "", "%Y-%m-%d %H:%M", where, "endTime")
    return Play(artist, title, ts, _int(rec, "msPlayed", where), None, "", "spotify", None, where)


def _spotify_extended(rec: Mapping[str, Any], where: str) -> Play | None:
    ts = _time(_str(rec, "ts", where) or "", None, where, "ts")
    ms = _int(rec, "ms_played", where)
    title = _str(rec, "master_metadata_track_name", where, nullable=True) if "master_metadata_track_name" in rec else None
    artist = (_str(rec, "master_metadata_album_artist_name", where, nullable=True)
              if "master_metadata_album_artist_name" in rec else None)
    if title is None and artist is None:
        if "master_metadata_track_name" not in rec and not any(k in rec for k in ("episode_name", "audiobook_title")):
            raise HistoryFormatError(f"{where}: missing field 'master_metadata_track_name'")
        return None  # a podcast episode or audiobook chapter: not music
    artist = _nonblank(artist, "master_metadata_album_artist_name", where)
    title = _nonblank(title, "master_metadata_track_name", where)
    skipped = rec.get("skipped")
    if skipped is not None and not isinstance(skipped, bool):
        raise HistoryFormatError(f"{where}: field 'skipped' must be true, false or null, got {skipped!r}")
    album = rec.get("master_metadata_album_album_name")
    uri = rec.get("spotify_track_uri")
    return Play(artist, title, ts, ms, skipped, album if isinstance(album, str) else "", "spotify-extended",
                uri if isinstance(uri, str) else None, where)


def _listenbrainz(rec: Mapping[str, Any], where: str) -> Play:
    meta = rec.get("track_metadata")
    if not isinstance(meta, Mapping):
        raise HistoryFormatError(f"{where}: missing object 'track_metadata'")
    ts_raw = rec.get("listened_at")
    if isinstance(ts_raw, bool) or not isinstance(ts_raw, (int, float, str)):
        raise HistoryFormatError(f"{where}: field 'listened_at' must be Unix seconds, got {ts_raw!r}")
    if isinstance(ts_raw, str):
        ts = _time(ts_raw, None, where, "listened_at") if not ts_raw.isdigit() else int(ts_raw)
    else:
        ts = int(ts_raw)
    artist = _nonblank(_str(meta, "artist_name", where), "track_metadata.artist_name", where)
    title = _nonblank(_str(meta, "track_name", where), "track_metadata.track_name", where)
    album = meta.get("release_name")
    info = meta.get("additional_info") if isinstance(meta.get("additional_info"), Mapping) else {}
    uri = info.get("spotify_id") if isinstance(info.get("spotify_id"), str) else None
    return Play(artist, title, ts, None, None, album if isinstance(album, str) else "", "listenbrainz", uri, where)


def _lastfm_page(page: Mapping[str, Any], where: str) -> Iterator[Play]:
    from musicgraph.loaders.http_cache import MalformedResponseError
    from musicgraph.loaders.lastfm import parse_recent_tracks

    try:
        result = parse_recent_tracks(page)
    except MalformedResponseError as exc:
        raise HistoryFormatError(f"{where}: {exc}") from exc
    for n, t in enumerate(result.tracks, start=1):
        if t.now_playing:
            continue
        if not t.artist.strip() or not t.title.strip():
            raise HistoryFormatError(f"{where}: track {n} of the page has no artist or name")
        yield Play(t.artist.strip(), t.title.strip(), t.uts, None, None, t.album, "lastfm", None, f"{where} track {n}")


def _kind(rec: Any) -> str | None:
    """The format of one record (None: not a history record)."""
    if not isinstance(rec, Mapping):
        return None
    if "recenttracks" in rec:
        return "lastfm"
    if "payload" in rec and isinstance(rec["payload"], Mapping) and "listens" in rec["payload"]:
        return "listenbrainz-page"
    if "track_metadata" in rec or "listened_at" in rec:
        return "listenbrainz"
    if "ms_played" in rec or "master_metadata_track_name" in rec:
        return "spotify-extended"
    if "msPlayed" in rec and ("podcastName" in rec or "episodeName" in rec):
        return "spotify-podcast"
    if "msPlayed" in rec or "trackName" in rec or "artistName" in rec or "endTime" in rec:
        return "spotify"
    return None


def _plays_of(elements: Iterable[tuple[int, Any]], name: str) -> HistoryRead:
    plays: list[Play] = []
    not_music = 0
    formats: dict[str, int] = {}
    first: str | None = None
    for line, rec in elements:
        where = f"{name}:{line}"
        kind = _kind(rec)
        if kind is None:
            shown = type(rec).__name__ if not isinstance(rec, Mapping) else "object with fields " + ", ".join(sorted(rec)[:5])
            raise HistoryFormatError(
                f"{where}: not a listening-history record ({shown}); expected Spotify StreamingHistory, "
                "Spotify extended history, ListenBrainz or Last.fm recenttracks JSON"
            )
        base = kind.removesuffix("-page")
        if first is None:
            first = base
        elif base != first and not (first.startswith("spotify") and base.startswith("spotify")):
            raise HistoryFormatError(f"{where}: a {base} record in a {first} file")
        formats[kind] = formats.get(kind, 0) + 1
        if kind == "spotify":
            plays.append(_spotify(rec, where))
        elif kind == "spotify-podcast":
            not_music += 1
        elif kind == "spotify-extended":
            p = _spotify_extended(rec, where)
            if p is None:
                not_music += 1
            else:
                plays.append(p)
        elif kind == "listenbrainz":
            plays.append(_listenbrainz(rec, where))
        elif kind == "listenbrainz-page":
            listens = rec["payload"]["listens"]
            if not isinstance(listens, list):
                raise HistoryFormatError(f"{where}: 'payload.listens' must be a list")
            plays += [_listenbrainz(x, f"{where} listen {i}") for i, x in enumerate(listens, start=1)]
        else:
            plays += list(_lastfm_page(rec, where))
    return HistoryRead(plays, [name], not_music, formats)


def _read_text(name: str, text: str) -> HistoryRead:
    if name.lower().endswith((".jsonl", ".ndjson")):
        return _plays_of(_jsonl_elements(text, name), name)
    return _plays_of(_json_elements(text, name), name)


def _decode(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise HistoryFormatError(f"{name}: not UTF-8 text (byte {exc.start}): is this a JSON export?") from exc


def _read_zip(path: Path) -> HistoryRead:
    out = HistoryRead([], [], 0, {})
    try:
        with zipfile.ZipFile(path) as zf:
            names = sorted(n for n in zf.namelist() if _wanted(Path(n).name))
            if not names:
                raise HistoryFormatError(f"{path}: the archive holds no listening-history file "
                                         "(StreamingHistory*.json, endsong_*.json, Streaming_History_Audio_*.json, "
                                         "listens/*.jsonl)")
            for n in names:
                out.extend(_read_text(f"{path}!{n}", _decode(zf.read(n), f"{path}!{n}")))
    except zipfile.BadZipFile as exc:
        raise HistoryFormatError(f"{path}: not a readable zip archive ({exc})") from exc
    return out


def _wanted(filename: str) -> bool:
    low = filename.lower()
    if not low.endswith((".json", ".jsonl", ".ndjson")):
        return False
    return low.startswith(_DIR_PREFIXES) or low.endswith((".jsonl", ".ndjson"))


def read_history(paths: Iterable[str | Path]) -> HistoryRead:
    """Every play in ``paths`` (files, directories of an unpacked export, or ``.zip`` archives).

    Raises:
        HistoryFormatError: a file is missing, empty, not JSON, or a record does not follow its format
            (the message names ``file:line``); nothing is returned in that case.
    """
    out = HistoryRead([], [], 0, {})
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and (_wanted(p.name) or p.suffix.lower() == ".zip"))
            files = [p for p in files if p.suffix.lower() != ".zip" or "listen" in p.name.lower()]
            if not files:
                raise HistoryFormatError(
                    f"{path}: no listening-history file in this directory (StreamingHistory*.json, endsong_*.json, "
                    "Streaming_History_Audio_*.json, listens*.json, *.jsonl)"
                )
            for f in files:
                out.extend(read_history([f]))
            continue
        if not path.is_file():
            raise HistoryFormatError(f"{path}: no such file")
        if path.suffix.lower() == ".zip":
            out.extend(_read_zip(path))
            continue
        out.extend(_read_text(str(path), _decode(path.read_bytes(), str(path))))
    return out


# ------------------------------------------------------------------------------ live services
def lastfm_plays(user: str, client: Any = None, max_pages: int = 50, limit: int = 200) -> HistoryRead:
    """A Last.fm user's scrobbles through ``user.getRecentTracks`` (at most ``max_pages`` pages).

    ``client``: a :class:`~musicgraph.loaders.lastfm.LastFmClient` (default: one from the settings,
    with ``MUSICGRAPH_LASTFM_API_KEY``), so requests are rate limited, cached and retried.
    """
    from musicgraph.loaders.lastfm import LastFmClient

    client = client or LastFmClient()
    plays = [
        Play(t.artist.strip(), t.title.strip(), t.uts, None, None, t.album, "lastfm", None,
             f"lastfm user.getRecentTracks user={user} #{n}")
        for n, t in enumerate(client.iter_recent_tracks(user, max_pages=max_pages, limit=limit), start=1)
        if t.artist.strip() and t.title.strip()
    ]
    return HistoryRead(plays, [f"lastfm:{user}"], 0, {"lastfm": len(plays)})


def listenbrainz_plays(user: str, client: Any = None, max_pages: int = 50, count: int = 1000) -> HistoryRead:
    """A ListenBrainz user's public listens (``GET /1/user/<user>/listens``, newest first, paged by ``max_ts``).

    ``client``: a :class:`~musicgraph.loaders.listenbrainz.ListenBrainzClient` (default: one from the settings).
    """
    from musicgraph.loaders.listenbrainz import ListenBrainzClient

    client = client or ListenBrainzClient()
    plays = []
    for n, listen in enumerate(client.iter_listens(user, max_pages=max_pages, count=count), start=1):
        plays.append(_listenbrainz(listen, f"listenbrainz user={user} listen {n}"))
    return HistoryRead(plays, [f"listenbrainz:{user}"], 0, {"listenbrainz": len(plays)})
