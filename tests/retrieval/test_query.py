from __future__ import annotations

import pytest

from musicgraph.retrieval.emotion import EmotionAnalyzer
from musicgraph.retrieval.query import LexiconParser, LLMParser, QueryError


@pytest.fixture(scope="module")
def parser(vad) -> LexiconParser:
    return LexiconParser(emotion=EmotionAnalyzer(vad=vad))


def test_mood_and_features(parser: LexiconParser) -> None:
    q = parser.parse("sad songs for a rainy night")
    assert q.moods == ["sad"]
    assert q.features["valence"][1] is not None and q.features["valence"][1] <= 0.5
    assert q.valence is not None and q.valence < 0.4 and q.arousal < 0.5
    assert "night" in q.terms and "songs" not in q.terms


def test_upbeat_summer(parser: LexiconParser) -> None:
    q = parser.parse("upbeat songs for a summer road trip")
    assert "happy" in q.moods
    assert q.features["energy"][0] >= 0.55
    assert q.valence > 0.6


def test_no_vocals_means_instrumental_and_is_not_a_search_term(parser: LexiconParser) -> None:
    q = parser.parse("something calm to study to, no vocals")
    assert q.features["instrumentalness"] == (0.5, None)
    assert q.features["energy"][1] <= 0.55
    assert "vocals" not in q.terms and "no" not in q.terms
    assert q.reasons["instrumentalness"] == "no vocals"


def test_negated_mood_is_excluded_not_wanted(parser: LexiconParser) -> None:
    q = parser.parse("rock for a long drive, nothing sad")
    assert "sad" in q.exclude_moods and "sad" not in q.moods
    assert "sad" not in q.terms


def test_decades(parser: LexiconParser) -> None:
    assert parser.parse("80s synth pop").features["year"] == (1980.0, 1989.0)
    assert parser.parse("music from the 2010s").features["year"] == (2010.0, 2019.0)
    assert parser.parse("nineties grunge").features["year"] == (1990.0, 1999.0)


def test_empty_query_is_an_error(parser: LexiconParser) -> None:
    with pytest.raises(QueryError, match="empty"):
        parser.parse("   ")


def test_gibberish_has_no_signal_but_parses(parser: LexiconParser) -> None:
    q = parser.parse("?!?")
    assert not q.has_signal and q.notes


def test_llm_parser_uses_model_json_and_falls_back(vad) -> None:
    def good(prompt: str) -> str:
        assert "Request: chill evening" in prompt
        return '{"seeds": [], "exclude": [], "moods": ["relaxed"], "features": {"energy": [null, 0.4]}}'

    q = LLMParser(good, fallback=LexiconParser()).parse("chill evening")
    assert q.parser == "llm" and q.moods == ["relaxed"] and q.features["energy"] == (None, 0.4)
    bad = LLMParser(lambda p: "I don't know", fallback=LexiconParser()).parse("chill evening")
    assert bad.parser == "lexicon" and any("not a JSON object" in n for n in bad.notes)


@pytest.mark.parametrize("raw", [
    '{"seeds": ["x"], "features": [{"name": "energy"}]}',  # features as a list (SmolLM2 did this)
    '{"seeds": "Daft Punk"}',  # a string where a list belongs
    '{"moods": [["sad"]]}',
    '["sad"]',
])
def test_llm_parser_falls_back_on_json_of_the_wrong_shape(vad, raw) -> None:
    q = LLMParser(lambda p: raw, fallback=LexiconParser()).parse("sad songs")
    assert q.parser == "lexicon" and q.moods == ["sad"]
    assert any("used the lexicon parser" in n for n in q.notes)


def test_llm_parser_drops_unknown_features_and_non_numbers(vad) -> None:
    raw = '{"features": {"energy": [0.7, "high"], "sparkle": [0, 1], "year": [true, 1999]}}'
    q = LLMParser(lambda p: raw, fallback=LexiconParser()).parse("anything")
    assert q.parser == "llm"
    assert q.features == {"energy": (0.7, None), "year": (None, 1999.0)}
