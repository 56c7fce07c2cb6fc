"""Reading and validating catalog change files (``musicgraph catalog add|update|delete FILE``).

A change file is JSONL (one JSON object a line) or CSV (a header row), UTF-8 with or without a byte-order
mark. Every record is checked before anything is written (:func:`validate_changes`), so a file applies
whole or not at all; the first problem is a :class:`CatalogError` naming the file and line:

* JSON: not an object, a duplicate key, ``NaN``/``Infinity``, a value of the wrong type (``"title": 12345``,
  ``"artist": [...]``, ``"features": [1, 2]``);
* CSV: an unterminated quote (the line where the field starts), more fields than the header, a duplicate
  or empty header name;
* numbers: audio features, year, duration and popularity outside the ranges of
  :data:`musicgraph.graph.schema.FEATURE_RANGES`, weights that are not numbers ≥ 0;
* sizes: names and titles longer than :data:`~musicgraph.graph.schema.MAX_NAME_LENGTH` characters, tags,
  genres and moods longer than :data:`~musicgraph.graph.schema.MAX_TAG_LENGTH`, lyrics longer than
  :data:`~musicgraph.graph.schema.MAX_LYRICS_LENGTH`, lists longer than
  :data:`~musicgraph.graph.schema.MAX_LIST_ITEMS`, files larger than :data:`MAX_FILE_BYTES`.

Validated records are plain dicts with a fixed shape per change type (``_clean`` marks them):

* song (add/update): ``record`` (a :class:`~musicgraph.loaders.records.SongRecord`), ``key``, ``moods`` and
  ``tags`` (lists, or None when the record does not mention them);
* song (delete): ``key``;
* artist: ``name``, ``key``, ``aliases``, ``tags`` (``[(tag, weight)]``), ``genres``, ``source``;
* tag: ``artist``, ``tag``, ``weight``; listen: ``user``, ``artist``, ``weight``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from musicgraph.audio_features import AUDIO_FEATURES
from musicgraph.errors import MusicgraphError
from musicgraph.graph.resolve import artist_key, normalize_tag, song_key, split_featured
from musicgraph.graph.schema import (
    MAX_LIST_ITEMS,
    MAX_LYRICS_LENGTH,
    MAX_NAME_LENGTH,
    MAX_TAG_LENGTH,
    WEIGHT_RANGE,
    check_number,
    check_text,
)
from musicgraph.loaders.records import AudioFeatures, SongRecord

CHANGE_TYPES = ("song", "artist", "tag", "listen")
OPERATIONS = ("add", "update", "delete")
#: Largest change file read (bytes).
MAX_FILE_BYTES = 512 * 1024 * 1024

_SONG_FIELDS = {f.name for f in fields(SongRecord)}
_SONG_TEXT = ("title", "artist", "album", "release_date", "source", "source_id", "spotify_id", "msd_track_id",
              "msd_song_id")
_SONG_LISTS = {"genres": MAX_TAG_LENGTH, "featured": MAX_NAME_LENGTH, "songwriters": MAX_NAME_LENGTH}
_SONG_NUMBERS = ("year", "duration_ms", "popularity")
_TRUE, _FALSE = ("1", "true", "yes", "y"), ("0", "false", "no", "n", "")


class CatalogError(MusicgraphError, ValueError):
    """A change that cannot be applied (unknown song, bad record); the message names it and where."""


# --------------------------------------------------------------------------- reading files
def read_changes(path: Path) -> list[dict[str, Any]]:
    """Change records of a ``.jsonl`` (one JSON object a line) or ``.csv`` file (header row).

    Each record gets ``_where`` (``file:line``). Only the syntax is checked here (see the module docstring);
    :func:`validate_changes` checks the fields.

    Raises:
        CatalogError: the file is missing, too large, not UTF-8, or not valid JSONL/CSV (with ``file:line``).
    """
    path = Path(path)
    if not path.is_file():
        raise CatalogError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".json", ".ndjson", ".csv"):
        raise CatalogError(f"{path}: expected a .jsonl or .csv file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise CatalogError(f"{path}: {size:,} bytes; change files are limited to {MAX_FILE_BYTES:,} bytes "
                           "(split it into several files)")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark (as Excel writes) is dropped
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CatalogError(f"{path}:{line}: not UTF-8 text (byte {exc.start})") from None
    rows = _read_jsonl(path, text) if suffix != ".csv" else _read_csv(path, text)
    for r in rows:
        t = r.get("type", "song")
        if not isinstance(t, str) or t not in CHANGE_TYPES:
            raise CatalogError(f"{r['_where']}: unknown change type {t!r}; expected {', '.join(CHANGE_TYPES)}")
    return rows


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number musicgraph accepts")


def _read_jsonl(path: Path, text: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
        except json.JSONDecodeError as exc:
            raise CatalogError(f"{path}:{n}: not JSON ({exc.msg}, column {exc.colno})") from None
        except (ValueError, RecursionError) as exc:
            raise CatalogError(f"{path}:{n}: {str(exc) or 'JSON nested too deeply'}") from None
        if not isinstance(obj, dict):
            raise CatalogError(f"{path}:{n}: expected a JSON object, got {type(obj).__name__}")
        obj.pop("_where", None)
        obj["_where"] = f"{path}:{n}"
        rows.append(obj)
    return rows


def _read_csv(path: Path, text: str) -> list[dict[str, Any]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[dict[str, Any]] = []
    header: list[str] | None = None
    while True:
        start = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            msg = str(exc)
            if "unexpected end of data" in msg or "EOF" in msg or "newline inside string" in msg:
                raise CatalogError(f"{path}:{start}: unterminated quoted field (a quote opened on line {start} "
                                   "is never closed)") from None
            raise CatalogError(f"{path}:{reader.line_num}: not valid CSV ({msg})") from None
        if header is None:
            header = [h.strip() for h in values]
            if not any(header):
                raise CatalogError(f"{path}:{start}: empty header row")
            if "" in header:
                raise CatalogError(f"{path}:{start}: header column {header.index('') + 1} has no name")
            dup = sorted({h for h in header if header.count(h) > 1})
            if dup:
                raise CatalogError(f"{path}:{start}: duplicate header name(s) {', '.join(dup)}")
            continue
        if not any(v.strip() for v in values):
            continue
        if len(values) > len(header):
            raise CatalogError(f"{path}:{start}: {len(values)} fields but the header has {len(header)}")
        obj: dict[str, Any] = {h: v for h, v in zip(header, values, strict=False) if v != ""}
        obj["_where"] = f"{path}:{start}"
        rows.append(obj)
    if header is None:
        raise CatalogError(f"{path}: empty CSV file (expected a header row)")
    return rows


# --------------------------------------------------------------------------- field checks
def _where(data: Mapping[str, Any], default: str) -> str:
    w = data.get("_where") if isinstance(data, Mapping) else None
    return w if isinstance(w, str) else default


def _text(where: str, name: str, value: Any, max_length: int = MAX_NAME_LENGTH, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise CatalogError(f"{where}: '{name}' is required")
        return None
    try:
        text = check_text(name, value, max_length)
    except ValueError as exc:
        raise CatalogError(f"{where}: {exc}") from None
    if required and not text:
        raise CatalogError(f"{where}: '{name}' is empty")
    return text


def _number(where: str, name: str, value: Any, rng: Any = None) -> float | int:
    try:
        return check_number(name, value, rng)
    except ValueError as exc:
        raise CatalogError(f"{where}: {exc}") from None


def _text_list(where: str, name: str, value: Any, max_length: int) -> list[str]:
    """A list of strings from a JSON list or a ``;``-separated string (empty items dropped)."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        items: Sequence[Any] = value.split(";")
    elif isinstance(value, list):
        items = value
    else:
        raise CatalogError(f"{where}: '{name}' must be a list of text or a ';'-separated text, "
                           f"got {type(value).__name__}")
    _check_list_length(where, name, items)
    out = []
    for item in items:
        text = _text(where, f"{name} item", item, max_length)
        if text:
            out.append(text)
    return out


def _check_list_length(where: str, name: str, items: Sequence[Any]) -> None:
    if len(items) > MAX_LIST_ITEMS:
        raise CatalogError(f"{where}: '{name}' has {len(items)} items; the limit is {MAX_LIST_ITEMS}")


def _weights(where: str, name: str, value: Any) -> list[tuple[str, float]]:
    """``{tag: weight}``, a list of tags, ``"a;b"`` or CSV's ``"a:3;b:1"`` as ``[(tag, weight)]``."""
    if value is None or value == "":
        return []
    if isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, str):
        items = []
        for part in value.split(";"):
            if not part.strip():
                continue
            tag, sep, w = part.rpartition(":") if ":" in part else (part, "", None)
            items.append((tag if sep else part, w if sep else 1.0))
    elif isinstance(value, list):
        items = [(t, 1.0) for t in value]
    else:
        raise CatalogError(f"{where}: '{name}' must be an object {{tag: weight}}, a list or a ';'-separated text, "
                           f"got {type(value).__name__}")
    _check_list_length(where, name, items)
    out = []
    for tag, w in items:
        t = _text(where, "tag", tag, MAX_TAG_LENGTH)
        weight = float(_number(where, f"weight of tag {t!r}", w, WEIGHT_RANGE))
        if t and normalize_tag(t):
            out.append((t, weight))
    return out


def _bool(where: str, name: str, value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise CatalogError(f"{where}: '{name}' must be true or false, got {value!r}")


def _check_keys(where: str, data: Mapping[str, Any], allowed: Iterable[str], kind: str) -> None:
    unknown = sorted(k for k in data if k not in allowed and k not in ("type", "_where", "_clean"))
    if unknown:
        shown = ", ".join(repr(k)[:60] for k in unknown[:5])
        raise CatalogError(f"{where}: unknown {kind} field(s) {shown}; expected {', '.join(sorted(allowed))}")


# --------------------------------------------------------------------------- records by type
def song_record(data: SongRecord | Mapping[str, Any], where: str = "record") -> SongRecord:
    """A validated :class:`SongRecord` from a record or a dict (``features`` as an object; unknown keys rejected).

    Raises:
        CatalogError: a wrong type, an out-of-range number, a too-long text (see the module docstring).
    """
    if isinstance(data, SongRecord):
        return check_song_record(data, where)
    if not isinstance(data, Mapping):
        raise CatalogError(f"{where}: a song must be an object, got {type(data).__name__}")
    where = _where(data, where)
    allowed = _SONG_FIELDS | set(AUDIO_FEATURES) | {"moods", "tags"}
    _check_keys(where, data, allowed, "song")
    d = {k: v for k, v in data.items() if k not in ("type", "_where", "_clean", "moods", "tags")
         and v is not None and v != ""}
    if d.get("title") is None or d.get("artist") is None:
        raise CatalogError(f"{where}: a song needs 'artist' and 'title'")
    out: dict[str, Any] = {}
    out["title"] = _text(where, "title", d.get("title"), required=True)
    out["artist"] = _text(where, "artist", d.get("artist"), required=True)
    for name in _SONG_TEXT[2:]:
        if name in d:
            out[name] = _text(where, name, d[name])
    out.setdefault("source", "catalog")
    if not out["source"]:
        out["source"] = "catalog"
    for name, max_length in _SONG_LISTS.items():
        if name in d:
            out[name] = tuple(_text_list(where, name, d[name], max_length))
    for name in _SONG_NUMBERS:
        if name in d:
            out[name] = _number(where, name, d[name])
    if "explicit" in d:
        out["explicit"] = _bool(where, "explicit", d["explicit"])
    if "lyrics" in d:
        out["lyrics"] = _text(where, "lyrics", d["lyrics"], MAX_LYRICS_LENGTH)
    feats_in = d.get("features")
    if feats_in is not None and not isinstance(feats_in, Mapping):
        raise CatalogError(f"{where}: 'features' must be an object {{name: value}}, got {type(feats_in).__name__}")
    feats: dict[str, Any] = dict(feats_in or {})
    for name in AUDIO_FEATURES:
        if name in d:
            if name in feats:
                raise CatalogError(f"{where}: {name!r} is given twice (top level and in 'features')")
            feats[name] = d[name]
    bad = sorted(str(k) for k in feats if k not in AUDIO_FEATURES)
    if bad:
        raise CatalogError(f"{where}: unknown audio feature(s) {', '.join(bad)}; expected {', '.join(AUDIO_FEATURES)}")
    values = {k: _number(where, k, v) for k, v in feats.items() if v is not None and v != ""}
    if values:
        out["features"] = AudioFeatures(**values)
    return check_song_record(SongRecord(**out), where)


def check_song_record(rec: SongRecord, where: str = "record") -> SongRecord:
    """``rec`` if its texts are within the limits and its numbers within the schema's ranges."""
    for name in ("title", "artist"):
        _text(where, name, getattr(rec, name), required=True)
    for name in ("album", "source", "source_id"):
        _text(where, name, getattr(rec, name))
    if rec.lyrics is not None:
        _text(where, "lyrics", rec.lyrics, MAX_LYRICS_LENGTH)
    for name in _SONG_NUMBERS:
        if getattr(rec, name) is not None:
            _number(where, name, getattr(rec, name))
    if rec.features is not None:
        for name, value in rec.features.as_dict().items():
            _number(where, name, value)
    main, _ = split_featured(rec.artist)
    if not main.strip() or not artist_key(main).strip():
        raise CatalogError(f"{where}: artist {rec.artist!r} has no name before its featuring credit")
    key = song_key(main, rec.title)
    if key.endswith("|"):
        raise CatalogError(f"{where}: title {rec.title!r} has nothing left after normalization")
    return rec


def clean_song(data: SongRecord | Mapping[str, Any], where: str) -> dict[str, Any]:
    """A validated song change (add/update)."""
    if isinstance(data, Mapping) and data.get("_clean"):
        return dict(data)
    rec = song_record(data, where)
    if isinstance(data, Mapping):
        where = _where(data, where)
        moods = None if data.get("moods") is None else [
            m for m in _text_list(where, "moods", data.get("moods"), MAX_TAG_LENGTH) if normalize_tag(m)]
        tags_raw = data.get("tags")
        tags = None if tags_raw is None else [t for t, _ in _weights(where, "tags", tags_raw)]
    else:
        moods = tags = None
    main, _ = split_featured(rec.artist)
    return {"type": "song", "_where": where, "_clean": True, "record": rec, "key": song_key(main, rec.title),
            "moods": moods, "tags": tags}


def _already_clean(data: object, where: str, must: str) -> bool:
    """Whether ``data`` is a change cleaned before (taken as it is); :class:`CatalogError`
    ``"<where>: <must>, got <type>"`` when it is not an object."""
    if not isinstance(data, Mapping):
        raise CatalogError(f"{where}: {must}, got {type(data).__name__}")
    return bool(data.get("_clean"))


def clean_song_delete(data: str | Mapping[str, Any], where: str) -> dict[str, Any]:
    """A validated song deletion: a key, or ``key``/``artist`` + ``title``."""
    if isinstance(data, str):
        return {"type": "song", "_where": where, "_clean": True, "key": _text(where, "key", data, 2 * MAX_NAME_LENGTH,
                                                                                 required=True)}
    if _already_clean(data, where, "a song to delete must be a key or an object"):
        return dict(data)
    where = _where(data, where)
    if data.get("key") is not None:
        key = _text(where, "key", data["key"], 2 * MAX_NAME_LENGTH, required=True)
    else:
        if data.get("artist") in (None, "") or data.get("title") in (None, ""):
            raise CatalogError(f"{where}: a song to delete needs 'key' or 'artist' and 'title'")
        artist = _text(where, "artist", data["artist"], required=True)
        title = _text(where, "title", data["title"], required=True)
        key = song_key(split_featured(artist or "")[0], title or "")
    return {"type": "song", "_where": where, "_clean": True, "key": key}


def clean_artist(data: Mapping[str, Any], where: str, delete: bool = False) -> dict[str, Any]:
    """A validated artist change: ``name`` (or ``artist``), ``aliases``, ``tags``, ``genres``, ``source``."""
    if _already_clean(data, where, "an artist change must be an object"):
        return dict(data)
    where = _where(data, where)
    _check_keys(where, data, {"name", "artist", "aliases", "tags", "genres", "source"}, "artist")
    raw_name = data.get("name") if data.get("name") not in (None, "") else data.get("artist")
    name = _text(where, "name", raw_name if raw_name != "" else None, required=True)
    assert name is not None
    if not artist_key(name).strip():
        raise CatalogError(f"{where}: artist name {name!r} has nothing left after normalization")
    out: dict[str, Any] = {"type": "artist", "_where": where, "_clean": True, "name": name, "key": artist_key(name)}
    if delete:
        return out
    out["aliases"] = _text_list(where, "aliases", data.get("aliases"), MAX_NAME_LENGTH)
    out["tags"] = _weights(where, "tags", data.get("tags"))
    out["genres"] = [g for g in _text_list(where, "genres", data.get("genres"), MAX_TAG_LENGTH) if normalize_tag(g)]
    out["source"] = _text(where, "source", data.get("source")) or "catalog"
    return out


def clean_tag(data: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A validated tag change: ``artist``, ``tag``, ``weight`` (default 1)."""
    if _already_clean(data, where, "a tag change must be an object"):
        return dict(data)
    where = _where(data, where)
    _check_keys(where, data, {"artist", "tag", "weight"}, "tag")
    if data.get("artist") in (None, "") or data.get("tag") in (None, ""):
        raise CatalogError(f"{where}: a tag change needs 'artist' and 'tag'")
    artist = _text(where, "artist", data["artist"], required=True)
    tag = _text(where, "tag", data["tag"], MAX_TAG_LENGTH, required=True)
    if not normalize_tag(tag or ""):
        raise CatalogError(f"{where}: tag {tag!r} has nothing left after normalization")
    weight = float(_number(where, "weight", data.get("weight", 1.0), WEIGHT_RANGE))
    return {"type": "tag", "_where": where, "_clean": True, "artist": artist, "tag": tag, "weight": weight}


def clean_listen(data: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A validated listening change: ``user`` (``source:id``, a bare id means ``catalog:id``), ``artist``,
    ``weight`` (default 1)."""
    if _already_clean(data, where, "a listen change must be an object"):
        return dict(data)
    where = _where(data, where)
    _check_keys(where, data, {"user", "artist", "weight"}, "listen")
    if data.get("user") in (None, "") or data.get("artist") in (None, ""):
        raise CatalogError(f"{where}: a listen needs 'user' and 'artist'")
    user_raw = data["user"]
    if isinstance(user_raw, int) and not isinstance(user_raw, bool):
        user_raw = str(user_raw)  # a numeric id
    user = _text(where, "user", user_raw, required=True) or ""
    if ":" not in user:
        user = f"catalog:{user}"
    src, sid = user.split(":", 1)
    if not src or not sid:
        raise CatalogError(f"{where}: user {user!r} must be 'source:id'")
    artist = _text(where, "artist", data["artist"], required=True)
    weight = float(_number(where, "weight", data.get("weight", 1.0), WEIGHT_RANGE))
    return {"type": "listen", "_where": where, "_clean": True, "user": user, "artist": artist, "weight": weight}


def validate_changes(op: str, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every record of a change file checked and normalized before anything is written.

    Raises:
        CatalogError: the first invalid record, with its ``file:line``.
    """
    if op not in OPERATIONS:
        raise CatalogError(f"unknown operation {op!r}; expected {', '.join(OPERATIONS)}")
    out = []
    for i, r in enumerate(records):
        where = _where(r, f"record {i + 1}") if isinstance(r, Mapping) else f"record {i + 1}"
        if not isinstance(r, Mapping):
            raise CatalogError(f"{where}: expected an object, got {type(r).__name__}")
        t = r.get("type", "song")
        if not isinstance(t, str) or t not in CHANGE_TYPES:
            raise CatalogError(f"{where}: unknown change type {t!r}; expected {', '.join(CHANGE_TYPES)}")
        if t == "song":
            out.append(clean_song_delete(r, where) if op == "delete" else clean_song(r, where))
        elif t == "artist":
            out.append(clean_artist(r, where, delete=op == "delete"))
        elif t == "tag":
            out.append(clean_tag(r, where))
        else:
            out.append(clean_listen(r, where))
    return out


__all__ = [
    "CHANGE_TYPES",
    "OPERATIONS",
    "CatalogError",
    "check_song_record",
    "clean_artist",
    "clean_listen",
    "clean_song",
    "clean_song_delete",
    "clean_tag",
    "read_changes",
    "song_record",
    "validate_changes",
]
