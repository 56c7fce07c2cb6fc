from __future__ import annotations

from musicgraph.rag.ask import ask
from musicgraph.rag.context import build_context
from musicgraph.rag.explain import reason_chain, requested_features, requested_moods, write_explanations

from .conftest import song_result


def test_requested_features_and_moods():
    feats = requested_features("melancholic songs for a rainy night")
    assert feats["valence"] < 0.35 and feats["energy"] < 0.4
    assert requested_features("sad", {"valence": 0.7})["valence"] == 0.7
    assert requested_moods("melancholic, rainy, upbeat") == ["sad", "happy"]


def test_reason_chain_cites_path_mood_and_features(store):
    ctx = build_context([song_result(1, "velvet foxes|rain on glass")], store=store)
    reasons = reason_chain(ctx.candidates[0], "sad songs for a rainy night")
    assert reasons[0].startswith("graph path: The Velvet Foxes → tagged → melancholic")
    assert "mood match: tagged sad as asked" in reasons
    assert any(r.startswith("feature match:") and "valence 0.18" in r for r in reasons)
    happy = reason_chain(ctx.candidates[0], "happy party songs")
    assert any(r.startswith("feature mismatch:") for r in happy)


def test_write_explanations_draws_radar_and_subgraph(store, retriever, tmp_path):
    answer = ask("sad songs", k=2, backend="template", retriever=retriever, store=store)
    files = write_explanations(answer, tmp_path / "pics")
    assert len(files) == 4
    for f in files:
        assert f.exists() and f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f.stat().st_size > 5000
    assert {f.name.split("-")[-1] for f in files} == {"radar.png", "graph.png"}
