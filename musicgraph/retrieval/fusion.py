"""Fusion and reranking of component candidates.

* :func:`rrf`: reciprocal rank fusion, ``sum_c w_c / (k + rank_c)``;
* :func:`weighted_linear`: min-max normalized scores, weighted sum;
* :func:`feature_match` / :func:`emotion_match`: 0..1 agreement of candidates with the parsed
  audio-feature ranges and mood target (0.5 = unknown, neither rewarded nor punished);
* :func:`rerank`: fused score plus weighted match terms;
* :func:`artist_cap` and :func:`mmr`: diversity (at most N songs per artist; maximal marginal
  relevance on embeddings).

Candidates are catalog rows (ints) throughout.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from musicgraph.retrieval.catalog import FEATURES

#: Typical spread of each feature, the distance over which a range violation costs the whole match.
FEATURE_SCALE: dict[str, float] = {
    "danceability": 0.3,
    "energy": 0.3,
    "valence": 0.3,
    "tempo": 30.0,
    "acousticness": 0.3,
    "instrumentalness": 0.3,
    "speechiness": 0.2,
    "liveness": 0.3,
    "loudness": 6.0,
    "mode": 1.0,
    "popularity": 30.0,
    "year": 10.0,
}


@dataclass(slots=True)
class FusionConfig:
    """How component lists are fused and reranked.

    Attributes:
        method: ``rrf`` or ``linear``.
        rrf_k: the RRF constant.
        weights: per-component weight (bm25, dense, graph, gnn); the defaults favour the graph, whose
            walks from linked seeds and mood nodes were the strongest single component on the
            held-out evaluation sets (``docs/retrieval.md``).
        entity_only_dense: dense weight multiplier for requests that only name entities ("songs
            like X"): the encoder then matches names, not music.
        emotion_weight, audio_weight: strength of the emotion and audio-feature rerank terms.
        per_artist: at most this many songs per artist in the results (0 = no cap).
        mmr_lambda: relevance/diversity trade-off of MMR (1 = relevance only).
        pool: candidates taken from each component.
    """

    method: Literal["rrf", "linear"] = "rrf"
    rrf_k: int = 60
    weights: dict[str, float] = field(default_factory=lambda: {"bm25": 0.5, "dense": 0.5, "graph": 2.0, "gnn": 2.0})
    entity_only_dense: float = 0.5
    emotion_weight: float = 0.35
    audio_weight: float = 0.35
    per_artist: int = 2
    mmr_lambda: float = 0.85
    pool: int = 200


def rrf(rankings: Mapping[str, Sequence[int]], k: int = 60, weights: Mapping[str, float] | None = None) -> dict[int, float]:
    """Reciprocal rank fusion of ranked candidate lists (best first)."""
    if k <= 0:
        raise ValueError(f"rrf k must be positive, got {k}")
    out: dict[int, float] = {}
    for name, ranking in rankings.items():
        w = 1.0 if weights is None else float(weights.get(name, 1.0))
        if w == 0.0:
            continue
        for rank, row in enumerate(ranking, start=1):
            out[row] = out.get(row, 0.0) + w / (k + rank)
    return out


def minmax(scores: Mapping[int, float]) -> dict[int, float]:
    """Scores scaled to 0..1 (all 1.0 when they are equal)."""
    if not scores:
        return {}
    vals = np.fromiter(scores.values(), dtype=np.float64)
    lo, hi = float(vals.min()), float(vals.max())
    if hi - lo < 1e-12:
        return dict.fromkeys(scores, 1.0)
    return {r: (s - lo) / (hi - lo) for r, s in scores.items()}


def weighted_linear(scores: Mapping[str, Mapping[int, float]], weights: Mapping[str, float] | None = None) -> dict[int, float]:
    """Weighted sum of per-component min-max normalized scores (missing = 0)."""
    out: dict[int, float] = {}
    for name, comp in scores.items():
        w = 1.0 if weights is None else float(weights.get(name, 1.0))
        if w == 0.0:
            continue
        for row, s in minmax(comp).items():
            out[row] = out.get(row, 0.0) + w * s
    return out


def feature_match(
    features: np.ndarray, ranges: Mapping[str, tuple[float | None, float | None]]
) -> tuple[np.ndarray, list[list[str]]]:
    """Agreement (0..1) of feature rows with target ranges, and the features each row satisfies.

    Each constrained feature scores 1 inside its range, falling linearly to 0 at
    :data:`FEATURE_SCALE` outside it, 0.5 when unknown; the row's match is the mean.
    """
    n = features.shape[0]
    if not ranges:
        return np.full(n, 0.5, dtype=np.float32), [[] for _ in range(n)]
    total = np.zeros(n, dtype=np.float64)
    evidence: list[list[str]] = [[] for _ in range(n)]
    for feat, (lo, hi) in ranges.items():
        if feat not in FEATURES:
            continue
        col = features[:, FEATURES.index(feat)].astype(np.float64)
        miss = np.zeros(n)
        if lo is not None:
            miss = np.maximum(miss, lo - col)
        if hi is not None:
            miss = np.maximum(miss, col - hi)
        s = np.clip(1.0 - miss / FEATURE_SCALE.get(feat, 1.0), 0.0, 1.0)
        unknown = np.isnan(col)
        s[unknown] = 0.5
        total += s
        for i in np.flatnonzero((~unknown) & (miss <= 0)):
            evidence[i].append(f"{feat}={_fmt(col[i])}")
    return (total / max(1, len(ranges))).astype(np.float32), evidence


def _fmt(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 10 else f"{v:.2f}"


def emotion_match(
    target: tuple[float, float] | None,
    sources: Sequence[tuple[np.ndarray, np.ndarray, float]],
    exclude_quadrants: Sequence[tuple[float, float]] = (),
) -> np.ndarray:
    """Agreement (0..1) of candidates' valence/arousal estimates with a mood target.

    ``sources`` are ``(valence, arousal, weight)`` arrays (NaN = unknown) such as calibrated lyric
    VAD, audio valence/energy and mood labels; the match is their weighted mean similarity, 0.5 where
    no source knows the song. Excluded moods ("nothing sad") subtract their similarity.
    """
    if not sources:
        raise ValueError("emotion_match: no sources")
    n = len(sources[0][0])
    if target is None and not exclude_quadrants:
        return np.full(n, 0.5, dtype=np.float32)
    num = np.zeros(n)
    den = np.zeros(n)
    for val, aro, w in sources:
        ok = ~(np.isnan(val) | np.isnan(aro))
        if target is not None:
            sim = 1.0 - np.sqrt((val - target[0]) ** 2 + (aro - target[1]) ** 2) / math.sqrt(2.0)
        else:
            sim = np.full(n, 0.75)
        for ex in exclude_quadrants:
            ex_sim = 1.0 - np.sqrt((val - ex[0]) ** 2 + (aro - ex[1]) ** 2) / math.sqrt(2.0)
            sim = sim - 0.5 * np.clip(ex_sim - 0.5, 0.0, None) * 2
        num[ok] += w * sim[ok]
        den[ok] += w
    out = np.full(n, 0.5)
    has = den > 0
    out[has] = num[has] / den[has]
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def rerank(
    fused: Mapping[int, float],
    emotion: Mapping[int, float] | None = None,
    audio: Mapping[int, float] | None = None,
    emotion_weight: float = 0.35,
    audio_weight: float = 0.35,
) -> dict[int, float]:
    """Final score: min-max fused score plus ``w * (match - 0.5)`` for the emotion and audio matches."""
    base = minmax(fused)
    out = {}
    for row, s in base.items():
        if emotion is not None:
            s += emotion_weight * (emotion.get(row, 0.5) - 0.5)
        if audio is not None:
            s += audio_weight * (audio.get(row, 0.5) - 0.5)
        out[row] = s
    return out


def artist_cap(order: Sequence[int], artist_of: Sequence[str], cap: int, limit: int | None = None) -> list[int]:
    """``order`` with at most ``cap`` rows per artist (later ones dropped); 0 keeps everything.

    ``limit``: stop once this many rows are kept (the caller only reads that many).
    """
    if cap <= 0:
        return list(order if limit is None else order[:limit])
    seen: dict[str, int] = {}
    out = []
    for row in order:
        a = artist_of[row]
        if seen.get(a, 0) < cap:
            out.append(row)
            seen[a] = seen.get(a, 0) + 1
            if limit is not None and len(out) >= limit:
                break
    return out


def mmr(order: Sequence[int], scores: Mapping[int, float], vectors: np.ndarray | None, k: int, lam: float = 0.85) -> list[int]:
    """Maximal marginal relevance: pick ``k`` of ``order`` maximizing ``lam*rel - (1-lam)*max_sim``.

    Relevance is min-max scaled; without ``vectors`` (or with ``lam >= 1``) the order is kept.
    """
    if vectors is None or lam >= 1.0 or len(order) <= 1:
        return list(order[:k])
    cand = list(order[: max(k * 5, k)])
    rel = minmax({r: scores[r] for r in cand})
    vecs = np.asarray(vectors[cand], dtype=np.float32)
    sims = vecs @ vecs.T
    chosen: list[int] = []
    max_sim = np.full(len(cand), -np.inf)
    remaining = np.ones(len(cand), dtype=bool)
    rel_arr = np.array([rel[r] for r in cand])
    for _ in range(min(k, len(cand))):
        penalty = np.where(np.isinf(max_sim), 0.0, max_sim)
        obj = lam * rel_arr - (1 - lam) * penalty
        obj[~remaining] = -np.inf
        j = int(np.argmax(obj))
        chosen.append(cand[j])
        remaining[j] = False
        max_sim = np.maximum(max_sim, sims[j])
    return chosen
