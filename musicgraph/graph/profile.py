"""A person's listening profile in the graph: plays weighted, resolved into the catalog, written as a User.

:func:`build_profile` turns :class:`~musicgraph.loaders.history.Play` records into a
:class:`ListeningProfile`:

* **weights**: a play of at least 30 s counts ``min(1, ms_played / full)``, where ``full`` is half the
  track's length (the catalog's ``duration_ms``) capped at 4 minutes, or 2 minutes when the length is
  unknown (Last.fm's and ListenBrainz's own rule for a listen); a play marked ``skipped`` counts half;
  scrobbles and listens (no play time recorded) count 1. A play under 30 s is **negative evidence**:
  it is not a play, and each one takes :data:`SHORT_PLAY_PENALTY` off the item's weight (the
  preference mining of the generative-retrieval work uses the same 30 s line). An item whose weight
  ends at 0 or below is kept as *known, no preference*: a ``LISTENED_TO`` edge with weight 0, so it
  is excluded from recommendations but sends no walk there.
* **resolution**: artists and songs are matched with the project's normalizer
  (:func:`~musicgraph.graph.resolve.artist_key`, :func:`~musicgraph.graph.resolve.song_key`); the
  match rate is the share of counted plays whose artist (song) is in the catalog, with the top
  unmatched artists and songs.
* **profile**: top tags (the person's artists' tag shares, weighted), moods (of the songs they
  played, and of their artists' songs at half weight), and the weighted mean and spread of the audio
  features of the songs they played (of their artists' songs when none of theirs has features).

:func:`write_profile` writes it as ``(:User {key: me:<name>})-[:LISTENED_TO]->(:Artist|:Song)``,
replacing an earlier import of the same name, all or nothing: everything is computed before the first
write, the node is marked ``import_state = "writing"`` until the last write, and a failure in between
restores the previous profile (or removes the new one). :func:`delete_profile` removes it.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from musicgraph.audio_features import UNIT_FEATURES
from musicgraph.errors import MusicgraphError
from musicgraph.graph.resolve import PERSONAL, artist_key, is_personal, personal_key, song_key, split_featured
from musicgraph.graph.schema import Label, Rel
from musicgraph.graph.store import GraphStore, Node

if TYPE_CHECKING:
    from musicgraph.loaders.history import Play

log = logging.getLogger(__name__)

#: Plays shorter than this are negative evidence, not plays.
MIN_PLAY_MS = 30_000
#: Weight taken off an item for each play under :data:`MIN_PLAY_MS`.
SHORT_PLAY_PENALTY = 0.5
#: Factor of a play the listener skipped (Spotify's extended history).
SKIPPED_FACTOR = 0.5
#: A play counts fully after half the track, at most this long...
FULL_PLAY_CAP_MS = 240_000
#: ...or this long when the track's length is unknown.
FULL_PLAY_DEFAULT_MS = 120_000
#: Features of the profile (audio features on 0..1 scales plus tempo and loudness).
PROFILE_FEATURES: tuple[str, ...] = (*UNIT_FEATURES, "tempo", "loudness")


class ProfileError(MusicgraphError, ValueError):
    """An import that cannot be made (nothing matched, a bad name); one line, nothing written."""


@dataclass(slots=True)
class ItemStats:
    """What one artist or song got from the plays."""

    key: str
    name: str
    plays: int = 0  # plays of at least 30 s (scrobbles and listens included)
    weight: float = 0.0  # summed play weights, before the short-play penalty
    short_plays: int = 0
    skips: int = 0
    ms_played: int = 0
    last_ts: int | None = None

    @property
    def net(self) -> float:
        """The edge weight: play weight minus the short-play penalty, never below 0."""
        return max(0.0, self.weight - SHORT_PLAY_PENALTY * self.short_plays)

    def edge_props(self) -> dict[str, Any]:
        props: dict[str, Any] = {"weight": round(self.net, 4), "plays": self.plays, "short_plays": self.short_plays,
                                 "skips": self.skips, "ms_played": self.ms_played}
        if self.last_ts is not None:
            props["last_played"] = self.last_ts
        return props


@dataclass(slots=True)
class MatchReport:
    """How much of a history the catalog knows."""

    plays_read: int = 0
    not_music: int = 0
    duplicates: int = 0
    counted_plays: int = 0  # plays of at least 30 s
    short_plays: int = 0
    skipped_plays: int = 0
    artist_matched_plays: int = 0
    song_matched_plays: int = 0
    artists: int = 0
    artists_matched: int = 0
    songs: int = 0
    songs_matched: int = 0
    top_unmatched_artists: list[tuple[str, int]] = field(default_factory=list)
    top_unmatched_songs: list[tuple[str, int]] = field(default_factory=list)

    @property
    def match_rate(self) -> float:
        """Share of counted plays whose artist is in the catalog."""
        return self.artist_matched_plays / self.counted_plays if self.counted_plays else 0.0

    @property
    def song_match_rate(self) -> float:
        """Share of counted plays whose song is in the catalog."""
        return self.song_matched_plays / self.counted_plays if self.counted_plays else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "plays_read": self.plays_read, "not_music": self.not_music, "duplicates": self.duplicates,
            "counted_plays": self.counted_plays, "short_plays": self.short_plays,
            "skipped_plays": self.skipped_plays, "match_rate": round(self.match_rate, 4),
            "song_match_rate": round(self.song_match_rate, 4),
            "artist_matched_plays": self.artist_matched_plays, "song_matched_plays": self.song_matched_plays,
            "artists": self.artists, "artists_matched": self.artists_matched,
            "songs": self.songs, "songs_matched": self.songs_matched,
            "top_unmatched_artists": [list(x) for x in self.top_unmatched_artists],
            "top_unmatched_songs": [list(x) for x in self.top_unmatched_songs],
        }


@dataclass(slots=True)
class ListeningProfile:
    """A resolved history: the User node to write, its edges, the match report and the profile."""

    key: str
    name: str
    artists: dict[str, ItemStats]  # matched, by artist key
    songs: dict[str, ItemStats]  # matched, by song key
    report: MatchReport
    top_tags: list[tuple[str, float]] = field(default_factory=list)
    moods: list[tuple[str, float]] = field(default_factory=list)
    features: dict[str, dict[str, float]] = field(default_factory=dict)
    features_basis: str = ""
    sources: list[str] = field(default_factory=list)
    negative: dict[str, list[str]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The profile as JSON-ready data (what ``musicgraph me show`` prints)."""
        top_artists = sorted(self.artists.values(), key=lambda s: (-s.net, s.key))[:15]
        return {
            "user": self.key,
            "name": self.name,
            "sources": list(self.sources),
            "report": self.report.to_dict(),
            "top_artists": [[s.name, s.plays, round(s.net, 2)] for s in top_artists],
            "top_tags": [[t, round(w, 4)] for t, w in self.top_tags],
            "moods": [[m, round(w, 4)] for m, w in self.moods],
            "features": {k: {kk: round(vv, 4) for kk, vv in v.items()} for k, v in self.features.items()},
            "features_basis": self.features_basis,
            "negative_evidence": {k: list(v) for k, v in self.negative.items()},
        }


# ------------------------------------------------------------------------------ weighting
def play_weight(ms_played: int | None, skipped: bool | None, duration_ms: int | None = None) -> float:
    """The weight of one play of at least :data:`MIN_PLAY_MS` (see the module docstring); 0 below it."""
    if ms_played is not None and ms_played < MIN_PLAY_MS:
        return 0.0
    if ms_played is None:
        w = 1.0
    else:
        full = min(duration_ms / 2, FULL_PLAY_CAP_MS) if duration_ms and duration_ms > 0 else FULL_PLAY_DEFAULT_MS
        w = min(1.0, ms_played / max(full, MIN_PLAY_MS))
    return w * (SKIPPED_FACTOR if skipped else 1.0)


def _dedupe(plays: Sequence[Play]) -> tuple[list[Play], int]:
    seen: set[tuple[Any, ...]] = set()
    out = []
    for p in plays:
        key = (p.source, p.ts, p.artist.casefold(), p.title.casefold(), p.ms_played)
        if p.ts is not None and key in seen:
            continue
        seen.add(key)
        out.append(p)
    return out, len(plays) - len(out)


# ------------------------------------------------------------------------------ build
def build_profile(
    store: GraphStore,
    name: str,
    plays: Sequence[Play],
    *,
    not_music: int = 0,
    sources: Sequence[str] = (),
    top: int = 10,
) -> ListeningProfile:
    """Weight and resolve ``plays`` against the store's catalog and compute the profile.

    Args:
        store: the graph store (read only here).
        name: the profile name (the User key is ``me:<name>``).
        plays: the plays read (:func:`musicgraph.loaders.history.read_history`).
        not_music: records skipped as not music (for the report).
        sources: where the plays came from (files, ``lastfm:<user>``), kept on the User node.
        top: length of the top-unmatched lists, top tags and moods.

    Raises:
        ProfileError: no play, or none of at least 30 s, or no artist in the catalog.
    """
    key = personal_key(name)
    if not plays:
        raise ProfileError("the history holds no music plays: nothing to import")
    proj = store.projection()
    if proj.num_nodes == 0:
        raise ProfileError("the store is empty: run `musicgraph ingest` first")
    plays, dupes = _dedupe(plays)
    report = MatchReport(plays_read=len(plays) + dupes, not_music=not_music, duplicates=dupes)

    # song lengths of the catalog songs the history names (for the "half the track" rule)
    song_keys = {song_key(split_featured(p.artist)[0], p.title) for p in plays}
    present_songs = [k for k in song_keys if proj.index(Label.SONG, k) is not None]
    song_nodes = store.get_nodes(Label.SONG, present_songs) if present_songs else {}

    artists: dict[str, ItemStats] = {}
    songs: dict[str, ItemStats] = {}
    unmatched_a: dict[str, ItemStats] = {}
    unmatched_s: dict[str, ItemStats] = {}
    for p in plays:
        main = split_featured(p.artist)[0]
        a_key, s_key = artist_key(main), song_key(main, p.title)
        a_in = proj.index(Label.ARTIST, a_key) is not None
        s_in = s_key in song_nodes
        duration = song_nodes[s_key].props.get("duration_ms") if s_in else None
        w = play_weight(p.ms_played, p.skipped, duration if isinstance(duration, (int, float)) else None)
        short = p.ms_played is not None and p.ms_played < MIN_PLAY_MS
        if short:
            report.short_plays += 1
        else:
            report.counted_plays += 1
            report.artist_matched_plays += a_in
            report.song_matched_plays += s_in
        report.skipped_plays += bool(p.skipped)
        a_name = main.strip()
        for table, k, label_name in (
            (artists if a_in else unmatched_a, a_key, a_name),
            (songs if s_in else unmatched_s, s_key, f"{a_name} - {p.title.strip()}"),
        ):
            st = table.get(k)
            if st is None:
                st = table[k] = ItemStats(k, label_name)
            if short:
                st.short_plays += 1
            else:
                st.plays += 1
                st.weight += w
            st.skips += bool(p.skipped)
            st.ms_played += p.ms_played or 0
            if p.ts is not None:
                st.last_ts = p.ts if st.last_ts is None else max(st.last_ts, p.ts)
    if report.counted_plays == 0:
        raise ProfileError(f"none of the {len(plays)} plays lasted 30 s or more: nothing to learn from")
    if not artists:
        shown = ", ".join(s.name for s in sorted(unmatched_a.values(), key=lambda s: -s.plays)[:3])
        raise ProfileError(f"no artist of the history is in the catalog (e.g. {shown}): nothing to import")
    report.artists, report.artists_matched = len(artists) + len(unmatched_a), len(artists)
    report.songs, report.songs_matched = len(songs) + len(unmatched_s), len(songs)
    report.top_unmatched_artists = [(s.name, s.plays) for s in sorted(unmatched_a.values(), key=lambda s: (-s.plays, s.key))
                                    if s.plays][:top]
    report.top_unmatched_songs = [(s.name, s.plays) for s in sorted(unmatched_s.values(), key=lambda s: (-s.plays, s.key))
                                  if s.plays][:top]
    # display names of the catalog
    for table, label in ((artists, Label.ARTIST), (songs, Label.SONG)):
        for k, st in table.items():
            idx = proj.index(label, k)
            if idx is not None:
                st.name = str(proj.names[idx]) if label == Label.ARTIST else st.name

    prof = ListeningProfile(key, key.split(":", 1)[1], artists, songs, report, sources=list(sources))
    prof.negative = {
        "artists": sorted(s.name for s in artists.values() if s.net <= 0),
        "songs": sorted(s.name for s in songs.values() if s.net <= 0),
    }
    _describe(store, prof, top)
    return prof


def _describe(store: GraphStore, prof: ListeningProfile, top: int) -> None:
    """Top tags, moods and audio-feature statistics of a profile (from the projection and song nodes)."""
    proj = store.projection()
    a_w = {proj.index(Label.ARTIST, k): s.net for k, s in prof.artists.items() if s.net > 0}
    s_w = {proj.index(Label.SONG, k): s.net for k, s in prof.songs.items() if s.net > 0}
    a_total = sum(a_w.values()) or 1.0
    tags: dict[str, float] = defaultdict(float)
    tagged = proj.matrices.get(Rel.TAGGED)
    if tagged is not None:
        for a, w in a_w.items():
            row = tagged.getrow(a)
            tot = float(row.data.sum())
            for j, v in zip(row.indices, row.data, strict=True):
                if tot > 0:
                    tags[str(proj.names[j])] += (w / a_total) * float(v) / tot
    prof.top_tags = sorted(tags.items(), key=lambda t: (-t[1], t[0]))[:top]

    moods: dict[str, float] = defaultdict(float)
    has_mood = proj.matrices.get(Rel.HAS_MOOD)
    performed = proj.matrices.get(Rel.PERFORMED_BY)
    by_artist = performed.T.tocsr() if performed is not None else None
    s_lo, s_hi = proj.label_ranges.get(Label.SONG, (0, 0))
    if has_mood is not None:
        s_total = sum(s_w.values()) or 1.0
        for s, w in s_w.items():
            for j in has_mood.getrow(s).indices:
                moods[str(proj.names[j])] += w / s_total
        if by_artist is not None:
            for a, w in a_w.items():
                catalog_songs = [i for i in by_artist.getrow(a).indices if s_lo <= i < s_hi]
                labelled = [(i, has_mood.getrow(i).indices) for i in catalog_songs]
                labelled = [(i, ms) for i, ms in labelled if len(ms)]
                for _i, ms in labelled:
                    for j in ms:
                        moods[str(proj.names[j])] += 0.5 * (w / a_total) / len(labelled)
    total = sum(moods.values()) or 1.0
    prof.moods = sorted(((m, v / total) for m, v in moods.items()), key=lambda t: (-t[1], t[0]))[:top]

    def stats(weighted: Mapping[str, float], basis: str) -> bool:
        nodes = store.get_nodes(Label.SONG, list(weighted))
        real = {k: n for k, n in nodes.items() if not n.props.get("features_estimated")}
        feats: dict[str, dict[str, float]] = {}
        for f in PROFILE_FEATURES:
            vals, ws = [], []
            for k, n in real.items():
                v = n.props.get(f)
                if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v)):
                    vals.append(float(v))
                    ws.append(weighted[k])
            if vals:
                x, w = np.asarray(vals), np.asarray(ws)
                mean = float(np.average(x, weights=w))
                std = float(np.sqrt(np.average((x - mean) ** 2, weights=w)))
                feats[f] = {"mean": mean, "std": std, "songs": float(len(vals))}
        if feats:
            prof.features, prof.features_basis = feats, basis
            return True
        return False

    played = {k: s.net for k, s in prof.songs.items() if s.net > 0}
    if played and stats(played, "songs you played"):
        return
    if by_artist is not None:
        spread: dict[str, float] = {}
        for a, w in a_w.items():
            idx = [i for i in by_artist.getrow(a).indices if s_lo <= i < s_hi]
            for i in idx:
                spread[str(proj.keys[i])] = spread.get(str(proj.keys[i]), 0.0) + w / len(idx)
        if spread:
            stats(spread, "catalog songs of your artists")


# ------------------------------------------------------------------------------ write / read / delete
def _user_props(prof: ListeningProfile, state: str) -> dict[str, Any]:
    return {
        "source": PERSONAL,
        "source_id": prof.name,
        "name": f"you ({prof.name})",
        "import_state": state,
        "imported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "import_sources": list(prof.sources),
        "match_rate": round(prof.report.match_rate, 4),
        "song_match_rate": round(prof.report.song_match_rate, 4),
        "plays_counted": prof.report.counted_plays,
        "top_tags": [t for t, _ in prof.top_tags],
        "moods": [m for m, _ in prof.moods],
        "profile": json.dumps(prof.summary(), ensure_ascii=False, sort_keys=True),
    }


@dataclass(slots=True)
class _Saved:
    node: Node
    edges: list[tuple[str, str, dict[str, Any]]]  # (target label, target key, props)


def _save(store: GraphStore, key: str) -> _Saved | None:
    node = store.get_node(Label.USER, key)
    if node is None:
        return None
    edges = [(nb.label, nb.key, dict(e.props)) for e, nb in store.neighbors(Label.USER, key, Rel.LISTENED_TO, "out")]
    return _Saved(node, edges)


def _restore(store: GraphStore, key: str, saved: _Saved | None) -> None:
    store.delete_nodes(Label.USER, [key])
    if saved is None:
        return
    props = {k: v for k, v in saved.node.props.items() if k != "embedding"}
    store.upsert_nodes(Label.USER, [(key, props)])
    for label in (Label.ARTIST, Label.SONG):
        rows = [(key, k, p) for lab, k, p in saved.edges if lab == label]
        if rows:
            store.upsert_edges(Rel.LISTENED_TO, Label.USER, label, rows)


def write_profile(store: GraphStore, prof: ListeningProfile) -> dict[str, int]:
    """Write ``prof`` as its User node and LISTENED_TO edges, replacing an earlier import (see the module
    docstring: all or nothing). Returns the edges written per target label."""
    saved = _save(store, prof.key)
    rows = {
        Label.ARTIST: [(prof.key, k, s.edge_props()) for k, s in sorted(prof.artists.items())],
        Label.SONG: [(prof.key, k, s.edge_props()) for k, s in sorted(prof.songs.items())],
    }
    try:
        store.delete_nodes(Label.USER, [prof.key])
        store.upsert_nodes(Label.USER, [(prof.key, _user_props(prof, "writing"))])
        for label, r in rows.items():
            if r:
                store.upsert_edges(Rel.LISTENED_TO, Label.USER, label, r)
        store.upsert_nodes(Label.USER, [(prof.key, {"import_state": "complete"})])
    except BaseException:
        log.error("import of %s failed; restoring the previous state", prof.key)
        _restore(store, prof.key, saved)
        raise
    return {str(label): len(r) for label, r in rows.items()}


def profile_node(store: GraphStore, name_or_key: str) -> Node | None:
    """The User node of a personal profile (``alice`` or ``me:alice``), or None."""
    return store.get_node(Label.USER, personal_key(name_or_key))


def list_profiles(store: GraphStore) -> list[str]:
    """Keys of the personal profiles in the store."""
    proj = store.projection()
    lo, hi = proj.label_ranges.get(Label.USER, (0, 0))
    return sorted(str(k) for k in proj.keys[lo:hi] if is_personal(str(k)))


def delete_profile(store: GraphStore, name_or_key: str) -> bool:
    """Delete a personal profile's User node and its relationships; False when there was none."""
    key = personal_key(name_or_key)
    return store.delete_nodes(Label.USER, [key]) > 0


def listened_counts(store: GraphStore, key: str, targets: Iterable[tuple[str, str]] | None = None) -> dict[tuple[str, str], int]:
    """``{(label, key): plays}`` of a user's LISTENED_TO edges (``plays`` of a personal profile, else the
    HetRec play count in ``weight``), optionally only for ``targets``."""
    wanted = set(targets) if targets is not None else None
    out: dict[tuple[str, str], int] = {}
    for e, nb in store.neighbors(Label.USER, key, Rel.LISTENED_TO, "out"):
        ref = (nb.label, nb.key)
        if wanted is not None and ref not in wanted:
            continue
        plays = e.props.get("plays", e.props.get("weight", 0))
        out[ref] = int(plays) if isinstance(plays, (int, float)) else 0
    return out
