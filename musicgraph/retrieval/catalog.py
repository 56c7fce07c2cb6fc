"""The song catalog that every retrieval index is built over, read once from a graph store.

Row ``i`` of every index (BM25, dense vectors, emotion profiles, audio features) is the song
``catalog.keys[i]``. Rows are assigned in song-key order when a catalog is first built; a later
build for a grown store keeps the old rows and appends new songs (:meth:`SongTable.from_store`
with ``previous``), and deleted songs become tombstones (``alive[i] == False``), so ids handed out
stay valid (issue 10's incremental updates build on this).

A catalog knows per song: title, main artist (key and name), album, year, genres (the song's and
its artist's), the artist's top Last.fm tags, mood labels, audio features, popularity and the
lyrics text reference. :meth:`document` and :func:`musicgraph.retrieval.textualize.textualize` turn a
row into the BM25 and dense texts.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from musicgraph.audio_features import CATALOG_FEATURES
from musicgraph.graph.check import IndexFileError, read_index_file
from musicgraph.graph.locks import atomic_save_npy, atomic_write_text
from musicgraph.graph.schema import Label, Rel
from musicgraph.graph.store import GraphStore

log = logging.getLogger(__name__)


#: Audio/metadata features kept as a float matrix (NaN = unknown), Spotify scales: its columns.
FEATURES: tuple[str, ...] = CATALOG_FEATURES

TOP_TAGS = 10
FORMAT = 1
#: The catalog's row keys alone (a copy of ``catalog.json``'s ``keys``), for repairs.
KEYS_FILE = "catalog.keys.json"


@dataclass(slots=True)
class SongTable:
    """The songs of a store as columns (keys, titles, artists, features, tags...), row-aligned with the
    retrieval indexes (formerly ``SongCatalog``)."""

    keys: list[str]
    titles: list[str]
    artists: list[str]
    artist_keys: list[str]
    albums: list[str]
    genres: list[list[str]]
    tags: list[list[str]]
    moods: list[list[str]]
    lyrics_refs: list[str | None]
    features: np.ndarray  # (n, len(FEATURES)) float32, NaN unknown
    alive: np.ndarray  # bool
    artist_names: dict[str, str] = field(default_factory=dict)  # artist key -> display name
    artist_aliases: dict[str, list[str]] = field(default_factory=dict)
    artist_tags: dict[str, list[str]] = field(default_factory=dict)
    tag_names: list[str] = field(default_factory=list)
    genre_names: list[str] = field(default_factory=list)
    mood_names: list[str] = field(default_factory=list)
    store_version: str = ""
    hidden_moods: int = 0
    #: per row: the audio features are graph estimates (``features_estimated``), not measurements
    estimated: np.ndarray | None = None
    #: per row: 1 explicit, 0 clean, -1 unknown (Song ``explicit``)
    explicit: np.ndarray | None = None
    _row: dict[str, int] | None = None
    _by_artist: dict[str, np.ndarray] | None = None

    # ----------------------------------------------------------------- access
    def __len__(self) -> int:
        return len(self.keys)

    def row(self, key: str) -> int | None:
        """The row of song ``key`` (None if absent or deleted)."""
        if self._row is None:
            self._row = {k: i for i, k in enumerate(self.keys)}
        r = self._row.get(key)
        return r if r is not None and self.alive[r] else None

    def _row_index(self, key: str) -> int | None:
        """The row of ``key``, alive or not (None if the catalog never had it)."""
        if self._row is None:
            self._row = {k: i for i, k in enumerate(self.keys)}
        return self._row.get(key)

    def rows_of_artist(self, artist_key: str) -> np.ndarray:
        """Rows of the songs whose main artist is ``artist_key``."""
        if self._by_artist is None:
            groups: dict[str, list[int]] = defaultdict(list)
            for i, a in enumerate(self.artist_keys):
                groups[a].append(i)
            self._by_artist = {a: np.asarray(r, dtype=np.int64) for a, r in groups.items()}
        return self._by_artist.get(artist_key, np.empty(0, dtype=np.int64))

    def explicit_flags(self) -> np.ndarray:
        """Per row: 1 explicit, 0 clean, -1 unknown."""
        if self.explicit is None:
            return np.full(len(self.keys), -1, dtype=np.int8)
        return self.explicit

    def estimated_flags(self) -> np.ndarray:
        """Per row: whether the audio features are graph estimates."""
        if self.estimated is None:
            return np.zeros(len(self.keys), dtype=bool)
        return self.estimated

    def feature(self, name: str) -> np.ndarray:
        """One feature column (NaN = unknown)."""
        return self.features[:, FEATURES.index(name)]

    def document(self, i: int, lyrics: str | None = None) -> str:
        """The BM25 text of row ``i``: title, artist, album, genres, tags, moods and lyrics."""
        parts = [self.titles[i], self.artists[i], self.albums[i], " ".join(self.genres[i]),
                 " ".join(self.tags[i]), " ".join(self.moods[i])]
        if lyrics:
            parts.append(lyrics)
        return "\n".join(p for p in parts if p)

    # ------------------------------------------------------------------ build
    @classmethod
    def from_store(
        cls,
        store: GraphStore,
        hidden_moods: Collection[str] = (),
        previous: SongTable | None = None,
    ) -> SongTable:
        """Read every song of ``store`` with its artist, genres, tags and moods.

        Args:
            hidden_moods: song keys whose mood labels are left out (held-out evaluation).
            previous: an older catalog whose row numbers are kept (new songs are appended).
        """
        hidden = set(hidden_moods)
        songs = {n.key: n for n in store.iter_nodes(Label.SONG)}
        artists = {n.key: n for n in store.iter_nodes(Label.ARTIST)}
        main_artist: dict[str, str] = {}
        for e in store.iter_edges(Rel.PERFORMED_BY):
            if e.props.get("role", "main") == "main" or e.src.key not in main_artist:
                main_artist.setdefault(e.src.key, e.dst.key)
                if e.props.get("role", "main") == "main":
                    main_artist[e.src.key] = e.dst.key
        song_genres: dict[str, list[str]] = defaultdict(list)
        artist_genres: dict[str, list[str]] = defaultdict(list)
        genre_nodes = {n.key: n.name for n in store.iter_nodes(Label.GENRE)}
        for e in store.iter_edges(Rel.HAS_GENRE):
            name = genre_nodes.get(e.dst.key, e.dst.key)
            (song_genres if e.src.label == Label.SONG else artist_genres)[e.src.key].append(name)
        song_moods: dict[str, list[str]] = defaultdict(list)
        mood_nodes = {n.key: n.name for n in store.iter_nodes(Label.MOOD)}
        for e in store.iter_edges(Rel.HAS_MOOD):
            if e.src.label == Label.SONG and e.src.key not in hidden:
                song_moods[e.src.key].append(mood_nodes.get(e.dst.key, e.dst.key))
        tag_nodes = {n.key: n.name for n in store.iter_nodes(Label.TAG)}
        weighted: dict[str, list[tuple[float, str]]] = defaultdict(list)
        song_tags: dict[str, list[str]] = defaultdict(list)
        for e in store.iter_edges(Rel.TAGGED):
            name = tag_nodes.get(e.dst.key, e.dst.key)
            if e.src.label == Label.ARTIST:
                w = e.props.get("weight", 1.0)
                weighted[e.src.key].append((float(w) if isinstance(w, (int, float)) else 1.0, name))
            else:
                song_tags[e.src.key].append(name)
        artist_tags = {a: [t for _, t in sorted(ts, key=lambda x: (-x[0], x[1]))[:TOP_TAGS]] for a, ts in weighted.items()}

        order = list(previous.keys) if previous is not None else []
        known = set(order)
        order += sorted(k for k in songs if k not in known)
        n = len(order)
        feats = np.full((n, len(FEATURES)), np.nan, dtype=np.float32)
        alive = np.zeros(n, dtype=bool)
        estimated = np.zeros(n, dtype=bool)
        explicit = np.full(n, -1, dtype=np.int8)
        cols: dict[str, list[Any]] = {c: [] for c in ("titles", "artists", "artist_keys", "albums", "genres",
                                                       "tags", "moods", "lyrics_refs")}
        for i, key in enumerate(order):
            node = songs.get(key)
            akey = main_artist.get(key) or key.split("|", 1)[0]
            _fill_row(i, key, node, akey, artists.get(akey), song_genres.get(key, []), artist_genres.get(akey, []),
                      song_tags.get(key, []), artist_tags.get(akey, []), song_moods.get(key, []),
                      feats, alive, estimated, explicit, cols)
        return cls(
            keys=order,
            features=feats,
            alive=alive,
            estimated=estimated,
            explicit=explicit,
            artist_names={k: a.name for k, a in artists.items()},
            artist_aliases={k: [str(x) for x in (a.props.get("aliases") or [])] for k, a in artists.items()
                            if a.props.get("aliases")},
            artist_tags=artist_tags,
            tag_names=sorted(set(tag_nodes.values())),
            genre_names=sorted(set(genre_nodes.values())),
            mood_names=sorted(set(mood_nodes.values())),
            store_version=store.version(),
            hidden_moods=len(hidden),
            **cols,
        )

    def refresh(self, store: GraphStore, song_keys: Collection[str], artist_keys: Collection[str] = ()) -> SongTable:
        """A copy with the rows of ``song_keys`` and of every song of ``artist_keys`` re-read from ``store``.

        The incremental form of :meth:`from_store` (``previous=self``): new songs are appended, deleted
        ones become tombstones, and only the named songs and artists are read (their edges through
        :meth:`GraphStore.neighbors`), so a change of a few songs costs milliseconds instead of a pass
        over the whole store. Equal to ``from_store(store, previous=self)`` when the keys cover every
        song whose indexed fields changed (tests check it); catalogs with held-out moods are rebuilt.
        """
        if self.hidden_moods:
            return SongTable.from_store(store, previous=self)
        artist_keys = set(artist_keys)
        affected = set(song_keys)
        for a in artist_keys:
            affected.update(self.keys[r] for r in self.rows_of_artist(a).tolist())
        songs = store.get_nodes(Label.SONG, affected)
        main_artist: dict[str, str] = {}
        song_edges: dict[str, dict[str, list[tuple[Any, Any]]]] = {}
        for key in songs:
            out: dict[str, list[tuple[Any, Any]]] = defaultdict(list)
            for e, other in store.neighbors(Label.SONG, key, direction="out"):
                out[e.type].append((e, other))
            for rel in out:
                out[rel].sort(key=lambda eo: eo[1].key)  # iter_edges order: (src, dst)
            song_edges[key] = out
            for e, other in out.get(Rel.PERFORMED_BY, []):
                role = e.props.get("role", "main")
                if role == "main" or key not in main_artist:
                    main_artist.setdefault(key, other.key)
                    if role == "main":
                        main_artist[key] = other.key
        need_artists = artist_keys | {main_artist.get(k) or k.split("|", 1)[0] for k in affected | set(songs)}
        artists = store.get_nodes(Label.ARTIST, need_artists)
        artist_genres: dict[str, list[str]] = {}
        artist_tags = dict(self.artist_tags)
        for a in need_artists:
            genres, weighted = [], []
            for e, other in sorted(store.neighbors(Label.ARTIST, a, direction="out"), key=lambda eo: eo[1].key):
                if e.type == Rel.HAS_GENRE:
                    genres.append(other.name)
                elif e.type == Rel.TAGGED and other.label == Label.TAG:
                    w = e.props.get("weight", 1.0)
                    weighted.append((float(w) if isinstance(w, (int, float)) else 1.0, other.name))
            artist_genres[a] = genres
            artist_tags.pop(a, None)
            if weighted:
                artist_tags[a] = [t for _, t in sorted(weighted, key=lambda x: (-x[0], x[1]))[:TOP_TAGS]]
        order = list(self.keys)
        known = set(order)
        order += sorted(k for k in songs if k not in known)
        n = len(order)
        feats = np.full((n, len(FEATURES)), np.nan, dtype=np.float32)
        feats[: len(self)] = self.features
        alive = np.zeros(n, dtype=bool)
        alive[: len(self)] = self.alive
        estimated = np.zeros(n, dtype=bool)
        estimated[: len(self)] = self.estimated_flags()
        explicit = np.full(n, -1, dtype=np.int8)
        explicit[: len(self)] = self.explicit_flags()
        cols: dict[str, list[Any]] = {c: list(getattr(self, c)) + [None] * (n - len(self)) for c in
                                      ("titles", "artists", "artist_keys", "albums", "genres", "tags", "moods",
                                       "lyrics_refs")}
        row = {k: i for i, k in enumerate(order)}
        for key in affected | set(songs):
            i = row.get(key)
            if i is None:
                continue
            node = songs.get(key)  # None: deleted, a tombstone filled exactly as from_store fills one
            edges = song_edges.get(key, {})
            akey = main_artist.get(key) or key.split("|", 1)[0]
            song_genres = [o.name for _, o in edges.get(Rel.HAS_GENRE, [])]
            moods = [o.name for _, o in edges.get(Rel.HAS_MOOD, [])]
            song_tags = [o.name for _, o in edges.get(Rel.TAGGED, [])]
            feats[i] = np.nan
            _fill_row(i, key, node, akey, artists.get(akey), song_genres, artist_genres.get(akey, []), song_tags,
                      artist_tags.get(akey, []), moods, feats, alive, estimated, explicit, cols, replace=True)
        names = dict(self.artist_names)
        aliases = dict(self.artist_aliases)
        for a in artist_keys:
            node = artists.get(a)
            names.pop(a, None)
            aliases.pop(a, None)
            if node is not None:
                names[a] = node.name
                if node.props.get("aliases"):
                    aliases[a] = [str(x) for x in node.props["aliases"]]
        for a, node in artists.items():
            names.setdefault(a, node.name)
        return SongTable(
            keys=order, features=feats, alive=alive, estimated=estimated, explicit=explicit,
            artist_names=names, artist_aliases=aliases, artist_tags=artist_tags,
            tag_names=sorted({n.name for n in store.iter_nodes(Label.TAG)}),
            genre_names=sorted({n.name for n in store.iter_nodes(Label.GENRE)}),
            mood_names=sorted({n.name for n in store.iter_nodes(Label.MOOD)}),
            store_version=store.version(), hidden_moods=0, **cols,
        )

    # ------------------------------------------------------------ persistence
    def save(self, directory: Path) -> None:
        """Write ``catalog.json`` and ``features.npy`` under ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        data = {
            "format": FORMAT,
            "store_version": self.store_version,
            "hidden_moods": self.hidden_moods,
            "keys": self.keys,
            "titles": self.titles,
            "artists": self.artists,
            "artist_keys": self.artist_keys,
            "albums": self.albums,
            "genres": self.genres,
            "tags": self.tags,
            "moods": self.moods,
            "lyrics_refs": self.lyrics_refs,
            "artist_names": self.artist_names,
            "artist_aliases": self.artist_aliases,
            "artist_tags": self.artist_tags,
            "tag_names": self.tag_names,
            "genre_names": self.genre_names,
            "mood_names": self.mood_names,
        }
        # unique temporary names, then atomic moves: concurrent writers never share a file
        atomic_write_text(directory / "catalog.json", json.dumps(data, ensure_ascii=False))
        # the row order alone, a second time: a repair of a lost catalog.json keeps every row number
        atomic_write_text(directory / KEYS_FILE, json.dumps(self.keys, ensure_ascii=False))
        atomic_save_npy(directory / "features.npy", self.features)
        atomic_save_npy(directory / "alive.npy", self.alive)
        if self.estimated is not None:
            atomic_save_npy(directory / "estimated.npy", self.estimated)
        if self.explicit is not None:
            atomic_save_npy(directory / "explicit.npy", self.explicit)

    @classmethod
    def load(cls, directory: Path) -> SongTable:
        """Read a catalog written by :meth:`save`.

        Raises:
            FileNotFoundError: no catalog in ``directory``.
            IndexFileError: a file is unreadable or inconsistent (the message names it and suggests
                ``musicgraph check --repair``); ``part`` is ``catalog`` for ``catalog.json``, else
                ``catalog-arrays``.
        """
        directory = Path(directory)
        path = directory / "catalog.json"
        if not path.is_file():
            raise FileNotFoundError(f"no song catalog in {directory} (run `musicgraph index build`)")

        def read_json() -> dict[str, Any]:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
                raise ValueError("not a catalog object")
            return data

        data = read_index_file(path, "catalog", read_json)
        if data.get("format") != FORMAT:
            raise ValueError(f"{path}: catalog format {data.get('format')} != {FORMAT}; rebuild the index")
        data.pop("format")
        n = len(data["keys"])
        columns = ("titles", "artists", "artist_keys", "albums", "genres", "tags", "moods", "lyrics_refs")
        bad = [c for c in columns if not isinstance(data.get(c), list) or len(data[c]) != n]
        if bad:
            raise IndexFileError(path, "catalog", f"columns {', '.join(bad)} do not have {n} rows")
        arrays: dict[str, np.ndarray | None] = {}
        for name, shape in (("features", (n, len(FEATURES))), ("alive", (n,)), ("estimated", (n,)),
                            ("explicit", (n,))):
            f = directory / f"{name}.npy"
            if name in ("estimated", "explicit") and not f.is_file():
                arrays[name] = None
                continue
            arr = read_index_file(f, "catalog-arrays", lambda f=f: np.load(f))
            if arr.shape != shape:
                raise IndexFileError(f, "catalog-arrays", f"shape {arr.shape}, expected {shape}")
            arrays[name] = arr
        return cls(features=arrays["features"], alive=arrays["alive"].astype(bool), estimated=arrays["estimated"],
                   explicit=arrays["explicit"], **data)


def _fill_row(i: int, key: str, node: Any, akey: str, anode: Any, song_genres: list[str], artist_genres: list[str],
              song_tags: list[str], artist_tags: list[str], moods: list[str], feats: np.ndarray, alive: np.ndarray,
              estimated: np.ndarray, explicit: np.ndarray, cols: dict[str, list[Any]], replace: bool = False) -> None:
    """Row ``i`` of a catalog from a song node and its edges (shared by from_store and refresh)."""
    props = node.props if node is not None else {}
    alive[i] = node is not None
    estimated[i] = bool(props.get("features_estimated"))
    explicit[i] = int(bool(props["explicit"])) if isinstance(props.get("explicit"), (bool, int)) else -1
    aname = str(props.get("artist") or (anode.name if anode else akey))
    genres = list(dict.fromkeys([*song_genres, *(props.get("genres") or []), *artist_genres]))
    values = {
        "titles": str(props.get("title") or key.split("|", 1)[-1]),
        "artists": aname,
        "artist_keys": akey,
        "albums": str(props.get("album") or ""),
        "genres": [str(g) for g in genres[:12]],
        "tags": list(dict.fromkeys([*song_tags, *artist_tags]))[:TOP_TAGS],
        "moods": sorted(set(moods)),
        "lyrics_refs": str(props["lyrics_ref"]) if props.get("lyrics_ref") else None,
    }
    for c, v in values.items():
        if replace:
            cols[c][i] = v
        else:
            cols[c].append(v)
    for j, f in enumerate(FEATURES):
        v = props.get(f)
        if isinstance(v, bool):
            v = float(v)
        if isinstance(v, (int, float)):
            feats[i, j] = float(v)
