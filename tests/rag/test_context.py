from __future__ import annotations

import pytest

from musicgraph.rag.context import MAX_LYRIC_WORDS, approx_tokens, build_context, feature_words

from .conftest import SONGS, song_result


def test_feature_words_describe_scales():
    words = feature_words({"energy": 0.9, "valence": 0.2, "danceability": 0.8, "tempo": 128.4, "mode": 0})
    assert words == ["high energy", "sad-sounding", "danceable", "minor key", "128 BPM"]
    assert feature_words({}) == []


def test_context_lists_facts_in_rank_order(store):
    results = [song_result(1, "velvet foxes|rain on glass"), song_result(2, "sunny side up|golden hour")]
    ctx = build_context(results, store=store, query="rain at night")
    lines = ctx.text.splitlines()
    assert lines[1].startswith("[1] The Velvet Foxes - Rain on Glass (2003)")
    assert lines[2].startswith("[2] Sunny Side Up - Golden Hour (2018)")
    first = ctx.candidates[0]
    assert first.moods == ["sad"]
    assert "indie pop" in first.genres
    assert "low energy" in first.sound and "sad-sounding" in first.sound and "acoustic" in first.sound
    assert "The Velvet Foxes → tagged → melancholic" in lines[1]
    # the lyric is quoted, shortened, from the line matching the query
    assert first.lyric is not None and first.lyric.startswith("rain on glass")
    assert len(first.lyric.split()) <= MAX_LYRIC_WORDS
    assert not ctx.truncated


def test_budget_truncates_by_rank_and_never_fails(store):
    results = [song_result(i, s[0]) for i, s in enumerate(SONGS, start=1)]
    full = build_context(results, store=store)
    small = build_context(results, store=store, budget=full.tokens // 3)
    assert small.tokens <= small.budget
    assert 0 < len(small.candidates) < len(results)
    kept = [c.id for c in small.candidates]
    assert kept == [r.id for r in results[: len(kept)]]  # a prefix of the ranking
    assert [r.id for r in small.dropped] == [r.id for r in results[len(kept) :]]
    tiny = build_context(results, store=store, budget=5)  # below one heading: the first stays, shortened
    assert [c.id for c in tiny.candidates] == [results[0].id]
    assert tiny.shortened == 1
    with pytest.raises(ValueError, match="budget"):
        build_context(results, budget=0)


def test_results_without_store_use_their_own_fields():
    res = song_result(1, "velvet foxes|rain on glass")
    res.props = {"energy": 0.95, "year": 2001}
    res.evidence = {"moods": ["angry"], "tags": ["loud"]}
    ctx = build_context([res])
    cand = ctx.candidates[0]
    assert cand.year == 2001 and cand.moods == ["angry"] and cand.tags == ["loud"] and "high energy" in cand.sound
    # the token count is the header's plus each candidate line's, as counted by the default counter
    header, line = ctx.text.splitlines()
    assert ctx.tokens == approx_tokens(header) + approx_tokens(line)
    assert build_context([res], count_tokens=len).tokens == len(header) + len(line)  # a custom counter is used


def test_hybrid_retrieval_evidence_is_shown(store):
    res = song_result(1, "velvet foxes|rain on glass", with_path=False)
    res.ranks = {"bm25": 2, "dense": 5}
    res.evidence = {"title": ["rain"], "lyrics": ["alone"], "features": ["valence 0.18 <= 0.5"],
                    "emotion_words": ["lonely"]}  # fmt: skip
    cand = build_context([res], store=store, query="sad").candidates[0]
    assert cand.matches == ["title 'rain'", "lyrics 'alone'"]
    assert cand.feature_notes == ["valence 0.18 <= 0.5"] and cand.emotions == ["lonely"]
    assert cand.lyric is not None and "alone" in cand.lyric  # the snippet is the line with a matched word
    line = cand.render()
    assert "matches: title 'rain', lyrics 'alone'" in line and "fits: valence 0.18 <= 0.5" in line
    from musicgraph.rag.explain import reason_chain

    reasons = reason_chain(cand, "sad")
    assert reasons[0] == "retrieved by bm25 #2, dense #5" and "text match: title 'rain', lyrics 'alone'" in reasons
