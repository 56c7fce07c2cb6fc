"""Loaders for playlist data: 300 Spotify editorial playlists and the 40 MPD emotion playlists.

``spotify_playlists_300/RA_19k_playlist_tracks.csv`` (song_name, artist_name, album_names, playlist):
no ids, so ``playlist_id`` is a slug of the playlist name ("90's Hip-Hop Don't Stop" ->
"90s-hip-hop-dont-stop"; a second name with the same slug would get "-2") and ``position`` counts
the playlist's rows in file order from 0.

``mpd_emotion_playlists/old_silver_standard/`` holds 40 Million Playlist Dataset playlists:

* ``<folder>/<pid>.csv`` with track_uri, track_name, artist_uri, artist_name, album_uri, album_name
  (one file also has a ``pid`` column, checked against the file name). The first, unnamed column is
  the row index in the student project's dataframe, not a position: ``position`` is the row order
  (which matches ``songs_test.csv``'s SeqID for every playlist).
* ``playlist_test.csv`` (PID, Emotion) is the **gold** label per playlist and what
  :func:`iter_mpd_moods` yields. The folder names (rage -> angry, crying -> sad, party -> happy,
  sleeping -> relaxed; :data:`FOLDER_MOODS`) are the project's search queries; they agree with the gold
  labels for all 40 playlists and are only used to cross-check (a disagreement is logged).
* ``Playlists_c_*.csv`` are model predictions, not gold, and are not loaded.
* ``lyrics/<pid>_<artist>_<title>.txt``: scraped lyrics. The pid is the digits before the first
  underscore. When the rest holds one underscore it splits artist/title; with more, the split is the
  one whose artist matches an artist of the MPD playlists, and a name that stays ambiguous is
  reported and skipped rather than guessed. Files that hold no lyrics (the lyrics site's
  "not licensed to display" placeholder, a bare "Instrumental", empty) are reported and skipped.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

from musicgraph.loaders.base import (
    DataNotFoundError,
    Row,
    RowError,
    SourceFile,
    data_path,
    emit,
    header_columns,
    new_report,
    read_rows,
    require,
    slugify,
    text,
)
from musicgraph.loaders.records import LoadReport, LyricsRecord, PlaylistMood, PlaylistTrack

log = logging.getLogger(__name__)

SPOTIFY300 = "spotify_playlists_300/RA_19k_playlist_tracks.csv"
MPD_DIR = "mpd_emotion_playlists/old_silver_standard"

#: MPD folder name -> emotion it was collected for (cross-check only; playlist_test.csv is the gold).
FOLDER_MOODS: dict[str, str] = {"crying": "sad", "party": "happy", "rage": "angry", "sleeping": "relaxed"}
MPD_MOODS = frozenset(FOLDER_MOODS.values())

_SPOTIFY_URI = re.compile(r"^spotify:(track|artist|album):([0-9A-Za-z]{22})$")
_PLACEHOLDERS = (("not licensed to display the full lyrics", "no lyrics: lyrics-site licensing placeholder"),)


def iter_spotify300(data_dir: Path, report: LoadReport | None = None) -> Iterator[PlaylistTrack]:
    """``RA_19k_playlist_tracks.csv`` (song_name, artist_name, album_names, playlist) -> :class:`PlaylistTrack`."""
    src = SourceFile(data_dir, SPOTIFY300, new_report(report, "spotify300"), log)
    col, width = header_columns(src, ("song_name", "artist_name", "album_names", "playlist"))
    slugs: dict[str, str] = {}  # playlist name -> slug
    taken: set[str] = set()
    positions: dict[str, int] = {}

    def slug_for(name: str) -> str:
        if name not in slugs:
            base = slugify(name)
            slug, n = base, 1
            while slug in taken:
                n += 1
                slug = f"{base}-{n}"
            slugs[name] = slug
            taken.add(slug)
        return slugs[name]

    def build(row: Row) -> PlaylistTrack:
        name = require(row[col["playlist"]], "playlist")
        title = require(row[col["song_name"]], "song_name")
        artist = require(row[col["artist_name"]], "artist_name")
        position = positions.get(name, 0)
        positions[name] = position + 1
        return PlaylistTrack(
            source="spotify300",
            playlist_id=slug_for(name),
            playlist_name=name,
            position=position,
            artist=artist,
            title=title,
            album=text(row[col["album_names"]]),
        )

    return emit(src, read_rows(src, columns=width), build)


def _uri_id(value: str, kind: str, field: str, *, required: bool) -> str | None:
    raw = text(value)
    if raw is None:
        if required:
            raise RowError(f"empty {field}")
        return None
    m = _SPOTIFY_URI.match(raw)
    if not m or m.group(1) != kind:
        raise RowError(f"{field}: not a spotify:{kind}: URI: {raw!r}")
    return m.group(2)


def _mpd_playlist_files(data_dir: Path) -> list[tuple[str, str, str]]:
    """(folder, pid, relpath) of every MPD playlist CSV, folders and pids sorted."""
    base = data_path(data_dir, *MPD_DIR.split("/"))
    out: list[tuple[str, str, str]] = []
    for folder in sorted(FOLDER_MOODS):
        sub = base / folder
        if not sub.is_dir():
            raise DataNotFoundError(sub, Path(data_dir))
        files = [p for p in sub.glob("*.csv") if p.stem.isdigit()]
        for path in sorted(files, key=lambda p: int(p.stem)):
            out.append((folder, path.stem, f"{MPD_DIR}/{folder}/{path.name}"))
    return out


def iter_mpd_tracks(data_dir: Path, report: LoadReport | None = None) -> Iterator[PlaylistTrack]:
    """``old_silver_standard/{crying,party,rage,sleeping}/<pid>.csv`` -> :class:`PlaylistTrack` (source "mpd")."""
    rep = new_report(report, "mpd")
    files = _mpd_playlist_files(data_dir)
    return _iter_mpd_tracks(Path(data_dir), rep, files)


def _iter_mpd_tracks(
    data_dir: Path, rep: LoadReport, files: list[tuple[str, str, str]]
) -> Iterator[PlaylistTrack]:
    wanted = ("track_uri", "track_name", "artist_uri", "artist_name", "album_name")
    for folder, pid, rel in files:
        src = SourceFile(data_dir, rel, rep, log)
        col, width = header_columns(src, wanted)
        name = f"MPD {pid} ({folder})"
        counter = iter(range(1_000_000))

        def build(
            row: Row, col: dict[str, int] = col, pid: str = pid, name: str = name, counter=counter
        ) -> PlaylistTrack:
            position = next(counter)
            if "pid" in col and text(row[col["pid"]]) not in (None, pid):
                raise RowError(f"pid column {row[col['pid']]!r} differs from file name pid {pid}")
            return PlaylistTrack(
                source="mpd",
                playlist_id=pid,
                playlist_name=name,
                position=position,
                artist=require(row[col["artist_name"]], "artist_name"),
                title=require(row[col["track_name"]], "track_name"),
                album=text(row[col["album_name"]]),
                spotify_id=_uri_id(row[col["track_uri"]], "track", "track_uri", required=True),
                spotify_artist_id=_uri_id(row[col["artist_uri"]], "artist", "artist_uri", required=False),
            )

        yield from emit(src, read_rows(src, columns=width), build)


def iter_mpd_moods(data_dir: Path, report: LoadReport | None = None) -> Iterator[PlaylistMood]:
    """``old_silver_standard/playlist_test.csv`` (index, PID, Emotion) -> gold :class:`PlaylistMood` (source "mpd").

    Labels are angry/happy/relaxed/sad; the folder a playlist sits in is checked against the label.
    """
    src = SourceFile(data_dir, f"{MPD_DIR}/playlist_test.csv", new_report(report, "mpd"), log)
    col, width = header_columns(src, ("PID", "Emotion"))
    folder_of: dict[str, str] = {}
    try:
        folder_of = {pid: folder for folder, pid, _ in _mpd_playlist_files(data_dir)}
    except DataNotFoundError:
        log.info("MPD playlist folders missing; gold labels are not cross-checked")

    def build(row: Row) -> PlaylistMood:
        pid = require(row[col["PID"]], "PID")
        if not pid.isdigit():
            raise RowError(f"PID: not a playlist id: {pid!r}")
        mood = require(row[col["Emotion"]], "Emotion").lower()
        if mood not in MPD_MOODS:
            raise RowError(f"Emotion: unknown label {mood!r}")
        folder = folder_of.get(pid)
        if folder is not None and FOLDER_MOODS[folder] != mood:
            log.warning(
                "%s:%d: gold %r for pid %s, but it sits in folder %r", src.rel, row.line, mood, pid, folder
            )
        return PlaylistMood(source="mpd", playlist_id=pid, mood=mood)

    return emit(src, read_rows(src, columns=width), build)


def _mpd_artists(data_dir: Path) -> dict[str, set[str]]:
    """pid -> casefolded artist names of that playlist; key "" holds all of them."""
    out: dict[str, set[str]] = {"": set()}
    try:
        files = _mpd_playlist_files(data_dir)
    except DataNotFoundError:
        return out
    scratch = LoadReport(dataset="mpd-artists")
    quiet = logging.Logger("mpd-artist-index")  # unregistered: problems here are reported by iter_mpd_tracks
    quiet.addHandler(logging.NullHandler())
    for _folder, pid, rel in files:
        src = SourceFile(data_dir, rel, scratch, quiet)
        col, _ = header_columns(src, ("artist_name",))
        for row in read_rows(src):
            if len(row) > col["artist_name"]:
                name = row[col["artist_name"]].strip().casefold()
                out.setdefault(pid, set()).add(name)
                out[""].add(name)
    return out


def split_lyrics_name(stem: str, artists: dict[str, set[str]] | None = None) -> tuple[str, str, str]:
    """``"<pid>_<artist>_<title>"`` -> (pid, artist, title); RowError when it cannot be split safely."""
    pid, sep, rest = stem.partition("_")
    if not sep or not pid.isdigit():
        raise RowError(f"file name does not start with '<pid>_': {stem!r}")
    cuts = [i for i, ch in enumerate(rest) if ch == "_"]
    if not cuts:
        raise RowError(f"file name has no '<artist>_<title>' part: {stem!r}")
    if len(cuts) == 1:
        i = cuts[0]
    else:
        artists = artists or {}
        matches: list[int] = []
        for pool in (artists.get(pid, set()), artists.get("", set())):
            matches = [i for i in cuts if rest[:i].strip().casefold() in pool]
            if matches:
                break
        if len(matches) != 1:
            raise RowError(f"ambiguous '<artist>_<title>' split in file name: {stem!r}")
        i = matches[0]
    artist, title = rest[:i].strip(), rest[i + 1 :].strip()
    if not artist or not title:
        raise RowError(f"empty artist or title in file name: {stem!r}")
    return pid, artist, title


def iter_mpd_lyrics(data_dir: Path, report: LoadReport | None = None) -> Iterator[LyricsRecord]:
    """``old_silver_standard/lyrics/<pid>_<artist>_<title>.txt`` (UTF-8 text) -> :class:`LyricsRecord` ("mpd")."""
    rep = new_report(report, "mpd")
    folder = data_path(data_dir, *MPD_DIR.split("/"), "lyrics")
    return _iter_mpd_lyrics(Path(data_dir), rep, folder)


def _iter_mpd_lyrics(data_dir: Path, rep: LoadReport, folder: Path) -> Iterator[LyricsRecord]:
    artists = _mpd_artists(data_dir)
    problems = 0

    def problem(rel: str, reason: str) -> None:
        nonlocal problems
        problems += 1
        rep.add_problem(rel, 1, reason)
        if problems <= 5:
            log.warning("%s:1: skipped: %s", rel, reason)

    for path in sorted(folder.glob("*.txt")):
        rel = f"{MPD_DIR}/lyrics/{path.name}"
        try:
            _pid, artist, title = split_lyrics_name(path.stem, artists)
        except RowError as exc:
            problem(rel, str(exc))
            continue
        try:
            body = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            problem(rel, f"bad encoding (not utf-8): {exc.reason} at byte {exc.start}")
            continue
        body = body.replace("\r\n", "\n").strip()
        reason = None
        if not body:
            reason = "no lyrics: empty file"
        elif body.casefold() in ("instrumental", "[instrumental]"):
            reason = "no lyrics: instrumental"
        else:
            for marker, why in _PLACEHOLDERS:
                if marker in body:
                    reason = why
        if reason:
            problem(rel, reason)
            continue
        rep.rows += 1
        yield LyricsRecord(source="mpd", artist=artist, title=title, text=body, source_path=rel)
    if problems:
        log.warning("%s/lyrics: skipped %d file(s) in total", MPD_DIR, problems)
