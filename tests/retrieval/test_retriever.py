from __future__ import annotations

import json

import pytest

from musicgraph.retrieval.query import QueryError
from musicgraph.retrieval.retriever import COMPONENTS


def keys(results):
    return [r.id for r in results]


def test_sad_rainy_night_returns_sad_songs_with_scores_and_evidence(retriever) -> None:
    res = retriever.retrieve("sad songs for a rainy night", k=3)
    assert {"adele|someone like you", "coldplay|fix you"} <= set(keys(res))
    top = res[0]
    assert {"bm25", "dense", "graph", "emotion", "audio", "fused"} <= set(top.scores)
    assert set(top.ranks) >= {"bm25", "graph"}
    assert top.paths and top.paths[0].names[0] == "sad"
    d = top.to_dict()
    json.dumps(d)
    assert d["artist"] and d["title"] and d["evidence"]
    lyric_hit = next(r for r in res if r.id == "adele|someone like you")
    assert "night" in lyric_hit.evidence.get("lyrics", [])
    assert "emotion_words" in lyric_hit.evidence


def test_like_artist_excludes_the_artist_and_finds_co_listened(retriever) -> None:
    res = retriever.retrieve("upbeat songs for a summer road trip like Daft Punk", k=4)
    assert not any(r.id.startswith("daft punk|") for r in res)
    assert res[0].id.startswith("justice|")


def test_exclusions(retriever) -> None:
    res = retriever.retrieve("happy songs but no Queen", k=10)
    assert res and not any(r.id.startswith("queen|") for r in res)
    calm = retriever.retrieve("something calm to study to, no vocals", k=2)
    # the two instrumental songs tie on BM25, graph, emotion and audio fit; the dense score decides the order
    a, b = calm
    assert keys(calm) == ["nils frahm|says", "nils frahm|ambre"]
    assert {c: a.scores[c] for c in ("bm25", "graph", "emotion", "audio")} == \
        {c: b.scores[c] for c in ("bm25", "graph", "emotion", "audio")}
    assert a.scores["dense"] > b.scores["dense"] and a.scores["fused"] > b.scores["fused"]
    assert a.score >= b.score and [r.rank for r in calm] == [1, 2]
    assert all("instrumentalness" in " ".join(r.evidence["features"]) for r in calm)


def test_by_artist_restricts(retriever) -> None:
    res = retriever.retrieve("songs by Adele", k=5)
    assert res and all(r.id.startswith("adele|") for r in res)


def test_artist_cap(retriever) -> None:
    res = retriever.retrieve("electronic french house dance", k=6)
    per: dict[str, int] = {}
    for r in res:
        per[r.artist] = per.get(r.artist, 0) + 1
    assert max(per.values()) <= retriever.config.per_artist


@pytest.mark.parametrize("off", COMPONENTS)
def test_each_switch_removes_its_component(retriever, off: str) -> None:
    res = retriever.retrieve("sad songs for a rainy night", k=5, **{f"use_{off}": False})
    assert res
    assert all(off not in r.scores for r in res)


def test_all_retrieval_off_falls_back_to_mood_fit(retriever) -> None:
    res = retriever.retrieve("sad songs", k=2, use_bm25=False, use_dense=False, use_graph=False)
    assert set(keys(res)) == {"adele|someone like you", "coldplay|fix you"}
    assert "fallback" in res[0].evidence


def test_linear_fusion_differs_from_rrf_but_both_work(retriever) -> None:
    from dataclasses import replace

    a = retriever.retrieve("sad songs for a rainy night", k=5)
    b = retriever.retrieve("sad songs for a rainy night", k=5, config=replace(retriever.config, method="linear"))
    assert a and b and a[0].scores["fused"] != b[0].scores["fused"]
    with pytest.raises(ValueError, match="fusion method"):
        retriever.retrieve("sad", config=replace(retriever.config, method="max"))


def test_bad_input(retriever) -> None:
    with pytest.raises(QueryError):
        retriever.retrieve("", k=5)
    with pytest.raises(ValueError, match="positive"):
        retriever.retrieve("sad", k=0)
    with pytest.raises(ValueError, match="k: .*less than or equal to 1000"):
        retriever.search(retriever.parse("sad songs").with_(k=10**9))
    many, trace = retriever.search_traced(retriever.parse("sad songs").with_(k=1000))
    assert len(many) == int(retriever.catalog.alive.sum())
    assert any("capped" in n for n in trace.notes)
    gib, trace = retriever.search_traced(retriever.parse("xqzzt vlorp").with_(k=3))
    assert gib and "fallback" in gib[0].evidence
    assert any("unknown words" in n for n in trace.notes)
    with pytest.raises(ValueError, match="unknown filter"):
        retriever.retrieve("sad", filters={"colour": "blue"})


def test_filters_and_user(retriever) -> None:
    res = retriever.retrieve("songs", k=5, filters={"year": (2000, 2009)})
    assert res and all(2000 <= r.props["year"] <= 2009 for r in res)
    # user 2 listens to Adele and Coldplay: their songs are "known" and left out
    res = retriever.retrieve("sad songs", k=5, user="hetrec:2")
    assert not any(r.id.startswith(("adele|", "coldplay|")) for r in res)
    kept = retriever.retrieve("sad songs", k=5, user="hetrec:2", exclude_known=False)
    assert any(r.id.startswith(("adele|", "coldplay|")) for r in kept)


def test_explain_lines(retriever) -> None:
    res = retriever.retrieve("sad songs for a rainy night", k=2, explain=True)
    assert res[0].evidence["explain"][0].startswith("parsed: ")
    assert "prefer sad" in res[0].evidence["explain"][0]
