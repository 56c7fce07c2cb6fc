"""The trending signal: resolved into the catalog, off by default, a rerank among candidates with an
explanation, through the real retriever and the multi-hop results."""

from __future__ import annotations

import time

import pytest

from musicgraph.loaders.trends import Mention, TrendList
from musicgraph.retrieval.trending import ARTIST_SHARE, TrendingSignal


def lists() -> list[TrendList]:
    chart = TrendList("lastfm-chart", "Last.fm's top tracks this week", "GET chart", time.time(), [
        Mention("Coldplay", "Fix You", 1), Mention("Unknown Band", "Nope", 2), Mention("Adele", "Hello", 3),
        Mention("Justice", "Not In The Catalog", 4)])
    reddit = TrendList("reddit", "r/Music's top posts this week", "GET reddit", time.time(),
                       [Mention("Adele", "Someone Like You", 1)], unparsed=3)
    return [chart, reddit]


def test_build_resolves_into_the_catalog_and_keeps_provenance(store, tmp_path) -> None:
    sig, report = TrendingSignal.build(lists(), store)
    assert sig.songs["coldplay|fix you"] == (1.0, "in Last.fm's top tracks this week (#1)")
    assert sig.songs["adele|someone like you"] == (1.0, "in r/Music's top posts this week (#1)")
    assert "adele|hello" not in sig.songs and "unknown band" not in sig.artists  # not in the catalog
    assert report["Last.fm's top tracks this week"] == {"mentions": 4, "songs_in_catalog": 1, "artists_in_catalog": 3,
                                                        "unparsed": 0}
    assert [s["request"] for s in sig.sources] == ["GET chart", "GET reddit"]
    sig.save(tmp_path / "t.json")
    again = TrendingSignal.load(tmp_path / "t.json")
    assert again.songs == sig.songs and again.artists == sig.artists
    assert again.value("justice|genesis", "Justice") == (pytest.approx(ARTIST_SHARE * 0.25), "Justice is in Last.fm's top tracks this week (#4)")
    with pytest.raises(FileNotFoundError, match="musicgraph trends fetch"):
        TrendingSignal.load(tmp_path / "missing.json")


def test_retriever_trending_is_off_by_default_and_reranks_with_a_reason(retriever, store, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MUSICGRAPH_HOME", str(tmp_path))
    from musicgraph.config import reset_settings
    from musicgraph.retrieval.trending import TRENDING_WEIGHT, trends_path

    reset_settings()
    try:
        week = TrendList("reddit", "r/Music's top posts this week", "GET reddit", time.time(),
                         [Mention("Adele", "Rolling in the Deep", 1)])
        sig, _ = TrendingSignal.build([week], store)
        sig.save(trends_path())
        plain = retriever.retrieve("sad songs about tears", k=5, use_dense=False)
        assert not any("trending" in r.scores for r in plain)
        boosted = retriever.retrieve("sad songs about tears", k=5, use_dense=False, use_trending=True)
        assert {r.id for r in boosted} == {r.id for r in plain}  # nothing unrelated pulled in
        base = {r.id: r.score for r in plain}
        for r in boosted:
            t = r.scores.get("trending", 0.0)
            assert r.score == pytest.approx(base[r.id] * (1 + TRENDING_WEIGHT * t), rel=1e-5)
        assert [r.score for r in boosted] == sorted((r.score for r in boosted), reverse=True)
        rolling = next(r for r in boosted if r.id == "adele|rolling in the deep")
        assert rolling.evidence["trending"] == ["in r/Music's top posts this week (#1)"] and rolling.scores["trending"] == 1.0
        sly = next(r for r in boosted if r.id == "adele|someone like you")
        assert sly.scores["trending"] == pytest.approx(ARTIST_SHARE)  # the artist trends, not the song
        assert sly.evidence["trending"] == ["Adele is in r/Music's top posts this week (#1)"]
        assert plain[0].id == "coldplay|fix you" and boosted[0].id != "coldplay|fix you"  # the order changed
    finally:
        reset_settings()


def test_boost_of_multihop_results() -> None:
    from musicgraph.graph.results import Result

    sig = TrendingSignal(songs={"b|y": (1.0, "in X (#1)")}, artists={"c": (0.5, "C is in X (#2)")})
    rs = [Result(1, "song", "a|x", "x", 1.0, artist="A"), Result(2, "song", "b|y", "y", 0.8, artist="B"),
          Result(3, "song", "c|z", "z", 0.7, artist="C")]
    out = sig.boost(rs)
    assert [r.id for r in out] == ["b|y", "a|x", "c|z"] and [r.rank for r in out] == [1, 2, 3]
    assert out[0].score == pytest.approx(0.8 * 1.5) and out[0].evidence["trending"] == ["in X (#1)"]
    assert out[2].score == pytest.approx(0.7 * (1 + 0.5 * ARTIST_SHARE * 0.5)) and "trending" not in out[1].evidence
