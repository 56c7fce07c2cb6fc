"""Latency machinery of the retriever: stage timings, the encoder thread, warm-up; results unchanged."""

from __future__ import annotations

import pytest

from musicgraph.retrieval.retriever import HybridRetriever

REQUESTS = ["sad songs for a rainy night", "upbeat songs for a summer road trip like Daft Punk",
            "happy songs but no Queen", "electronic french house dance", "something calm to study to, no vocals"]


def snapshot(results):
    return [(r.id, round(r.score, 9), sorted(r.scores.items()), [p.as_list() for p in r.paths]) for r in results]


@pytest.fixture
def pair(store, index_dir, vad, retriever, make_encoder):
    """The session retriever's linker with an inline-encoding and a threaded retriever."""
    out = []
    for parallel in (False, True):
        r = HybridRetriever(store, index_dir=index_dir, encoder=make_encoder(), vad=vad, parallel_encode=parallel)
        r._linker = retriever.linker
        out.append(r)
    return out


def test_threaded_encoding_gives_the_same_results(pair) -> None:
    inline, threaded = pair
    threaded.warm_up()
    for q in REQUESTS:
        assert snapshot(inline.retrieve(q, k=5)) == snapshot(threaded.retrieve(q, k=5))
        assert snapshot(inline.retrieve(q, k=5, use_dense=False)) == snapshot(threaded.retrieve(q, k=5, use_dense=False))


def test_stage_timings(pair) -> None:
    inline, threaded = pair
    _, trace = threaded.search_traced("sad songs for a rainy night")
    t = trace.timings
    assert {"parse", "mask", "bm25", "graph", "dense_encode", "dense_encode_worker", "dense_search", "fusion",
            "results"} <= set(t)
    assert all(v >= 0 for v in t.values())
    _, trace = inline.search_traced("sad songs for a rainy night", components=("bm25", "emotion", "audio"))
    assert "dense_encode" not in trace.timings and "graph" not in trace.timings
