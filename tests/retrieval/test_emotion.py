from __future__ import annotations

import numpy as np

from musicgraph.retrieval.emotion import EMOTION_FIELDS, EmotionAnalyzer, calibrate, quadrant, va_similarity


def test_quadrants() -> None:
    assert quadrant(0.9, 0.9) == "happy"
    assert quadrant(0.1, 0.9) == "angry"
    assert quadrant(0.1, 0.1) == "sad"
    assert quadrant(0.9, 0.1) == "relaxed"
    assert quadrant(None, 0.5) is None


def test_sad_lyrics_score_below_happy_lyrics(vad) -> None:
    an = EmotionAnalyzer(vad=vad)
    sad = an.profile("tears fall like rain, lonely heart, I cry goodbye alone")
    happy = an.profile("happy party, dance in the summer sunshine with love")
    assert sad.valence < 0.35 < 0.8 < happy.valence
    assert sad.values["vader"] < 0 < happy.values["vader"]
    assert sad.values["sadness"] > happy.values["sadness"]
    assert happy.values["joy"] > sad.values["joy"]
    assert "tears" in sad.evidence or "cry" in sad.evidence


def test_empty_text_has_no_text_profile(vad) -> None:
    prof = EmotionAnalyzer(vad=vad).profile("")
    assert prof.values["text_weight"] == 0.0
    assert np.isnan(prof.vector()[EMOTION_FIELDS.index("vad_valence")])


def test_calibrate_is_a_cdf_and_keeps_nan() -> None:
    out = calibrate(np.array([0.5, np.nan, 0.1, 0.9], dtype=np.float32))
    assert np.isnan(out[1])
    assert out[2] < out[0] < out[3]
    assert 0 < out[2] and out[3] < 1


def test_va_similarity() -> None:
    sim = va_similarity((0.1, 0.2), np.array([0.1, 0.9]), np.array([0.2, 0.9]))
    assert sim[0] == 1.0 and sim[1] < 0.3
