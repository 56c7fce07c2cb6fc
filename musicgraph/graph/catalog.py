"""A living catalog: add, update and delete songs, artists, tags and listening data.

Every change goes to the graph store first (with ingest's song mapping, :func:`musicgraph.graph.ingest.add_song`,
so an added song looks exactly like an ingested one), then to every derived index registered with the
:class:`CatalogEditor` (retrieval bundle, GNN embeddings: objects following
:class:`musicgraph.graph.check.DerivedIndex`), which update themselves incrementally.

Deletes leave nothing behind in the store: a song's relationships go with it, and nodes that only
existed for it (its album, an artist, genre, mood or tag left with no relationship at all) are
removed too. Derived indexes drop the song (tombstones filtered at search time), so a deleted song
never appears in results.

Changes can come from records (:class:`~musicgraph.loaders.records.SongRecord` or plain dicts) or a
JSONL/CSV file (:func:`read_changes`): one change per line/row with a ``type`` (``song`` by default,
``artist``, ``tag``, ``listen``) and the fields of that type::

    {"type": "song", "artist": "Daft Punk", "title": "Get Lucky", "year": 2013, "genres": ["disco"],
     "features": {"energy": 0.81}, "moods": ["happy"], "lyrics": "..."}
    {"type": "artist", "name": "Daft Punk", "tags": {"electronic": 50}, "genres": ["house"]}
    {"type": "tag", "artist": "Daft Punk", "tag": "french house", "weight": 30}
    {"type": "listen", "user": "hetrec:2", "artist": "Daft Punk", "weight": 120}
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from musicgraph.errors import MusicgraphError
from musicgraph.graph.check import DerivedIndex
from musicgraph.graph.ingest import GraphBuffer, add_song, text_ref
from musicgraph.graph.resolve import artist_key, normalize_tag, song_key, split_featured
from musicgraph.graph.schema import LABELS, Label, Rel
from musicgraph.graph.store import GraphStore
from musicgraph.loaders.records import AUDIO_FEATURES, AudioFeatures, SongRecord

log = logging.getLogger(__name__)

CHANGE_TYPES = ("song", "artist", "tag", "listen")
OPERATIONS = ("add", "update", "delete")


class CatalogError(MusicgraphError, ValueError):
    """A change that cannot be applied (unknown song, bad record); the message names it and where."""


@dataclass(slots=True)
class ChangeSet:
    """What one catalog operation changed in the store (node keys per label)."""

    added: dict[str, set[str]] = field(default_factory=dict)
    updated: dict[str, set[str]] = field(default_factory=dict)
    deleted: dict[str, set[str]] = field(default_factory=dict)
    edges_written: int = 0
    edges_deleted: int = 0
    indexes: dict[str, Any] = field(default_factory=dict)

    def note(self, kind: str, label: str, keys: Iterable[str]) -> None:
        getattr(self, kind).setdefault(label, set()).update(keys)

    def merge(self, other: ChangeSet) -> ChangeSet:
        for kind in ("added", "updated", "deleted"):
            for label, keys in getattr(other, kind).items():
                self.note(kind, label, keys)
        self.edges_written += other.edges_written
        self.edges_deleted += other.edges_deleted
        return self

    @property
    def empty(self) -> bool:
        return not (any(self.added.values()) or any(self.updated.values()) or any(self.deleted.values())
                    or self.edges_written or self.edges_deleted)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for kind in ("added", "updated", "deleted"):
            out[kind] = {label: len(keys) for label, keys in sorted(getattr(self, kind).items()) if keys}
        out["edges_written"], out["edges_deleted"] = self.edges_written, self.edges_deleted
        if self.indexes:
            out["indexes"] = self.indexes
        return out


# --------------------------------------------------------------------------- record parsing
_SONG_FIELDS = {f.name for f in fields(SongRecord)}


def song_record(data: SongRecord | Mapping[str, Any], where: str = "record") -> SongRecord:
    """A :class:`SongRecord` from a record or a dict (``features`` as a dict; unknown keys rejected)."""
    if isinstance(data, SongRecord):
        return data
    d = {k: v for k, v in data.items() if k not in ("type", "moods", "tags", "op", "_where") and v not in (None, "")}
    unknown = sorted(set(d) - _SONG_FIELDS - set(AUDIO_FEATURES))
    if unknown:
        raise CatalogError(f"{where}: unknown song field(s) {', '.join(unknown)}; expected "
                           f"{', '.join(sorted(_SONG_FIELDS | {'moods', 'tags'}))} or audio features")
    if not d.get("title") or not d.get("artist"):
        raise CatalogError(f"{where}: a song needs 'artist' and 'title'")
    feats = dict(d.pop("features", None) or {})
    for name in AUDIO_FEATURES:
        if name in d:
            feats[name] = d.pop(name)
    try:
        if feats:
            bad = sorted(set(feats) - set(AUDIO_FEATURES))
            if bad:
                raise CatalogError(f"{where}: unknown audio feature(s) {', '.join(bad)}")
            d["features"] = AudioFeatures(**{k: float(v) if k not in ("key", "mode") else int(float(v))
                                              for k, v in feats.items()})
        for name in ("genres", "featured", "songwriters"):
            if name in d:
                v = d[name]
                d[name] = tuple(v.split(";") if isinstance(v, str) else v)
        for name, typ in (("year", int), ("duration_ms", int), ("popularity", float)):
            if name in d:
                d[name] = typ(float(d[name]))
        if "explicit" in d and isinstance(d["explicit"], str):
            d["explicit"] = d["explicit"].strip().lower() in ("1", "true", "yes")
        d.setdefault("source", "catalog")
        return SongRecord(**d)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, CatalogError):
            raise
        raise CatalogError(f"{where}: {exc}") from exc


def _list(value: Any) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(";") if v.strip()]
    return [str(v) for v in value]


def read_changes(path: Path) -> list[dict[str, Any]]:
    """Change records of a ``.jsonl`` (one JSON object a line) or ``.csv`` file (header row)."""
    path = Path(path)
    if not path.is_file():
        raise CatalogError(f"{path}: no such file")
    rows: list[dict[str, Any]] = []
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CatalogError(f"{path}:{n}: not JSON ({exc.msg})") from exc
            if not isinstance(obj, dict):
                raise CatalogError(f"{path}:{n}: expected a JSON object")
            obj["_where"] = f"{path}:{n}"
            rows.append(obj)
    elif path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8", newline="") as fh:
            for n, row in enumerate(csv.DictReader(fh), start=2):
                obj = {k.strip(): v for k, v in row.items() if k and v not in (None, "")}
                if "tags" in obj and ":" in obj["tags"]:
                    obj["tags"] = {t.split(":")[0]: float(t.split(":")[1]) for t in obj["tags"].split(";")}
                obj["_where"] = f"{path}:{n}"
                rows.append(obj)
    else:
        raise CatalogError(f"{path}: expected a .jsonl or .csv file")
    for r in rows:
        t = r.get("type", "song")
        if t not in CHANGE_TYPES:
            raise CatalogError(f"{r['_where']}: unknown change type {t!r}; expected {', '.join(CHANGE_TYPES)}")
    return rows


# --------------------------------------------------------------------------- the editor
class CatalogEditor:
    """Add, update and delete catalog entries in a store and keep derived indexes in step.

    Args:
        store: the graph store (the record).
        indexes: derived indexes updated after every operation (``apply(store, changes)``).
    """

    def __init__(self, store: GraphStore, indexes: Sequence[DerivedIndex] = ()):
        self.store = store
        self.indexes = list(indexes)

    # ---------------------------------------------------------------- songs
    def add_songs(self, records: Iterable[SongRecord | Mapping[str, Any]]) -> ChangeSet:
        """Add songs (or merge into existing ones, as ingest does); ``moods``/``tags`` dict keys add labels."""
        return self._commit(self._write_songs(records, replace=False))

    def update_songs(self, records: Iterable[SongRecord | Mapping[str, Any]]) -> ChangeSet:
        """Update existing songs: given scalar fields overwrite, given genres/moods/tags replace the old ones.

        Raises:
            CatalogError: a record names a song that is not in the store.
        """
        return self._commit(self._write_songs(records, replace=True))

    def _write_songs(self, records: Iterable[SongRecord | Mapping[str, Any]], replace: bool) -> ChangeSet:
        cs = ChangeSet()
        buf = GraphBuffer()
        pending: list[tuple[str, Mapping[str, Any] | None, SongRecord]] = []
        for i, raw in enumerate(records):
            where = raw.get("_where", f"record {i + 1}") if isinstance(raw, Mapping) else f"record {i + 1}"
            rec = song_record(raw, where)
            main, _ = split_featured(rec.artist)
            key = song_key(main, rec.title)
            pending.append((key, raw if isinstance(raw, Mapping) else None, rec))
        existing = self.store.get_nodes(Label.SONG, [k for k, _, _ in pending])
        if replace:
            missing = [k for k, _, _ in pending if k not in existing]
            if missing:
                raise CatalogError(f"update: song(s) not in the store: {', '.join(missing[:5])} "
                                   "(use `catalog add` for new songs)")
        for key, raw, rec in pending:
            if replace:
                cs.edges_deleted += self._clear_song_links(key, rec, raw)
            got = add_song(buf, rec)
            assert got == key
            if raw is not None:
                for mood in _list(raw.get("moods")):
                    m = normalize_tag(mood)
                    if m:
                        buf.node("Mood", m, {"name": m})
                        buf.edge("HAS_MOOD", "Song", key, "Mood", m, {"sources": [rec.source]})
                for tag in _list(raw.get("tags")):
                    t = normalize_tag(tag)
                    if t:
                        buf.node("Tag", t, {"name": tag.strip()})
                        buf.edge("TAGGED", "Song", key, "Tag", t, {"weight": 1.0})
            cs.note("updated" if key in existing else "added", Label.SONG, [key])
        self._flush(buf, cs)
        return cs

    def _clear_song_links(self, key: str, rec: SongRecord, raw: Mapping[str, Any] | None) -> int:
        n = 0
        replace_rels = []
        if rec.genres:
            replace_rels.append((Rel.HAS_GENRE, Label.GENRE))
        if raw is not None and raw.get("moods") is not None:
            replace_rels.append((Rel.HAS_MOOD, Label.MOOD))
        if raw is not None and raw.get("tags") is not None:
            replace_rels.append((Rel.TAGGED, Label.TAG))
        if rec.album:
            replace_rels.append((Rel.ON_ALBUM, Label.ALBUM))
        for rel, dst in replace_rels:
            old = [nb.key for _, nb in self.store.neighbors(Label.SONG, key, rel, "out")]
            n += self.store.delete_edges(rel, Label.SONG, dst, [(key, d) for d in old])
        return n

    def delete_songs(self, songs: Iterable[str | Mapping[str, Any]]) -> ChangeSet:
        """Delete songs (keys, or dicts with ``artist`` and ``title``) and what only they used.

        Raises:
            CatalogError: a song is not in the store.
        """
        keys = []
        for s in songs:
            if isinstance(s, str):
                keys.append(s)
            else:
                if s.get("key"):
                    keys.append(str(s["key"]))
                    continue
                if not s.get("artist") or not s.get("title"):
                    raise CatalogError(f"{s.get('_where', 'record')}: a song to delete needs 'key' or 'artist' and 'title'")
                keys.append(song_key(split_featured(str(s["artist"]))[0], str(s["title"])))
        have = self.store.get_nodes(Label.SONG, keys)
        missing = [k for k in keys if k not in have]
        if missing:
            raise CatalogError(f"delete: song(s) not in the store: {', '.join(missing[:5])}")
        return self._commit(self._delete_nodes(Label.SONG, keys))

    def _delete_nodes(self, label: str, keys: Sequence[str]) -> ChangeSet:
        cs = ChangeSet()
        # the nodes at the other end may become orphans
        touched: dict[str, set[str]] = {}
        for key in keys:
            for _edge, nb in self.store.neighbors(label, key):
                touched.setdefault(nb.label, set()).add(nb.key)
                cs.edges_deleted += 1
        self.store.delete_nodes(label, keys)
        cs.note("deleted", label, keys)
        for lab in (Label.ALBUM, Label.ARTIST, Label.GENRE, Label.MOOD, Label.TAG):
            cand = sorted(touched.get(lab, set()) - (set(keys) if lab == label else set()))
            orphans = [k for k in cand if self._is_orphan(lab, k)]
            if orphans:
                self.store.delete_nodes(lab, orphans)
                cs.note("deleted", lab, orphans)
        # an album whose songs are all gone keeps only ALBUM_BY: delete it too
        albums = [k for k in touched.get(Label.ALBUM, set())
                  if self.store.get_node(Label.ALBUM, k) is not None
                  and not self.store.neighbors(Label.ALBUM, k, Rel.ON_ALBUM, "in", limit=1)]
        if albums:
            self.store.delete_nodes(Label.ALBUM, albums)
            cs.note("deleted", Label.ALBUM, albums)
        return cs

    def _is_orphan(self, label: str, key: str) -> bool:
        return self.store.get_node(label, key) is not None and not self.store.neighbors(label, key, limit=1)

    # -------------------------------------------------------------- artists
    def add_artists(self, rows: Iterable[Mapping[str, Any]]) -> ChangeSet:
        """Add or update artists: ``name`` plus optional ``aliases``, ``tags`` ({tag: weight} or list), ``genres``."""
        cs = ChangeSet()
        buf = GraphBuffer()
        for i, row in enumerate(rows):
            where = row.get("_where", f"record {i + 1}")
            name = str(row.get("name") or row.get("artist") or "").strip()
            if not name:
                raise CatalogError(f"{where}: an artist needs 'name'")
            key = artist_key(name)
            existed = self.store.get_node(Label.ARTIST, key) is not None
            buf.node("Artist", key, {"name": name, "aliases": [name, *_list(row.get("aliases"))],
                                     "sources": [str(row.get("source", "catalog"))]})
            tags = row.get("tags") or {}
            items = tags.items() if isinstance(tags, Mapping) else ((t, 1.0) for t in _list(tags))
            for tag, w in items:
                t = normalize_tag(str(tag))
                if t:
                    buf.node("Tag", t, {"name": str(tag).strip()})
                    buf.edge("TAGGED", "Artist", key, "Tag", t, {"weight": float(w)})
            for genre in _list(row.get("genres")):
                g = normalize_tag(genre)
                if g:
                    buf.node("Genre", g, {"name": genre.strip()})
                    buf.edge("HAS_GENRE", "Artist", key, "Genre", g, {"sources": ["catalog"]})
            cs.note("updated" if existed else "added", Label.ARTIST, [key])
        self._flush(buf, cs)
        return self._commit(cs)

    def delete_artists(self, names: Iterable[str]) -> ChangeSet:
        """Delete artists with their songs (songs whose main artist they are) and everything only they used."""
        keys = [artist_key(n) if self.store.get_node(Label.ARTIST, n) is None else n for n in names]
        have = self.store.get_nodes(Label.ARTIST, keys)
        missing = [k for k in keys if k not in have]
        if missing:
            raise CatalogError(f"delete: artist(s) not in the store: {', '.join(missing[:5])}")
        cs = ChangeSet()
        songs = sorted({e.src.key for k in keys for e, _ in self.store.neighbors(Label.ARTIST, k, Rel.PERFORMED_BY, "in")
                        if e.props.get("role", "main") == "main"})
        if songs:
            cs.merge(self._delete_nodes(Label.SONG, songs))
        remaining = [k for k in keys if self.store.get_node(Label.ARTIST, k) is not None]
        if remaining:
            cs.merge(self._delete_nodes(Label.ARTIST, remaining))
        return self._commit(cs)

    # ----------------------------------------------------------------- tags
    def set_tags(self, rows: Iterable[Mapping[str, Any]], delete: bool = False) -> ChangeSet:
        """Add (or with ``delete`` remove) ``(artist)-[TAGGED {weight}]->(tag)`` rows: ``artist``, ``tag``, ``weight``."""
        cs = ChangeSet()
        buf = GraphBuffer()
        dels: list[tuple[str, str]] = []
        for i, row in enumerate(rows):
            where = row.get("_where", f"record {i + 1}")
            if not row.get("artist") or not row.get("tag"):
                raise CatalogError(f"{where}: a tag change needs 'artist' and 'tag'")
            a = artist_key(str(row["artist"]))
            if self.store.get_node(Label.ARTIST, a) is None:
                raise CatalogError(f"{where}: artist {row['artist']!r} is not in the store")
            t = normalize_tag(str(row["tag"]))
            if delete:
                dels.append((a, t))
            else:
                buf.node("Tag", t, {"name": str(row["tag"]).strip()})
                buf.edge("TAGGED", "Artist", a, "Tag", t, {"weight": float(row.get("weight", 1.0))})
            cs.note("updated", Label.ARTIST, [a])
        if dels:
            cs.edges_deleted += self.store.delete_edges(Rel.TAGGED, Label.ARTIST, Label.TAG, dels)
            orphans = [t for _, t in dels if self._is_orphan(Label.TAG, t)]
            if orphans:
                self.store.delete_nodes(Label.TAG, orphans)
                cs.note("deleted", Label.TAG, orphans)
        self._flush(buf, cs)
        return self._commit(cs)

    # -------------------------------------------------------------- listens
    def set_listens(self, rows: Iterable[Mapping[str, Any]], delete: bool = False) -> ChangeSet:
        """Add (or remove) ``(user)-[LISTENED_TO {weight}]->(artist)``: ``user`` (``source:id``), ``artist``, ``weight``.

        Users are created on first use (key ``<source>:<id>``; a bare id means ``catalog:<id>``).
        """
        cs = ChangeSet()
        buf = GraphBuffer()
        dels: list[tuple[str, str]] = []
        for i, row in enumerate(rows):
            where = row.get("_where", f"record {i + 1}")
            if not row.get("user") or not row.get("artist"):
                raise CatalogError(f"{where}: a listen needs 'user' and 'artist'")
            user = str(row["user"])
            if ":" not in user:
                user = f"catalog:{user}"
            a = artist_key(str(row["artist"]))
            if self.store.get_node(Label.ARTIST, a) is None and self.store.get_node(Label.ARTIST, str(row["artist"])) is None:
                raise CatalogError(f"{where}: artist {row['artist']!r} is not in the store")
            if self.store.get_node(Label.ARTIST, a) is None:
                a = str(row["artist"])
            if delete:
                dels.append((user, a))
            else:
                src, sid = user.split(":", 1)
                if self.store.get_node(Label.USER, user) is None:
                    buf.node("User", user, {"source": src, "source_id": sid})
                    cs.note("added", Label.USER, [user])
                buf.edge("LISTENED_TO", "User", user, "Artist", a, {"weight": float(row.get("weight", 1.0))})
            cs.note("updated", Label.USER, [user])
        if dels:
            cs.edges_deleted += self.store.delete_edges(Rel.LISTENED_TO, Label.USER, Label.ARTIST, dels)
        self._flush(buf, cs)
        return self._commit(cs)

    def delete_users(self, users: Iterable[str]) -> ChangeSet:
        """Delete users with their listening, tagging and friendship relationships."""
        keys = list(users)
        have = self.store.get_nodes(Label.USER, keys)
        missing = [k for k in keys if k not in have]
        if missing:
            raise CatalogError(f"delete: user(s) not in the store: {', '.join(missing[:5])}")
        return self._commit(self._delete_nodes(Label.USER, keys))

    # ---------------------------------------------------------------- files
    def apply_records(self, op: str, records: Sequence[Mapping[str, Any]]) -> ChangeSet:
        """Apply ``op`` (add, update, delete) to change records of any type (see :func:`read_changes`)."""
        if op not in OPERATIONS:
            raise CatalogError(f"unknown operation {op!r}; expected {', '.join(OPERATIONS)}")
        by_type: dict[str, list[Mapping[str, Any]]] = {}
        for r in records:
            by_type.setdefault(str(r.get("type", "song")), []).append(r)
        total = ChangeSet()
        saved, self.indexes = self.indexes, []  # one index update at the end
        try:
            for t in ("artist", "song", "tag", "listen") if op != "delete" else ("listen", "tag", "song", "artist"):
                rows = by_type.get(t)
                if not rows:
                    continue
                if t == "song":
                    fn = {"add": self.add_songs, "update": self.update_songs, "delete": self.delete_songs}[op]
                    total.merge(fn(rows))
                elif t == "artist":
                    if op == "delete":
                        total.merge(self.delete_artists([str(r.get("name") or r.get("artist")) for r in rows]))
                    else:
                        total.merge(self.add_artists(rows))
                elif t == "tag":
                    total.merge(self.set_tags(rows, delete=op == "delete"))
                else:
                    total.merge(self.set_listens(rows, delete=op == "delete"))
        finally:
            self.indexes = saved
        return self._commit(total)

    def apply_file(self, op: str, path: Path) -> ChangeSet:
        """Apply ``op`` to every change in a JSONL/CSV file."""
        return self.apply_records(op, read_changes(path))

    # -------------------------------------------------------------- helpers
    def _flush(self, buf: GraphBuffer, cs: ChangeSet) -> None:
        for label, rows in buf.nodes.items():
            if label not in LABELS:
                raise CatalogError(f"internal: unknown label {label}")
            if label != Label.SONG:
                have = self.store.get_nodes(label, list(rows))
                cs.note("added", label, [k for k in rows if k not in have])
        _, n_edges = buf.flush(self.store)
        cs.edges_written += n_edges

    def _commit(self, cs: ChangeSet) -> ChangeSet:
        for idx in self.indexes:
            cs.indexes[idx.name] = idx.apply(self.store, cs)
        return cs


def lyrics_ref(text: str) -> str:
    """The store's text reference of a lyric (``sha1:<hex>``), as ingest writes it."""
    return text_ref(text)
