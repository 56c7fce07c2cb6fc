"""Emotion profiles of songs: lyrics through VADER, NRCLex and NRC-VAD, audio through Russell's circumplex.

A profile is a fixed vector (:data:`EMOTION_FIELDS`), computed at index time for every song
(:mod:`musicgraph.retrieval.index`) and used by the reranker to match a request's mood:

* ``vader``: VADER compound sentiment of the lyrics (-1..1);
* ``anger`` ... ``positive``/``negative``: NRCLex affect frequencies, from the lexicon the ``nrclex``
  package ships, over tokens of our own tokenizer (``NRCLex().load_token_list``; TextBlob/NLTK
  corpora are not available offline);
* ``vad_valence``/``vad_arousal``/``vad_dominance``: mean NRC-VAD scores of the emotional words;
* ``text_weight``: how many emotional words backed the text part (0 = no lyrics).

Audio valence and energy place a song in one quadrant of Russell's valence/arousal circumplex
(:func:`quadrant`). Mood words map to (valence, arousal) targets via NRC-VAD (:meth:`EmotionAnalyzer.words_va`).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from musicgraph.retrieval.text import words

log = logging.getLogger(__name__)

NRC_EMOTIONS: tuple[str, ...] = (
    "anger",
    "anticipation",
    "disgust",
    "fear",
    "joy",
    "sadness",
    "surprise",
    "trust",
    "positive",
    "negative",
)

EMOTION_FIELDS: tuple[str, ...] = (
    "vader",
    *NRC_EMOTIONS,
    "vad_valence",
    "vad_arousal",
    "vad_dominance",
    "text_weight",
)

#: Canonical moods of the catalog's labels with (valence, arousal) on 0..1 (Russell's circumplex,
#: the four quadrants used by MoodyLyrics/MoodyLyrics4Q and data_moods).
MOOD_VA: dict[str, tuple[float, float]] = {
    "happy": (0.85, 0.70),
    "energetic": (0.70, 0.88),
    "angry": (0.15, 0.85),
    "sad": (0.15, 0.30),
    "relaxed": (0.75, 0.20),
    "calm": (0.65, 0.15),
}

#: Russell quadrant names by (high valence?, high arousal?).
QUADRANTS: dict[tuple[bool, bool], str] = {
    (True, True): "happy",
    (False, True): "angry",
    (False, False): "sad",
    (True, False): "relaxed",
}

_NEUTRAL_BAND = 0.12  # NRC-VAD words within 0.5 +- this on both V and A count as not emotional


def quadrant(valence: float | None, arousal: float | None) -> str | None:
    """Russell quadrant (``happy``/``angry``/``sad``/``relaxed``) of a 0..1 valence/arousal pair."""
    if valence is None or arousal is None or math.isnan(valence) or math.isnan(arousal):
        return None
    return QUADRANTS[(valence >= 0.5, arousal >= 0.5)]


@dataclass(slots=True)
class EmotionProfile:
    """The emotion profile of one text, with the words that produced it."""

    values: dict[str, float]
    evidence: list[str] = field(default_factory=list)

    def vector(self) -> np.ndarray:
        return np.array([self.values.get(f, np.nan) for f in EMOTION_FIELDS], dtype=np.float32)

    @property
    def valence(self) -> float:
        return self.values.get("vad_valence", float("nan"))

    @property
    def arousal(self) -> float:
        return self.values.get("vad_arousal", float("nan"))


class EmotionAnalyzer:
    """Lyrics -> :class:`EmotionProfile`, with the lexicons loaded once.

    Args:
        data_dir: the shared data directory (NRC-VAD lives in ``lexicons/``).
        vad: an NRC-VAD table to use instead of reading ``data_dir`` (tests).
    """

    def __init__(self, data_dir: Path | None = None, vad: Mapping[str, tuple[float, float, float]] | None = None):
        from nrclex import NRCLex
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        if vad is None:
            if data_dir is None:
                from musicgraph.config import get_settings

                data_dir = get_settings().data_dir
            from musicgraph.loaders.lexicons import load_nrc_vad

            vad = load_nrc_vad(Path(data_dir))
        self.vad: Mapping[str, tuple[float, float, float]] = vad
        self._vader = SentimentIntensityAnalyzer()
        self._nrc = NRCLex()
        self._nrc_lexicon: Mapping[str, list[str]] = self._nrc.__lexicon__

    def word_va(self, word: str) -> tuple[float, float] | None:
        """(valence, arousal) of one word from NRC-VAD, or None."""
        hit = self.vad.get(word)
        return None if hit is None else (hit[0], hit[1])

    def profile(self, text: str | None, max_chars: int = 6000) -> EmotionProfile:
        """The emotion profile of ``text`` (lyrics); all-NaN text fields (weight 0) when empty."""
        values: dict[str, float] = dict.fromkeys(EMOTION_FIELDS, float("nan"))
        values["text_weight"] = 0.0
        if not text or not text.strip():
            return EmotionProfile(values)
        text = text[:max_chars]
        toks = words(text)
        values["vader"] = float(self._vader.polarity_scores(text)["compound"])
        self._nrc.load_token_list(toks)
        for emo in NRC_EMOTIONS:
            values[emo] = float(self._nrc.affect_frequencies.get(emo, 0.0))
        emo_words: list[tuple[str, float, float, float]] = []
        for w in toks:
            hit = self.vad.get(w)
            if hit is None:
                continue
            v, a, d = hit
            if abs(v - 0.5) < _NEUTRAL_BAND and abs(a - 0.5) < _NEUTRAL_BAND:
                continue
            emo_words.append((w, v, a, d))
        if emo_words:
            arr = np.array([[v, a, d] for _, v, a, d in emo_words], dtype=np.float64)
            values["vad_valence"], values["vad_arousal"], values["vad_dominance"] = (float(x) for x in arr.mean(0))
        values["text_weight"] = float(len(emo_words))
        # Evidence: the most frequent strongly emotional words (NRC emotions or far from neutral).
        strong = Counter(
            w for w, v, a, _ in emo_words if w in self._nrc_lexicon or abs(v - 0.5) > 0.3 or abs(a - 0.5) > 0.3
        )
        return EmotionProfile(values, [w for w, _ in strong.most_common(8)])

    def profiles(self, texts: Sequence[str | None], progress: bool = False) -> tuple[np.ndarray, list[list[str]]]:
        """Profiles of many texts as an ``(n, len(EMOTION_FIELDS))`` matrix plus evidence words."""
        out = np.full((len(texts), len(EMOTION_FIELDS)), np.nan, dtype=np.float32)
        evidence: list[list[str]] = []
        it: Iterable[str | None] = texts
        if progress:
            from tqdm import tqdm

            it = tqdm(texts, desc="emotion profiles", unit="song")
        for i, text in enumerate(it):
            prof = self.profile(text)
            out[i] = prof.vector()
            evidence.append(prof.evidence)
        return out, evidence

    def words_va(self, terms: Iterable[str]) -> tuple[float, float] | None:
        """Mean (valence, arousal) of the emotional words among ``terms`` (mood words first), or None."""
        pairs = []
        for t in terms:
            if t in MOOD_VA:
                pairs.append(MOOD_VA[t])
                continue
            va = self.word_va(t)
            if va is not None and (abs(va[0] - 0.5) >= _NEUTRAL_BAND or abs(va[1] - 0.5) >= _NEUTRAL_BAND):
                pairs.append(va)
        if not pairs:
            return None
        arr = np.array(pairs)
        return float(arr[:, 0].mean()), float(arr[:, 1].mean())


def calibrate(column: np.ndarray) -> np.ndarray:
    """Map a score column to its empirical CDF in 0..1 (NaN stays NaN), so lyric means spread like targets."""
    out = np.full(column.shape, np.nan, dtype=np.float32)
    ok = ~np.isnan(column)
    if ok.sum() == 0:
        return out
    vals = column[ok]
    order = vals.argsort(kind="stable")
    ranks = np.empty(len(vals), dtype=np.float64)
    ranks[order] = np.arange(len(vals))
    out[ok] = ((ranks + 0.5) / len(vals)).astype(np.float32)
    return out


def va_similarity(
    target: tuple[float, float], valence: np.ndarray, arousal: np.ndarray
) -> np.ndarray:
    """Similarity 0..1 of (valence, arousal) points to a target (1 = same point, NaN where unknown)."""
    dist = np.sqrt((valence - target[0]) ** 2 + (arousal - target[1]) ** 2)
    return (1.0 - dist / math.sqrt(2.0)).astype(np.float32)
