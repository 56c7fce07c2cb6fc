"""The ``trending`` signal: what is popular now, from the trend lists of :mod:`musicgraph.loaders.trends`.

``musicgraph trends fetch`` resolves each list's mentions into the catalog with the project's normalizer
(:func:`~musicgraph.graph.resolve.song_key` / :func:`~musicgraph.graph.resolve.artist_key`) and writes
``MUSICGRAPH_HOME/trends/current.json`` atomically: per song key and per artist key the best position
across the lists, with each list's provenance (source, request, fetch time). The file is local and is
replaced by every fetch.

The signal is off by default. With ``--trending`` (``retrieve(..., use_trending=True)``) a song's score
is multiplied by ``1 + TRENDING_WEIGHT * t``, where ``t`` in [0, 1] is ``1 - (rank - 1) / length`` of
its best list position (a song of a trending artist that is not itself on a list gets
``ARTIST_SHARE`` of the artist's best value), so trending songs move up among the songs that answer the
request; nothing unrelated is pulled in. Each boosted result says why: "in Last.fm's top tracks this
week (#3)".
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from musicgraph.errors import IndexMissingError
from musicgraph.graph.resolve import artist_key, song_key, split_featured

if TYPE_CHECKING:
    from musicgraph.graph.results import Result
    from musicgraph.graph.store import GraphStore
    from musicgraph.loaders.trends import TrendList

log = logging.getLogger(__name__)

TRENDING_WEIGHT = 0.5
ARTIST_SHARE = 0.3
FILE = "current.json"


def trends_path(home: Path | None = None) -> Path:
    """``MUSICGRAPH_HOME/trends/current.json``."""
    from musicgraph.config import get_settings

    return (home or get_settings().home) / "trends" / FILE


@dataclass(slots=True)
class TrendingSignal:
    """Trend values per song key and artist key, with their explanations."""

    songs: dict[str, tuple[float, str]] = field(default_factory=dict)  # key -> (value, why)
    artists: dict[str, tuple[float, str]] = field(default_factory=dict)
    sources: list[dict[str, Any]] = field(default_factory=list)
    fetched_at: float = 0.0

    # ------------------------------------------------------------------ build / save / load
    @classmethod
    def build(cls, lists: Sequence[TrendList], store: GraphStore | None = None) -> tuple[TrendingSignal, dict[str, Any]]:
        """Resolve ``lists`` into the catalog of ``store`` (all mentions when None); returns the signal and
        a report (mentions, matched songs and artists per source)."""
        proj = store.projection() if store is not None else None
        sig = cls(fetched_at=time.time())
        report: dict[str, Any] = {}
        for tl in lists:
            n = max(len(tl.mentions), 1)
            matched_s = matched_a = 0
            for m in tl.mentions:
                value = 1.0 - (m.rank - 1) / n
                main = split_featured(m.artist)[0]
                a_key = artist_key(main)
                if proj is None or proj.index("Artist", a_key) is not None:
                    matched_a += 1
                    why = f"{m.artist} is in {tl.label} (#{m.rank})"
                    if value > sig.artists.get(a_key, (0.0, ""))[0]:
                        sig.artists[a_key] = (value, why)
                if m.title:
                    s_key = song_key(main, m.title)
                    if proj is None or proj.index("Song", s_key) is not None:
                        matched_s += 1
                        if value > sig.songs.get(s_key, (0.0, ""))[0]:
                            sig.songs[s_key] = (value, f"in {tl.label} (#{m.rank})")
            sig.sources.append({"source": tl.source, "label": tl.label, "request": tl.request,
                                "fetched_at": tl.fetched_at, "mentions": len(tl.mentions), "unparsed": tl.unparsed})
            report[tl.label] = {"mentions": len(tl.mentions), "songs_in_catalog": matched_s,
                                "artists_in_catalog": matched_a, "unparsed": tl.unparsed}
        return sig, report

    def save(self, path: Path) -> None:
        """Write atomically (a temporary file, then a rename)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {"fetched_at": self.fetched_at, "sources": self.sources,
               "songs": {k: list(v) for k, v in sorted(self.songs.items())},
               "artists": {k: list(v) for k, v in sorted(self.artists.items())}}
        fd, tmp = tempfile.mkstemp(prefix=".trends.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(doc, fh, ensure_ascii=False, indent=1)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path | None = None) -> TrendingSignal:
        """Read ``current.json``; FileNotFoundError naming the command that makes it."""
        path = path or trends_path()
        if not path.is_file():
            raise IndexMissingError(f"no trend data at {path}: run `musicgraph trends fetch` first (--trending needs it)")
        doc = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            songs={k: (float(v[0]), str(v[1])) for k, v in doc.get("songs", {}).items()},
            artists={k: (float(v[0]), str(v[1])) for k, v in doc.get("artists", {}).items()},
            sources=list(doc.get("sources", [])),
            fetched_at=float(doc.get("fetched_at", 0.0)),
        )

    # ------------------------------------------------------------------ use
    def value(self, key: str, artist: str | None = None) -> tuple[float, str]:
        """``(t, why)`` of a song key (its artist's share when only the artist trends); ``(0, "")`` if neither."""
        got = self.songs.get(key)
        if got is not None:
            return got
        a = artist_key(artist) if artist else key.split("|", 1)[0]
        art = self.artists.get(a)
        if art is not None:
            return ARTIST_SHARE * art[0], art[1]
        return 0.0, ""

    def row_values(self, keys: Sequence[str], artist_keys: Sequence[str]) -> np.ndarray:
        """``t`` per catalog row (song keys and their main artists' keys)."""
        out = np.zeros(len(keys), dtype=np.float32)
        for i, (k, a) in enumerate(zip(keys, artist_keys, strict=True)):
            got = self.songs.get(k)
            if got is not None:
                out[i] = got[0]
            elif a in self.artists:
                out[i] = ARTIST_SHARE * self.artists[a][0]
        return out

    def boost(self, results: Iterable[Result], weight: float = TRENDING_WEIGHT) -> list[Result]:
        """Results re-scored by ``score * (1 + weight * t)``, re-sorted and re-ranked, each trending one
        with ``scores["trending"]`` and ``evidence["trending"]`` (for the multi-hop recommender)."""
        out = []
        for r in results:
            t, why = self.value(r.id, r.artist) if r.kind == "song" else self.artists.get(r.id, (0.0, ""))
            if t > 0:
                r.scores["trending"] = float(t)
                r.evidence["trending"] = [why]
                r.score = float(r.score) * (1.0 + weight * t)
            out.append(r)
        out.sort(key=lambda r: -r.score)
        for i, r in enumerate(out, start=1):
            r.rank = i
        return out
