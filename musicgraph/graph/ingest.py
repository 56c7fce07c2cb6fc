"""Ingest the public datasets into a graph store, idempotently and resumably.

Ingest runs as a fixed sequence of *stages* (one per dataset file family). Each stage reads its
loader's records, resolves entities (:mod:`musicgraph.graph.resolve`), aggregates rows in memory
(e.g. sums play counts of artists that merge), and upserts nodes before relationships in batched
transactions. When a stage finishes, a checkpoint ``ingest:stage:<name>`` holding the fingerprint
of its input files is written to the store:

* rerunning skips stages whose checkpoint matches (``force=True`` reruns them);
* a process killed mid-stage leaves that stage without a checkpoint, so the rerun redoes it, and
  since every write is an upsert with deterministic merge rules, the result equals an
  uninterrupted run.

MTG-Jamendo is not ingested: it ships Jamendo ids without artist or track names, so nothing in it
joins the rest of the graph (its loader is there for mood-tag statistics).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from musicgraph.audio_features import SONG_FEATURES
from musicgraph.graph.resolve import _strip_title as display_title
from musicgraph.graph.resolve import (
    artist_key,
    hetrec_key,
    normalize_tag,
    song_key,
    split_featured,
    title_featured,
)
from musicgraph.graph.store import GraphStore, merge_props
from musicgraph.loaders import hetrec, lyrics, moodylyrics, msd, playlists, spotify
from musicgraph.loaders.base import DataNotFoundError
from musicgraph.loaders.records import LoadReport, MoodLabel, SongRecord

log = logging.getLogger(__name__)

Props = dict[str, Any]


# --------------------------------------------------------------------------- buffers
class GraphBuffer:
    """Nodes and edges of one stage, merged in memory before they are written."""

    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, Props]] = defaultdict(dict)
        self.edges: dict[tuple[str, str, str], dict[tuple[str, str], Props]] = defaultdict(dict)
        self.texts: dict[str, str] = {}

    def node(self, label: str, key: str, props: Mapping[str, Any]) -> None:
        self.nodes[label][key] = merge_props(self.nodes[label].get(key), props)

    def edge(self, rel: str, src_label: str, src: str, dst_label: str, dst: str, props: Mapping[str, Any]) -> None:
        bucket = self.edges[(rel, src_label, dst_label)]
        bucket[(src, dst)] = merge_props(bucket.get((src, dst)), props)

    def add_edge_weight(self, rel: str, src_label: str, src: str, dst_label: str, dst: str, weight: float) -> None:
        bucket = self.edges[(rel, src_label, dst_label)]
        props = bucket.setdefault((src, dst), {"weight": 0.0})
        props["weight"] = props.get("weight", 0.0) + weight

    def flush(self, store: GraphStore) -> tuple[int, int]:
        n_nodes = n_edges = 0
        for label, rows in self.nodes.items():
            n_nodes += store.upsert_nodes(label, sorted(rows.items()))
        if self.texts:
            store.put_texts(self.texts)
        for (rel, sl, dl), rows in self.edges.items():
            n_edges += store.upsert_edges(rel, sl, dl, [(s, d, p) for (s, d), p in sorted(rows.items())])
        return n_nodes, n_edges


# ---------------------------------------------------------------------- song mapping
def _artist_node(buf: GraphBuffer, name: str, source: str) -> str:
    key = artist_key(name)
    buf.node("Artist", key, {"name": name.strip(), "aliases": [name.strip()], "sources": [source]})
    return key


def add_song(buf: GraphBuffer, rec: SongRecord) -> str:
    """Map a :class:`SongRecord` to Song/Artist/Album/Genre nodes and their relationships."""
    main, featured = split_featured(rec.artist)
    featured = featured + title_featured(rec.title) + list(rec.featured)
    a_key = _artist_node(buf, main, rec.source)
    key = song_key(main, rec.title)
    props: Props = {
        "title": display_title(rec.title) or rec.title.strip(),
        "artist": main,
        "aliases": [f"{rec.artist.strip()} - {rec.title.strip()}"],
        "sources": [rec.source],
        "album": rec.album,
        "year": rec.year,
        "release_date": rec.release_date,
        "popularity": rec.popularity,
        "explicit": rec.explicit,
        "duration_ms": rec.duration_ms,
        "spotify_id": rec.spotify_id,
        "msd_track_id": rec.msd_track_id,
        "msd_song_id": rec.msd_song_id,
    }
    if rec.source_id:
        props[f"{rec.source}_id"] = rec.source_id
    if rec.features is not None:
        for name, value in rec.features.as_dict().items():
            if name in SONG_FEATURES:
                props[name] = value
        props["has_features"] = True
    if rec.lyrics:
        ref = text_ref(rec.lyrics)
        buf.texts[ref] = rec.lyrics
        props["lyrics_ref"] = ref
        props["lyrics_source"] = rec.source
    buf.node("Song", key, props)
    buf.edge("PERFORMED_BY", "Song", key, "Artist", a_key, {"role": "main"})
    for feat in featured:
        f_key = _artist_node(buf, feat, rec.source)
        if f_key != a_key:
            buf.edge("PERFORMED_BY", "Song", key, "Artist", f_key, {"role": "featured"})
    if rec.album:
        album_key = f"{a_key}|{normalize_tag(rec.album) or rec.album.strip().lower()}"
        buf.node("Album", album_key, {"name": rec.album.strip(), "artist": main, "sources": [rec.source]})
        buf.edge("ON_ALBUM", "Song", key, "Album", album_key, {})
        buf.edge("ALBUM_BY", "Album", album_key, "Artist", a_key, {})
    for genre in rec.genres:
        g_key = normalize_tag(genre)
        if g_key:
            buf.node("Genre", g_key, {"name": genre.strip()})
            buf.edge("HAS_GENRE", "Song", key, "Genre", g_key, {"sources": [rec.source]})
    return key


def text_ref(text: str) -> str:
    """Content reference of a long text: ``sha1:<hex>``."""
    return "sha1:" + hashlib.sha1(text.encode("utf-8")).hexdigest()


def add_mood_label(buf: GraphBuffer, label: MoodLabel) -> None:
    """A mood label creates the song (if needed) and ``(Song)-[HAS_MOOD]->(Mood)``."""
    s_key = add_song(buf, SongRecord(source=label.source, title=label.title, artist=label.artist))
    mood = normalize_tag(label.mood)
    buf.node("Mood", mood, {"name": mood})
    buf.edge("HAS_MOOD", "Song", s_key, "Mood", mood, {"sources": [label.source], "confidence": label.confidence})


# ---------------------------------------------------------------------------- stages
@dataclass(slots=True)
class StageResult:
    name: str
    records: int = 0
    skipped: int = 0
    nodes_written: int = 0
    edges_written: int = 0
    seconds: float = 0.0
    skipped_reasons: list[str] = field(default_factory=list)
    resumed: bool = False


@dataclass(slots=True)
class IngestReport:
    """What an ingest run did, stage by stage."""

    stages: list[StageResult] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 2),
            "stages": [
                {
                    "name": s.name,
                    "records": s.records,
                    "skipped": s.skipped,
                    "nodes_written": s.nodes_written,
                    "edges_written": s.edges_written,
                    "seconds": round(s.seconds, 2),
                    "resumed": s.resumed,
                    "skipped_reasons": s.skipped_reasons[:20],
                }
                for s in self.stages
            ],
        }


StageFn = Callable[[Path, GraphBuffer, LoadReport, GraphStore], int]


def _stage_hetrec_core(data_dir: Path, buf: GraphBuffer, rep: LoadReport, store: GraphStore) -> int:
    """HetRec artists, users, listening (weights summed over artists that merge) and friends."""
    n = 0
    id_to_key: dict[str, str] = {}
    for rec in hetrec.iter_artists(data_dir, rep):
        key = artist_key(rec.name)
        id_to_key[rec.source_id] = key
        buf.node(
            "Artist",
            key,
            {"name": rec.name, "aliases": [rec.name], "sources": ["hetrec"], "hetrec_ids": [rec.source_id],
             "url": rec.url},
        )
        n += 1
    store.set_meta("ingest:hetrec_artist_ids", json.dumps(id_to_key, sort_keys=True))
    for rec in hetrec.iter_listens(data_dir, rep):
        key = id_to_key.get(rec.artist_id)
        if key is None:
            rep.add_problem("hetrec_lastfm2k/user_artists.dat", 0, f"unknown artistID {rec.artist_id}")
            continue
        u = hetrec_key(rec.user_id)
        buf.node("User", u, {"source": "hetrec", "source_id": rec.user_id, "name": f"Last.fm user {rec.user_id}"})
        buf.add_edge_weight("LISTENED_TO", "User", u, "Artist", key, float(rec.weight))
        n += 1
    for rec in hetrec.iter_friends(data_dir, rep):
        u, f = hetrec_key(rec.user_id), hetrec_key(rec.friend_id)
        buf.node("User", u, {"source": "hetrec", "source_id": rec.user_id, "name": f"Last.fm user {rec.user_id}"})
        buf.node("User", f, {"source": "hetrec", "source_id": rec.friend_id, "name": f"Last.fm user {rec.friend_id}"})
        buf.edge("FRIEND_OF", "User", u, "User", f, {})
        n += 1
    return n


def _stage_hetrec_tags(data_dir: Path, buf: GraphBuffer, rep: LoadReport, store: GraphStore) -> int:
    """HetRec tags: (Artist)-[TAGGED {weight = distinct users}]->(Tag), (User)-[USED_TAG {weight}]->(Tag)."""
    id_to_key: dict[str, str] = json.loads(store.get_meta("ingest:hetrec_artist_ids") or "{}")
    tags: dict[str, str] = {}
    display: dict[str, str] = {}
    for rec in hetrec.iter_tags(data_dir, rep):
        key = normalize_tag(rec.name)
        if not key:
            rep.add_problem("hetrec_lastfm2k/tags.dat", 0, f"tag {rec.tag_id} {rec.name!r} is empty after normalization")
            continue
        tags[rec.tag_id] = key
        display.setdefault(key, rec.name.strip())
    users_per_pair: dict[tuple[str, str], set[str]] = defaultdict(set)
    uses: dict[tuple[str, str], int] = defaultdict(int)
    n = 0
    for rec in hetrec.iter_tag_assignments(data_dir, rep):
        a_key = id_to_key.get(rec.artist_id)
        t_key = tags.get(rec.tag_id)
        if a_key is None or t_key is None:
            what = f"artistID {rec.artist_id}" if a_key is None else f"tagID {rec.tag_id}"
            rep.add_problem("hetrec_lastfm2k/user_taggedartists.csv", 0, f"unknown {what}")
            continue
        users_per_pair[(a_key, t_key)].add(rec.user_id)
        uses[(hetrec_key(rec.user_id), t_key)] += 1
        n += 1
    used_tags = {t for _, t in users_per_pair} | {t for _, t in uses}
    for t in sorted(used_tags):
        buf.node("Tag", t, {"name": display.get(t, t), "sources": ["hetrec"]})
    for (a, t), users in users_per_pair.items():
        buf.edge("TAGGED", "Artist", a, "Tag", t, {"weight": float(len(users))})
    for (u, t), count in uses.items():
        uid = u.split(":", 1)[1]
        buf.node("User", u, {"source": "hetrec", "source_id": uid, "name": f"Last.fm user {uid}"})
        buf.edge("USED_TAG", "User", u, "Tag", t, {"weight": float(count)})
    return n


def _songs_stage(*loaders: Callable[[Path, LoadReport], Iterable[SongRecord]]) -> StageFn:
    doc = "Songs from " + ", ".join(f"{ld.__module__.rsplit('.', 1)[-1]}.{ld.__name__}" for ld in loaders)
    return _records_stage(add_song, loaders, doc)


def _moods_stage(*loaders: Callable[[Path, LoadReport], Iterable[MoodLabel]]) -> StageFn:
    return _records_stage(add_mood_label, loaders, "Mood labels from " + ", ".join(ld.__name__ for ld in loaders))


def _records_stage(add: Callable[[GraphBuffer, Any], Any], loaders: Sequence[Callable[[Path, LoadReport], Iterable[Any]]],
                   doc: str) -> StageFn:
    """A stage that adds every record of ``loaders`` to the buffer with ``add`` (its ``__doc__`` is ``doc``)."""
    def run(data_dir: Path, buf: GraphBuffer, rep: LoadReport, store: GraphStore) -> int:
        n = 0
        for loader in loaders:
            for rec in loader(data_dir, rep):
                add(buf, rec)
                n += 1
        return n

    run.__doc__ = doc
    return run


def _stage_playlists(data_dir: Path, buf: GraphBuffer, rep: LoadReport, store: GraphStore) -> int:
    """The 300 Spotify playlists and the 40 MPD playlists (+ their gold moods and lyric texts)."""
    n = 0
    for loader in (playlists.iter_spotify300, playlists.iter_mpd_tracks):
        for rec in loader(data_dir, rep):
            s_key = add_song(
                buf,
                SongRecord(source=rec.source, title=rec.title, artist=rec.artist, album=rec.album,
                           spotify_id=rec.spotify_id),
            )
            p_key = f"{rec.source}:{rec.playlist_id}"
            buf.node("Playlist", p_key, {"name": rec.playlist_name, "source": rec.source})
            bucket = buf.edges[("IN_PLAYLIST", "Song", "Playlist")]
            current = bucket.get((s_key, p_key))
            if current is None or rec.position < current["position"]:
                bucket[(s_key, p_key)] = {"position": rec.position}
            n += 1
    for mood_rec in playlists.iter_mpd_moods(data_dir, rep):
        p_key = f"{mood_rec.source}:{mood_rec.playlist_id}"
        mood = normalize_tag(mood_rec.mood)
        buf.node("Mood", mood, {"name": mood})
        buf.node("Playlist", p_key, {"source": mood_rec.source})
        buf.edge("HAS_MOOD", "Playlist", p_key, "Mood", mood, {"sources": [mood_rec.source], "confidence": 1.0})
        n += 1
    for lyr in playlists.iter_mpd_lyrics(data_dir, rep):
        add_song(buf, SongRecord(source="mpd_lyrics", title=lyr.title, artist=lyr.artist, lyrics=lyr.text))
        n += 1
    return n


def _stage_artist_genres(data_dir: Path, buf: GraphBuffer, rep: LoadReport, store: GraphStore) -> int:
    """Spotify artist genres, attached to artists already in the graph (others are counted, not added)."""
    known = set(store.node_keys("Artist"))
    matched = unmatched = 0
    for rec in spotify.iter_artist_genres(data_dir, rep):
        key = artist_key(rec.artist)
        if key not in known or not rec.genres:
            unmatched += 1
            continue
        matched += 1
        buf.node("Artist", key, {"sources": ["spotify_genres"]})
        for genre in rec.genres:
            g_key = normalize_tag(genre)
            if g_key:
                buf.node("Genre", g_key, {"name": genre})
                buf.edge("HAS_GENRE", "Artist", key, "Genre", g_key, {"sources": ["spotify_genres"]})
    store.set_meta("ingest:artist_genres", json.dumps({"matched": matched, "unmatched": unmatched}))
    return matched


#: The stages in order: (name, function, input files relative to the data directory).
STAGES: tuple[tuple[str, StageFn, tuple[str, ...]], ...] = (
    ("hetrec", _stage_hetrec_core,
     ("hetrec_lastfm2k/artists.dat", "hetrec_lastfm2k/user_artists.dat", "hetrec_lastfm2k/user_friends.dat")),
    ("hetrec_tags", _stage_hetrec_tags, ("hetrec_lastfm2k/tags.dat", "hetrec_lastfm2k/user_taggedartists.csv")),
    ("spotify_songs", _songs_stage(spotify.iter_top10s, spotify.iter_top_hits, spotify.iter_mood_songs),
     ("spotify_features/top10s.csv", "spotify_features/songs_normalize.csv", "spotify_features/data_moods.csv")),
    ("lyrics", _songs_stage(lyrics.iter_poplyrics, lyrics.iter_metallica),
     ("lyrics/poplyric-1k.csv", "lyrics/metallica_lyrics_cristobalvch.csv")),
    ("msd", _songs_stage(msd.iter_tracks), ("msd_subset/subset_unique_tracks.txt",)),
    ("moods", _moods_stage(spotify.iter_mood_labels, moodylyrics.iter_moodylyrics, moodylyrics.iter_moodylyrics4q),
     ("spotify_features/data_moods.csv", "mpd_emotion_playlists/MoodyLyrics.csv",
      "mpd_emotion_playlists/MoodyLyrics4Q.csv")),
    ("playlists", _stage_playlists,
     ("spotify_playlists_300/RA_19k_playlist_tracks.csv", "mpd_emotion_playlists/old_silver_standard")),
    ("artist_genres", _stage_artist_genres, ("spotify_features/artist_genres_data_w_genres.csv",)),
)

STAGE_NAMES: tuple[str, ...] = tuple(name for name, _, _ in STAGES)


def _fingerprint(data_dir: Path, files: Sequence[str]) -> str:
    h = hashlib.sha1()
    for rel in files:
        path = data_dir / rel
        if not path.exists():
            raise DataNotFoundError(
                f"{path} is missing: set MUSICGRAPH_DATA_DIR to the directory holding the datasets "
                f"(looked in {data_dir}); see the README's Data section for downloads"
            )
        paths = sorted(path.rglob("*")) if path.is_dir() else [path]
        for p in paths:
            if p.is_file():
                st = p.stat()
                h.update(f"{p.relative_to(data_dir)}:{st.st_size}:{int(st.st_mtime)}".encode())
    return h.hexdigest()


def check_data_dir(data_dir: Path) -> None:
    """Raise :class:`DataNotFoundError` with guidance if ``data_dir`` does not look like the data directory."""
    if not data_dir.is_dir():
        raise DataNotFoundError(
            f"data directory {data_dir} does not exist: set MUSICGRAPH_DATA_DIR to the folder that holds "
            "hetrec_lastfm2k/, spotify_features/, ... (see the README's Data section)"
        )
    if not (data_dir / "hetrec_lastfm2k").is_dir():
        raise DataNotFoundError(
            f"{data_dir} has no hetrec_lastfm2k/ folder: set MUSICGRAPH_DATA_DIR to the datasets folder "
            "(see the README's Data section)"
        )


def ingest(
    store: GraphStore,
    data_dir: Path,
    stages: Sequence[str] | None = None,
    force: bool = False,
    progress: bool = True,
) -> IngestReport:
    """Load the public datasets in ``data_dir`` into ``store``.

    Args:
        store: any :class:`~musicgraph.graph.store.GraphStore`.
        data_dir: the datasets folder (``MUSICGRAPH_DATA_DIR``).
        stages: a subset of :data:`STAGE_NAMES` (default: all, in order).
        force: rerun stages even if their checkpoint matches.
        progress: show a progress bar.

    Returns:
        An :class:`IngestReport`. Malformed rows are counted and logged per stage, never fatal.
    """
    check_data_dir(data_dir)
    selected = list(stages) if stages else list(STAGE_NAMES)
    unknown = [s for s in selected if s not in STAGE_NAMES]
    if unknown:
        raise ValueError(f"unknown ingest stage(s) {unknown}; expected some of {list(STAGE_NAMES)}")
    report = IngestReport()
    t_all = time.perf_counter()
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from musicgraph.graph.locks import store_write_lock

    # one writer at a time: a concurrent `catalog` command waits for the ingest (and vice versa)
    with store_write_lock(store), Progress(
        TextColumn("[bold]ingest[/] {task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} stages"),
        TimeElapsedColumn(),
        disable=not progress,
        transient=False,
    ) as bar:
        task = bar.add_task("", total=len(selected))
        for name, fn, files in STAGES:
            if name not in selected:
                continue
            bar.update(task, description=name)
            fp = _fingerprint(data_dir, files)
            checkpoint = f"ingest:stage:{name}"
            result = StageResult(name)
            if not force and store.get_meta(checkpoint) == fp:
                result.resumed = True
                log.info("stage %s: already done (checkpoint matches), skipped", name)
                report.stages.append(result)
                bar.advance(task)
                continue
            t0 = time.perf_counter()
            rep = LoadReport(name)
            buf = GraphBuffer()
            result.records = fn(data_dir, buf, rep, store)
            result.nodes_written, result.edges_written = buf.flush(store)
            result.skipped = rep.skipped
            result.skipped_reasons = [f"{p.file}:{p.line}: {p.reason}" for p in rep.problems]
            if rep.skipped:
                log.warning("stage %s: %d malformed or unresolvable rows skipped (see report)", name, rep.skipped)
            store.set_meta(checkpoint, fp)
            result.seconds = time.perf_counter() - t0
            log.info("stage %s: %d records, %d nodes and %d edges written in %.1fs", name, result.records,
                     result.nodes_written, result.edges_written, result.seconds)
            report.stages.append(result)
            bar.advance(task)
    report.seconds = time.perf_counter() - t_all
    store.set_meta("ingest:last_report", json.dumps(report.to_dict()))
    return report


def source_stats(store: GraphStore) -> dict[str, dict[str, Any]]:
    """Per label: nodes contributed by each source and how many merged records from several sources."""
    out: dict[str, dict[str, Any]] = {}
    for label in ("Song", "Artist", "Album", "Playlist", "Tag", "Genre", "Mood", "User"):
        per_source: dict[str, int] = defaultdict(int)
        merged = total = 0
        for node in store.iter_nodes(label):
            total += 1
            sources = node.props.get("sources") or ([node.props["source"]] if "source" in node.props else [])
            for s in sources:
                per_source[s] += 1
            if len(sources) > 1:
                merged += 1
        out[label] = {"total": total, "merged_from_several_sources": merged, "by_source": dict(sorted(per_source.items()))}
    return out
