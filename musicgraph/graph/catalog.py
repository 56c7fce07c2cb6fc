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
``artist``, ``tag``, ``listen``) and the fields of that type (validated by
:mod:`musicgraph.graph.changes` before anything is written)::

    {"type": "song", "artist": "Daft Punk", "title": "Get Lucky", "year": 2013, "genres": ["disco"],
     "features": {"energy": 0.81}, "moods": ["happy"], "lyrics": "..."}
    {"type": "artist", "name": "Daft Punk", "tags": {"electronic": 50}, "genres": ["house"]}
    {"type": "tag", "artist": "Daft Punk", "tag": "french house", "weight": 30}
    {"type": "listen", "user": "hetrec:2", "artist": "Daft Punk", "weight": 120}

Safety: every operation validates all its records first, then holds the store's write lock
(:func:`musicgraph.graph.locks.store_write_lock`: concurrent ``catalog`` commands run one after the
other) while it writes the store in one transaction (:meth:`GraphStore.transaction`: a file applies
whole or not at all) and then updates the derived indexes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from musicgraph.graph.changes import (
    CHANGE_TYPES,
    OPERATIONS,
    CatalogError,
    clean_artist,
    clean_listen,
    clean_song,
    clean_song_delete,
    clean_tag,
    read_changes,
    song_record,
    validate_changes,
)
from musicgraph.graph.check import DerivedIndex
from musicgraph.graph.ingest import GraphBuffer, add_song, text_ref
from musicgraph.graph.locks import store_write_lock
from musicgraph.graph.resolve import artist_key, normalize_tag
from musicgraph.graph.schema import LABELS, Label, Rel
from musicgraph.graph.store import GraphStore
from musicgraph.loaders.records import SongRecord

log = logging.getLogger(__name__)

__all__ = ["CHANGE_TYPES", "OPERATIONS", "CatalogEditor", "CatalogError", "ChangeSet", "read_changes", "song_record",
           "validate_changes"]


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


# --------------------------------------------------------------------------- the editor
class CatalogEditor:
    """Add, update and delete catalog entries in a store and keep derived indexes in step.

    Each public operation validates all its records, then, holding the store's write lock, writes the
    store in one transaction and updates the derived indexes.

    Args:
        store: the graph store (the record).
        indexes: derived indexes updated after every operation (``apply(store, changes)``).
        lock: hold the store's cross-process write lock (:func:`~musicgraph.graph.locks.store_write_lock`)
            during each operation.
    """

    def __init__(self, store: GraphStore, indexes: Sequence[DerivedIndex] = (), lock: bool = True):
        self.store = store
        self.indexes = list(indexes)
        self.lock = lock

    @contextmanager
    def _locked(self) -> Iterator[None]:
        if self.lock:
            with store_write_lock(self.store):
                yield
        else:
            yield

    def _run(self, write: Callable[[], ChangeSet]) -> ChangeSet:
        """``write`` in one store transaction under the write lock, then the index updates.

        Derived indexes that can be locked against readers (``updating()``) stay locked from before the
        store commit until they are updated: a reader sees the old store with the old indexes, or the new
        with the new, never the new store with indexes that have not caught up.
        """
        with self._locked(), ExitStack() as held:
            for idx in self.indexes:
                updating = getattr(idx, "updating", None)
                if updating is not None:
                    held.enter_context(updating())
            with self.store.transaction():
                cs = write()
            return self._commit(cs)

    # ---------------------------------------------------------------- songs
    def add_songs(self, records: Iterable[SongRecord | Mapping[str, Any]]) -> ChangeSet:
        """Add songs (or merge into existing ones, as ingest does); ``moods``/``tags`` dict keys add labels.

        Raises:
            CatalogError: an invalid record (nothing is written).
        """
        rows = [clean_song(r, f"record {i + 1}") for i, r in enumerate(records)]
        return self._run(lambda: self._write_songs(rows, replace=False))

    def update_songs(self, records: Iterable[SongRecord | Mapping[str, Any]]) -> ChangeSet:
        """Update existing songs: given scalar fields overwrite, given genres/moods/tags replace the old ones.

        Raises:
            CatalogError: an invalid record, or one naming a song that is not in the store (nothing is written).
        """
        rows = [clean_song(r, f"record {i + 1}") for i, r in enumerate(records)]
        return self._run(lambda: self._write_songs(rows, replace=True))

    def _write_songs(self, rows: Sequence[Mapping[str, Any]], replace: bool) -> ChangeSet:
        cs = ChangeSet()
        buf = GraphBuffer()
        existing = self.store.get_nodes(Label.SONG, [r["key"] for r in rows])
        if replace:
            missing = [r["key"] for r in rows if r["key"] not in existing]
            if missing:
                raise CatalogError(f"update: song(s) not in the store: {', '.join(missing[:5])} "
                                   "(use `catalog add` for new songs)")
        for row in rows:
            key, rec = row["key"], row["record"]
            if replace:
                cs.edges_deleted += self._clear_song_links(key, rec, row)
            got = add_song(buf, rec)
            if got != key:
                raise CatalogError(f"{row['_where']}: internal: song key {got!r} != {key!r}")
            for mood in row.get("moods") or ():
                m = normalize_tag(mood)
                buf.node("Mood", m, {"name": m})
                buf.edge("HAS_MOOD", "Song", key, "Mood", m, {"sources": [rec.source]})
            for tag in row.get("tags") or ():
                t = normalize_tag(tag)
                buf.node("Tag", t, {"name": tag.strip()})
                buf.edge("TAGGED", "Song", key, "Tag", t, {"weight": 1.0})
            cs.note("updated" if key in existing else "added", Label.SONG, [key])
        self._flush(buf, cs)
        return cs

    def _clear_song_links(self, key: str, rec: SongRecord, row: Mapping[str, Any]) -> int:
        n = 0
        replace_rels = []
        if rec.genres:
            replace_rels.append((Rel.HAS_GENRE, Label.GENRE))
        if row.get("moods") is not None:
            replace_rels.append((Rel.HAS_MOOD, Label.MOOD))
        if row.get("tags") is not None:
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
            CatalogError: a song is not in the store (nothing is deleted).
        """
        rows = [clean_song_delete(s, f"record {i + 1}") for i, s in enumerate(songs)]
        return self._run(lambda: self._delete_songs(rows))

    def _delete_songs(self, rows: Sequence[Mapping[str, Any]]) -> ChangeSet:
        keys = list(dict.fromkeys(r["key"] for r in rows))
        have = self.store.get_nodes(Label.SONG, keys)
        missing = [k for k in keys if k not in have]
        if missing:
            raise CatalogError(f"delete: song(s) not in the store: {', '.join(missing[:5])}")
        return self._delete_nodes(Label.SONG, keys)

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
        albums = [k for k in sorted(touched.get(Label.ALBUM, set()))
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
        """Add or update artists: ``name`` plus optional ``aliases``, ``tags`` ({tag: weight} or list), ``genres``.

        Raises:
            CatalogError: an invalid record (nothing is written).
        """
        clean = [clean_artist(r, f"record {i + 1}") for i, r in enumerate(rows)]
        return self._run(lambda: self._add_artists(clean))

    def _add_artists(self, rows: Sequence[Mapping[str, Any]]) -> ChangeSet:
        cs = ChangeSet()
        buf = GraphBuffer()
        for row in rows:
            name, key = row["name"], row["key"]
            existed = self.store.get_node(Label.ARTIST, key) is not None
            buf.node("Artist", key, {"name": name, "aliases": [name, *row["aliases"]], "sources": [row["source"]]})
            for tag, w in row["tags"]:
                t = normalize_tag(tag)
                buf.node("Tag", t, {"name": tag.strip()})
                buf.edge("TAGGED", "Artist", key, "Tag", t, {"weight": float(w)})
            for genre in row["genres"]:
                g = normalize_tag(genre)
                buf.node("Genre", g, {"name": genre.strip()})
                buf.edge("HAS_GENRE", "Artist", key, "Genre", g, {"sources": ["catalog"]})
            cs.note("updated" if existed else "added", Label.ARTIST, [key])
        self._flush(buf, cs)
        return cs

    def delete_artists(self, names: Iterable[str]) -> ChangeSet:
        """Delete artists with their songs (songs whose main artist they are) and everything only they used."""
        names = [n for n in names]
        for i, n in enumerate(names):
            if not isinstance(n, str) or not n.strip():
                raise CatalogError(f"record {i + 1}: an artist to delete needs a name, got {n!r}")
        return self._run(lambda: self._delete_artists(names))

    def _delete_artists(self, names: Sequence[str]) -> ChangeSet:
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
        return cs

    # ----------------------------------------------------------------- tags
    def set_tags(self, rows: Iterable[Mapping[str, Any]], delete: bool = False) -> ChangeSet:
        """Add (or with ``delete`` remove) ``(artist)-[TAGGED {weight}]->(tag)`` rows: ``artist``, ``tag``, ``weight``.

        Raises:
            CatalogError: an invalid record or an artist not in the store (nothing is written).
        """
        clean = [clean_tag(r, f"record {i + 1}") for i, r in enumerate(rows)]
        return self._run(lambda: self._set_tags(clean, delete))

    def _set_tags(self, rows: Sequence[Mapping[str, Any]], delete: bool) -> ChangeSet:
        cs = ChangeSet()
        buf = GraphBuffer()
        dels: list[tuple[str, str]] = []
        for row in rows:
            a = artist_key(row["artist"])
            if self.store.get_node(Label.ARTIST, a) is None:
                raise CatalogError(f"{row['_where']}: artist {row['artist']!r} is not in the store")
            t = normalize_tag(row["tag"])
            if delete:
                dels.append((a, t))
            else:
                buf.node("Tag", t, {"name": row["tag"].strip()})
                buf.edge("TAGGED", "Artist", a, "Tag", t, {"weight": row["weight"]})
            cs.note("updated", Label.ARTIST, [a])
        if dels:
            cs.edges_deleted += self.store.delete_edges(Rel.TAGGED, Label.ARTIST, Label.TAG, dels)
            orphans = [t for _, t in dels if self._is_orphan(Label.TAG, t)]
            if orphans:
                self.store.delete_nodes(Label.TAG, orphans)
                cs.note("deleted", Label.TAG, orphans)
        self._flush(buf, cs)
        return cs

    # -------------------------------------------------------------- listens
    def set_listens(self, rows: Iterable[Mapping[str, Any]], delete: bool = False) -> ChangeSet:
        """Add (or remove) ``(user)-[LISTENED_TO {weight}]->(artist)``: ``user`` (``source:id``), ``artist``, ``weight``.

        Users are created on first use (key ``<source>:<id>``; a bare id means ``catalog:<id>``).

        Raises:
            CatalogError: an invalid record or an artist not in the store (nothing is written).
        """
        clean = [clean_listen(r, f"record {i + 1}") for i, r in enumerate(rows)]
        return self._run(lambda: self._set_listens(clean, delete))

    def _set_listens(self, rows: Sequence[Mapping[str, Any]], delete: bool) -> ChangeSet:
        cs = ChangeSet()
        buf = GraphBuffer()
        dels: list[tuple[str, str]] = []
        for row in rows:
            user = row["user"]
            a = artist_key(row["artist"])
            if self.store.get_node(Label.ARTIST, a) is None and self.store.get_node(Label.ARTIST, row["artist"]) is None:
                raise CatalogError(f"{row['_where']}: artist {row['artist']!r} is not in the store")
            if self.store.get_node(Label.ARTIST, a) is None:
                a = row["artist"]
            if delete:
                dels.append((user, a))
            else:
                src, sid = user.split(":", 1)
                if self.store.get_node(Label.USER, user) is None and user not in buf.nodes.get("User", {}):
                    buf.node("User", user, {"source": src, "source_id": sid})
                    cs.note("added", Label.USER, [user])
                buf.edge("LISTENED_TO", "User", user, "Artist", a, {"weight": row["weight"]})
            cs.note("updated", Label.USER, [user])
        if dels:
            cs.edges_deleted += self.store.delete_edges(Rel.LISTENED_TO, Label.USER, Label.ARTIST, dels)
        self._flush(buf, cs)
        return cs

    def delete_users(self, users: Iterable[str]) -> ChangeSet:
        """Delete users with their listening, tagging and friendship relationships."""
        keys = list(users)
        return self._run(lambda: self._delete_users(keys))

    def _delete_users(self, keys: Sequence[str]) -> ChangeSet:
        have = self.store.get_nodes(Label.USER, keys)
        missing = [k for k in keys if k not in have]
        if missing:
            raise CatalogError(f"delete: user(s) not in the store: {', '.join(missing[:5])}")
        return self._delete_nodes(Label.USER, keys)

    # ---------------------------------------------------------------- files
    def apply_records(self, op: str, records: Sequence[Mapping[str, Any]]) -> ChangeSet:
        """Apply ``op`` (add, update, delete) to change records of any type (see :func:`read_changes`).

        Every record is validated first; the store is written in one transaction (a bad record, or one
        naming something not in the store, changes nothing), then the indexes are updated once.

        Raises:
            CatalogError: the first problem, with its ``file:line``.
        """
        clean = validate_changes(op, records)
        by_type: dict[str, list[dict[str, Any]]] = {}
        for r in clean:
            by_type.setdefault(r["type"], []).append(r)

        def write() -> ChangeSet:
            total = ChangeSet()
            for t in ("artist", "song", "tag", "listen") if op != "delete" else ("listen", "tag", "song", "artist"):
                rows = by_type.get(t)
                if not rows:
                    continue
                if t == "song":
                    if op == "delete":
                        total.merge(self._delete_songs(rows))
                    else:
                        total.merge(self._write_songs(rows, replace=op == "update"))
                elif t == "artist":
                    if op == "delete":
                        total.merge(self._delete_artists([r["name"] for r in rows]))
                    else:
                        total.merge(self._add_artists(rows))
                elif t == "tag":
                    total.merge(self._set_tags(rows, delete=op == "delete"))
                else:
                    total.merge(self._set_listens(rows, delete=op == "delete"))
            return total

        return self._run(write)

    def apply_file(self, op: str, path: Path) -> ChangeSet:
        """Apply ``op`` to every change in a JSONL/CSV file (all or nothing, see :meth:`apply_records`)."""
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
