"""Audio features for songs that have none, estimated from the graph.

Only ~3k of the ~31k songs in the shared data carry Spotify audio features, and public APIs no
longer serve them. This module estimates the missing ones by propagating known features over a
song–song affinity built from the graph:

* songs by the same main artist (weight ``artist``),
* songs on the same album (``album``),
* songs in the same playlist (``playlist``, divided by the playlist's size),
* songs with the same genre or mood label (``genre``, ``mood``, divided by the group's size),
* optionally, songs by artists sharing Last.fm tags (``tag``, cosine of log tag weights; off by
  default: on the shared data it raised the error and cost 20x the time).

Estimates are a normalized weighted mean of the neighbours' values, iterated a few times so that
two-hop neighbours contribute when no direct one has features (known values stay clamped). Each
estimated song gets ``features_estimated = true`` and ``features_confidence`` (the affinity mass
behind it, squashed to 0..1); real values are never overwritten. :func:`evaluate` holds out songs that
do have features and reports the mean absolute error per feature against the global-mean baseline.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from musicgraph.audio_features import CONTINUOUS_AUDIO_FEATURES
from musicgraph.graph.projection import Projection
from musicgraph.graph.store import GraphStore

log = logging.getLogger(__name__)

#: Features estimated: the continuous audio features (key and mode are categorical and left alone).
ESTIMATED_FEATURES: tuple[str, ...] = CONTINUOUS_AUDIO_FEATURES

DEFAULT_WEIGHTS: dict[str, float] = {
    "artist": 3.0,
    "album": 2.0,
    "playlist": 1.0,
    "genre": 0.5,
    "mood": 0.5,
    "tag": 0.0,  # measured: shared Last.fm tags add noise and cost 20x the time (see README)
}


@dataclass(slots=True)
class FeatureTable:
    """Songs (projection indexes, keys) × features, NaN where unknown."""

    song_idx: np.ndarray
    keys: list[str]
    values: np.ndarray  # (n_songs, n_features)
    features: tuple[str, ...] = ESTIMATED_FEATURES


@dataclass(slots=True)
class Estimates:
    """Estimated values for songs without features."""

    keys: list[str]
    values: np.ndarray
    confidence: np.ndarray
    features: tuple[str, ...] = ESTIMATED_FEATURES


@dataclass(slots=True)
class EvaluationReport:
    """Held-out error of the estimates vs the global-mean baseline."""

    n_heldout: int
    coverage: float  # share of held-out songs that got an estimate
    mae: dict[str, float] = field(default_factory=dict)
    mae_mean_baseline: dict[str, float] = field(default_factory=dict)

    def rows(self) -> list[tuple[str, float, float, float]]:
        """(feature, MAE, baseline MAE, relative improvement)."""
        return [
            (f, self.mae[f], self.mae_mean_baseline[f], 1 - self.mae[f] / self.mae_mean_baseline[f])
            for f in self.mae
            if self.mae_mean_baseline.get(f)
        ]


def feature_table(store: GraphStore, projection: Projection | None = None) -> FeatureTable:
    """Real (not estimated) audio features of every song, NaN where missing."""
    proj = projection or store.projection()
    lo, hi = proj.label_ranges["Song"]
    keys = [str(k) for k in proj.keys[lo:hi]]
    values = np.full((hi - lo, len(ESTIMATED_FEATURES)), np.nan)
    pos = {k: i for i, k in enumerate(keys)}
    for node in store.iter_nodes("Song"):
        if not node.props.get("has_features"):
            continue
        i = pos.get(node.key)
        if i is None:
            continue
        for j, f in enumerate(ESTIMATED_FEATURES):
            v = node.props.get(f)
            if isinstance(v, (int, float)):
                values[i, j] = float(v)
    return FeatureTable(np.arange(lo, hi), keys, values)


MAX_GROUP = 400


def _group_affinity(song_by_group: sp.csr_matrix, max_group: int = MAX_GROUP) -> sp.csr_matrix:
    """Song–song affinity through shared groups, each group's contribution divided by its size.

    Groups larger than ``max_group`` (a mood label on 2,000 songs, the "pop" genre) are left out:
    their 1/size share is tiny and their size² pairs would dominate the cost.
    """
    sizes = np.asarray(song_by_group.sum(axis=0)).ravel()
    inv = np.zeros_like(sizes, dtype=np.float64)
    ok = (sizes > 0) & (sizes <= max_group)
    inv[ok] = 1.0 / sizes[ok]
    return (song_by_group @ sp.diags(inv) @ song_by_group.T).tocsr()


def song_affinity(projection: Projection, weights: Mapping[str, float] | None = None) -> sp.csr_matrix:
    """The weighted song–song affinity matrix (n_songs × n_songs, zero diagonal)."""
    w = dict(DEFAULT_WEIGHTS if weights is None else weights)
    mats = projection.matrices
    s_lo, s_hi = projection.label_ranges["Song"]

    def block(rel: str, label: str) -> sp.csr_matrix:
        lo, hi = projection.label_ranges[label]
        m = mats[rel][s_lo:s_hi, lo:hi].tocsr()
        m.data = np.ones_like(m.data)
        return m

    total = sp.csr_matrix((s_hi - s_lo, s_hi - s_lo))
    by_artist = block("PERFORMED_BY", "Artist")  # featured credits count too: same people
    if w.get("artist"):
        total = total + w["artist"] * (by_artist @ by_artist.T)
    if w.get("album"):
        total = total + w["album"] * _group_affinity(block("ON_ALBUM", "Album"))
    if w.get("playlist"):
        total = total + w["playlist"] * _group_affinity(block("IN_PLAYLIST", "Playlist"))
    if w.get("genre"):
        total = total + w["genre"] * _group_affinity(block("HAS_GENRE", "Genre"))
    if w.get("mood"):
        total = total + w["mood"] * _group_affinity(block("HAS_MOOD", "Mood"))
    if w.get("tag"):
        a_lo, a_hi = projection.label_ranges["Artist"]
        t_lo, t_hi = projection.label_ranges["Tag"]
        artist_tag = mats["TAGGED"][a_lo:a_hi, t_lo:t_hi].tocsr().astype(np.float64)
        artist_tag.data = np.log1p(artist_tag.data)
        song_tag = (by_artist @ artist_tag).tocsr()
        # cosine-normalize rows so prolific taggers don't dominate
        norms = np.sqrt(np.asarray(song_tag.multiply(song_tag).sum(axis=1)).ravel())
        inv = np.zeros_like(norms)
        inv[norms > 0] = 1.0 / norms[norms > 0]
        song_tag = sp.diags(inv) @ song_tag
        total = total + w["tag"] * (song_tag @ song_tag.T)
    total = total.tocsr()
    total.setdiag(0)
    total.eliminate_zeros()
    return total


def propagate(
    affinity: sp.csr_matrix, values: np.ndarray, known: np.ndarray, iterations: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted-mean propagation of ``values`` (rows with ``known`` True are clamped).

    Returns (estimates, support): NaN where no neighbour within ``iterations`` hops has a value;
    support is the affinity mass behind each estimate.
    """
    n, d = values.shape
    current = np.where(known[:, None], values, 0.0)
    has = known.astype(np.float64)
    support = np.zeros(n)
    est = np.full((n, d), np.nan)
    for _ in range(iterations):
        mass = affinity @ has
        summed = affinity @ (current * has[:, None])
        newly = (~known) & (mass > 0)
        est[newly] = summed[newly] / mass[newly, None]
        support[newly] = mass[newly]
        current = np.where(known[:, None], values, np.nan_to_num(est))
        has = np.where(known, 1.0, (mass > 0).astype(np.float64) * 0.5)  # estimates count half
    return est, support


def estimate(
    store: GraphStore,
    weights: Mapping[str, float] | None = None,
    iterations: int = 3,
    projection: Projection | None = None,
) -> Estimates:
    """Estimate features for every song without real ones (NaN rows where nothing is reachable).

    Args:
        projection: the graph to propagate over (default: the store's own); a held-out view such as
            :func:`musicgraph.graph.heldout.without_song_moods` estimates without what it hides.
    """
    proj = projection or store.projection()
    table = feature_table(store, proj)
    known = ~np.isnan(table.values).any(axis=1)
    affinity = song_affinity(proj, weights)
    est, support = propagate(affinity, np.nan_to_num(table.values), known, iterations)
    target = ~known & ~np.isnan(est).any(axis=1)
    keys = [k for k, t in zip(table.keys, target, strict=True) if t]
    conf = 1.0 - np.exp(-support[target])
    log.info("estimated features for %d of %d songs without them", len(keys), int((~known).sum()))
    return Estimates(keys, est[target], conf)


def write_estimates(store: GraphStore, estimates: Estimates) -> int:
    """Write estimates into songs that have no real features (``features_estimated = true``)."""
    rows = []
    for key, vals, conf in zip(estimates.keys, estimates.values, estimates.confidence, strict=True):
        props: dict[str, object] = {f: round(float(v), 4) for f, v in zip(estimates.features, vals, strict=True)}
        props["features_estimated"] = True
        props["features_confidence"] = round(float(conf), 4)
        rows.append((key, props))
    current = store.get_nodes("Song", [k for k, _ in rows])
    rows = [(k, p) for k, p in rows if k in current and not current[k].props.get("has_features")]
    return store.upsert_nodes("Song", rows)


def evaluate(
    store: GraphStore,
    holdout: float = 0.2,
    seed: int = 0,
    weights: Mapping[str, float] | None = None,
    iterations: int = 3,
    features: Sequence[str] = ESTIMATED_FEATURES,
) -> EvaluationReport:
    """Hide ``holdout`` of the songs that have features, estimate them, report MAE vs the mean baseline.

    Only held-out songs that received an estimate are scored (coverage says how many did); the
    baseline predicts the mean of the songs left visible.
    """
    proj = store.projection()
    table = feature_table(store, proj)
    known = ~np.isnan(table.values).any(axis=1)
    idx = np.flatnonzero(known)
    rng = np.random.default_rng(seed)
    hidden = rng.choice(idx, size=max(1, int(round(holdout * len(idx)))), replace=False)
    visible = known.copy()
    visible[hidden] = False
    affinity = song_affinity(proj, weights)
    est, _ = propagate(affinity, np.nan_to_num(table.values), visible, iterations)
    got = hidden[~np.isnan(est[hidden]).any(axis=1)]
    report = EvaluationReport(n_heldout=len(hidden), coverage=len(got) / len(hidden))
    mean = table.values[visible].mean(axis=0)
    for j, f in enumerate(table.features):
        if f not in features or len(got) == 0:
            continue
        truth = table.values[got, j]
        report.mae[f] = float(np.abs(est[got, j] - truth).mean())
        report.mae_mean_baseline[f] = float(np.abs(mean[j] - truth).mean())
    return report
