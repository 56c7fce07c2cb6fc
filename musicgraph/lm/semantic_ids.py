"""Semantic IDs of songs: RVQ codes of each song's audio features and text embedding, plus a
fourth code that makes every ID unique.

Each song is one vector: its MiniLM embedding (the dense retrieval index's vectors, built from
title, artist, album, year, feature words, genres, tags, mood labels and lyric words) next to its
standardized audio features (danceability, energy, valence, tempo, acousticness,
instrumentalness, speechiness, liveness, loudness, mode; graph estimates where a song has no
measurement, column means where not even that). Both blocks are scaled to the same mean norm
and the audio block is weighted by ``audio_weight``. A 3-level :class:`~musicgraph.lm.rvq.ResidualVQ`
turns the vectors into ``(c1, c2, c3)``; songs that get the same three codes are told apart by a
fourth code, their rank within the group (0 for most songs). The ID of a song is written with
one token per level, e.g. ``<a17><b203><c5><d0>``.
"""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from musicgraph.lm.rvq import ResidualVQ, code_stats
from musicgraph.lm.trie import PrefixTrie

if TYPE_CHECKING:
    from musicgraph.retrieval.catalog import SongTable

log = logging.getLogger(__name__)

AUDIO: tuple[str, ...] = ("danceability", "energy", "valence", "tempo", "acousticness", "instrumentalness",
                          "speechiness", "liveness", "loudness", "mode")  # fmt: skip
LEVEL_NAMES = "abcd"


def song_matrix(catalog: SongTable, text_vectors: np.ndarray, audio_weight: float = 0.7) -> np.ndarray:
    """One row per catalog song: ``[text block, audio_weight * audio block]`` (see the module docstring).

    Raises:
        ValueError: the text vectors do not have one row per catalog song.
    """
    from musicgraph.retrieval.catalog import FEATURES

    if len(text_vectors) != len(catalog):
        raise ValueError(f"{len(text_vectors)} text vectors for {len(catalog)} catalog songs")
    cols = [FEATURES.index(f) for f in AUDIO]
    audio = np.asarray(catalog.features[:, cols], dtype=np.float64)
    mean = np.nanmean(audio, axis=0)
    mean = np.where(np.isnan(mean), 0.0, mean)
    audio = np.where(np.isnan(audio), mean, audio)
    std = audio.std(axis=0)
    audio = (audio - audio.mean(axis=0)) / np.where(std > 0, std, 1.0)
    text = np.asarray(text_vectors, dtype=np.float64)
    tn = np.linalg.norm(text, axis=1).mean() or 1.0
    an = np.linalg.norm(audio, axis=1).mean() or 1.0
    return np.hstack([text / tn, audio / an * audio_weight]).astype(np.float32)


@dataclass(slots=True)
class SemanticIds:
    """The semantic ID of every song of a catalog.

    Attributes:
        keys: song keys; ``codes[i]`` is the 4-code ID of ``keys[i]``.
        sizes: codes per level (the 4th level's size is the largest collision group).
        stats: codebook use, collision rate and reconstruction error (see :func:`code_stats`).
    """

    keys: list[str]
    codes: np.ndarray
    sizes: list[int]
    stats: dict[str, Any] = field(default_factory=dict)
    _by_code: dict[tuple[int, ...], str] | None = None
    _row: dict[str, int] | None = None

    @property
    def levels(self) -> int:
        """Codes per ID (the RVQ levels plus the collision code)."""
        return int(self.codes.shape[1])

    @property
    def vocab_size(self) -> int:
        """Codes over all levels (each level has its own block of code ids)."""
        return int(sum(self.sizes))

    def offsets(self) -> list[int]:
        """The first code id of each level's block."""
        return [int(x) for x in np.cumsum([0, *self.sizes[:-1]])]

    def key_of(self, code: Sequence[int]) -> str | None:
        """The song with this ID (None: not a valid ID)."""
        if self._by_code is None:
            self._by_code = {tuple(int(c) for c in row): k for k, row in zip(self.keys, self.codes, strict=True)}
        return self._by_code.get(tuple(int(c) for c in code))

    def code_of(self, key: str) -> tuple[int, ...] | None:
        """The semantic ID of song ``key``, or None for a song without one."""
        if self._row is None:
            self._row = {k: i for i, k in enumerate(self.keys)}
        i = self._row.get(key)
        return None if i is None else tuple(int(c) for c in self.codes[i])

    def token_string(self, code: Sequence[int]) -> str:
        """``<a17><b203><c5><d0>``."""
        return "".join(f"<{LEVEL_NAMES[level]}{int(c)}>" for level, c in enumerate(code))

    def trie(self, keys: Iterable[str] | None = None) -> PrefixTrie:
        """A prefix trie of the IDs of ``keys`` (default: every song)."""
        if keys is None:
            return PrefixTrie(tuple(int(c) for c in row) for row in self.codes)
        codes = (self.code_of(k) for k in keys)
        return PrefixTrie(c for c in codes if c is not None)

    def save(self, folder: Path) -> None:
        """``semantic_ids.npy`` (codes) and ``semantic_ids.json`` (keys, sizes, stats), atomically."""
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".semantic_ids.{os.getpid()}.npy"
        np.save(tmp, self.codes)
        os.replace(tmp, folder / "semantic_ids.npy")
        tmpj = folder / f".semantic_ids.{os.getpid()}.json"
        tmpj.write_text(json.dumps({"keys": self.keys, "sizes": self.sizes, "stats": self.stats}))
        os.replace(tmpj, folder / "semantic_ids.json")

    @classmethod
    def load(cls, folder: Path) -> SemanticIds:
        """The IDs saved in ``folder`` (``semantic_ids.json`` and ``semantic_ids.npy``)."""
        info = json.loads((folder / "semantic_ids.json").read_text())
        return cls(list(info["keys"]), np.load(folder / "semantic_ids.npy"), list(info["sizes"]), info.get("stats", {}))


def add_collision_code(codes: np.ndarray) -> np.ndarray:
    """Append a 4th code: each item's rank among the items with the same first codes (0 when alone)."""
    seen: dict[tuple[int, ...], int] = defaultdict(int)
    extra = np.empty(len(codes), dtype=np.int64)
    for i, row in enumerate(codes.tolist()):
        t = tuple(row)
        extra[i] = seen[t]
        seen[t] += 1
    return np.hstack([codes, extra[:, None]])


def build_semantic_ids(
    keys: Sequence[str], vectors: np.ndarray, levels: int = 3, size: int = 256, seed: int = 0
) -> tuple[SemanticIds, ResidualVQ]:
    """Fit a ``levels``-level RVQ on ``vectors`` and give every song a unique ``levels + 1``-code ID.

    Returns:
        the IDs (with ``stats``: codebook use and collisions before the 4th code, reconstruction
        error, collisions after it, which must be 0) and the fitted quantizer.
    """
    rvq = ResidualVQ(levels=levels, size=size, seed=seed).fit(vectors)
    base = rvq.encode(vectors)
    stats = code_stats(base, [size] * levels, vectors, rvq)
    full = add_collision_code(base)
    fourth = int(full[:, -1].max()) + 1
    after = code_stats(full, [size] * levels + [fourth])
    stats["fourth_code_size"] = fourth
    stats["songs_with_nonzero_fourth_code"] = int((full[:, -1] > 0).sum())
    stats["collision_rate_with_fourth_code"] = after["collision_rate"]
    return SemanticIds(list(keys), full, [size] * levels + [fourth], stats), rvq
