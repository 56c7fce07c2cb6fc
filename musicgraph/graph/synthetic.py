"""A deterministic synthetic catalog at ``factor`` times the size of a real store, with its shapes.

The generator tiles the source graph: it writes ``factor`` copies of every song, artist, album, user
and playlist (copy 0 keeps the real keys and names; copy ``c`` gets ``~c`` on its keys and `` c``
on its names), while the vocabularies (genres, moods, tags) stay shared, as a growing catalog reuses
them. Every copy keeps the real data's shapes exactly: the power-law popularity of artists (listeners
per artist), tags and genres per artist and song, songs per album and per artist, playlist lengths,
play counts and their weights, lyrics (referenced, stored once). So that the copies do not stay
disjoint islands, a share ``mix`` of the "social" edges is rewired across copies: a user's listening
edge goes to the same artist in a random copy, likewise friendships and playlist memberships. The
co-listening structure stays that of the real data (who listens to what together), only spread over
the larger graph, and the shared tags, genres and moods become hubs ``factor`` times larger, as
they would in a larger catalog.

The same source, factor, seed and mix give the same graph (a seeded numpy generator, and the
source read in key order). ``benchmarks/bench_scale.py`` writes the catalogs through the store's
normal batched upserts (the write path of ``ingest``) and measures what grows with them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from musicgraph.graph.schema import LABELS, REL_TYPES
from musicgraph.graph.store import GraphStore

log = logging.getLogger(__name__)

#: labels copied per tile; the others (vocabularies) are shared by all copies
COPIED = ("Song", "Artist", "Album", "User", "Playlist")
#: relationship type -> (end that is rewired across copies, source's or target's copy kept)
MIXED = {"LISTENED_TO": "dst", "FRIEND_OF": "dst", "IN_PLAYLIST": "src"}


@dataclass(slots=True)
class SyntheticReport:
    """What :func:`write_synthetic` wrote (rows per label and type) and how long it took."""

    factor: int
    nodes: dict[str, int] = field(default_factory=dict)
    relationships: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(self.nodes.values()) + sum(self.relationships.values())

    def to_dict(self) -> dict[str, Any]:
        return {"factor": self.factor, "nodes": self.nodes, "relationships": self.relationships,
                "rows": self.rows, "seconds": round(self.seconds, 2),
                "rows_per_second": round(self.rows / self.seconds) if self.seconds else None}


def copy_key(key: str, label: str, c: int) -> str:
    """The key of ``key``'s copy ``c`` (copy 0 is the original)."""
    if c == 0 or label not in COPIED:
        return key
    if label in ("Song", "Album") and "|" in key:
        artist, rest = key.split("|", 1)
        return f"{artist}~{c}|{rest}"
    return f"{key}~{c}"


def _copy_props(props: dict[str, Any], label: str, c: int) -> dict[str, Any]:
    if c == 0:
        return props
    out = dict(props)
    names = ("name",) if label in ("User", "Playlist", "Artist") else ("artist",)  # songs and albums: their artist
    for p in names:
        if isinstance(out.get(p), str):
            out[p] = f"{out[p]} {c}"
    if label == "Artist" and isinstance(out.get("aliases"), list):
        out["aliases"] = [f"{a} {c}" for a in out["aliases"]]
    for p in ("hetrec_ids", "msd_id", "msd_song_id", "msd_track_id", "spotify_id", "spotify_moods_id",
              "spotify_top10s_id", "source_id"):
        if p in out:
            out[p] = [f"{x}~{c}" for x in out[p]] if isinstance(out[p], list) else f"{out[p]}~{c}"
    return out


def write_synthetic(
    source: GraphStore,
    target: GraphStore,
    factor: int,
    *,
    seed: int = 0,
    mix: float = 0.3,
    progress: bool = False,
) -> SyntheticReport:
    """Write the ``factor``-times catalog of ``source`` into ``target`` (see the module docstring).

    Args:
        source: the real store (read once, in key order).
        target: where to write (an empty store; its batched upserts are the timed ingest path).
        factor: copies per copied label (1 = the source itself, rewired by nothing).
        seed: the generator's seed; ``mix``: share of listening, friendship and playlist edges that
            go to a random copy of their far end.
        progress: log a line per label and type.

    Returns:
        A :class:`SyntheticReport` (rows written and seconds).
    """
    if factor < 1:
        raise ValueError(f"factor must be >= 1, got {factor}")
    if not 0.0 <= mix <= 1.0:
        raise ValueError(f"mix must be in [0, 1], got {mix}")
    rng = np.random.default_rng(seed)
    report = SyntheticReport(factor)
    t0 = time.perf_counter()
    texts: set[str] = set()
    for label in LABELS:
        nodes = sorted(((n.key, n.props) for n in source.iter_nodes(label)), key=lambda kv: kv[0])
        copies = range(factor) if label in COPIED else range(1)
        texts.update(str(p["lyrics_ref"]) for _, p in nodes if p.get("lyrics_ref"))

        def rows(nodes: list[tuple[str, dict[str, Any]]] = nodes, copies: range = copies,
                 label: str = label) -> Iterator[tuple[str, dict[str, Any]]]:
            for c in copies:
                for key, props in nodes:
                    yield copy_key(key, label, c), _copy_props(props, label, c)

        report.nodes[label] = target.upsert_nodes(label, rows())
        if progress:
            log.info("synthetic x%d: %s %d nodes", factor, label, report.nodes[label])
    if texts:
        target.put_texts(source.get_texts(sorted(texts)))
    for rel in REL_TYPES:
        edges = sorted(((e.src.label, e.src.key, e.dst.label, e.dst.key, e.props) for e in source.iter_edges(rel)),
                       key=lambda t: (t[0], t[1], t[2], t[3]))
        if not edges:
            report.relationships[rel] = 0
            continue
        groups: dict[tuple[str, str], list[tuple[str, str, dict[str, Any]]]] = {}
        for sl, sk, dl, dk, props in edges:
            groups.setdefault((sl, dl), []).append((sk, dk, props))
        written = 0
        for (sl, dl), group in sorted(groups.items()):
            n_copies = factor if (sl in COPIED or dl in COPIED) else 1
            # the far ends of the rewired edges, drawn up front (deterministic, vectorized)
            rewire = MIXED.get(rel)
            if rewire is not None and factor > 1:
                moved = rng.random((n_copies, len(group))) < mix
                far = rng.integers(0, factor, size=(n_copies, len(group)))
            else:
                moved = far = None

            def rows(group: list[tuple[str, str, dict[str, Any]]] = group, sl: str = sl, dl: str = dl,
                     n_copies: int = n_copies, rewire: str | None = rewire, moved: Any = moved,
                     far: Any = far) -> Iterator[tuple[str, str, dict[str, Any]]]:
                for c in range(n_copies):
                    mc = moved[c] if moved is not None else None
                    fc = far[c] if far is not None else None
                    for j, (sk, dk, props) in enumerate(group):
                        cs = cd = c
                        if mc is not None and mc[j]:
                            if rewire == "dst":
                                cd = int(fc[j])
                            else:
                                cs = int(fc[j])
                        yield copy_key(sk, sl, cs), copy_key(dk, dl, cd), props

            written += target.upsert_edges(rel, sl, dl, rows())
        report.relationships[rel] = written
        if progress:
            log.info("synthetic x%d: %s %d relationships", factor, rel, written)
    report.seconds = time.perf_counter() - t0
    return report
