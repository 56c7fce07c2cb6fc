"""Tasks 3-5: eval-set split, multi-hop question generation with exact answers and Path Recall,
RAG scoring, and `musicgraph eval --quick` end to end on the fixture data (all content invented)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from musicgraph.evaluation.tasks import retrieval_common as R
from musicgraph.evaluation.tasks.evalsets import half
from musicgraph.evaluation.tasks.multihop import GraphFacts, Question, co_listened, generate, path_recall
from musicgraph.graph.results import Path as GPath
from musicgraph.graph.schema import NodeRef


def _facts() -> GraphFacts:
    """Y has 20 fans; 10 of them also listen to A (tag "shoegaze"), 10 to B (tag "shoegaze"), 2 to C."""
    fans = {"y": {f"u{i}" for i in range(20)}, "a": {f"u{i}" for i in range(10)},
            "b": {f"u{i}" for i in range(10, 20)}, "c": {"u0", "u1", "z1"}, "d": {"z1", "z2"}}
    tags = {"a": {"shoegaze": 5.0}, "b": {"shoegaze": 3.0, "dream pop": 2.0}, "c": {"shoegaze": 9.0},
            "d": {"shoegaze": 9.0}, "e": {"shoegaze": 4.0}}
    songs = {"a": ["a|1", "a|2"], "b": ["b|1", "b|2"], "c": ["c|1", "c|2"], "d": [f"d|{i}" for i in range(4)],
             "e": [f"e|{i}" for i in range(6)], "y": ["y|1"]}
    moods = {"a|1": {"sad"}, "b|1": {"sad"}, "b|2": {"sad"}, "c|1": {"sad"}, "a|2": {"happy"},
             **{f"e|{i}": {"sad"} for i in range(6)}}
    names = {("Artist", k): k.upper() for k in songs} | {("Tag", "shoegaze"): "shoegaze", ("Tag", "dream pop"): "dream pop"}
    return GraphFacts(fans, tags, songs, moods, names)


def test_co_listening_threshold_is_exact():
    co = co_listened(_facts(), "y")
    # need max(3, ceil(0.15 * 20)) = 3 common fans: A and B qualify, C (2 common) does not
    assert set(co) == {"a", "b"}
    assert co["a"] == {f"u{i}" for i in range(10)}


def test_generated_answers_match_an_exact_query():
    facts = _facts()
    qs = generate(facts, n_per_type=1)
    by_kind = {q.kind: q for q in qs}
    tag_q = by_kind["tag_fans"]
    assert tag_q.seed_artist == "y" and tag_q.constraint == ("Tag", "shoegaze")
    assert tag_q.answers == {"a|1", "a|2", "b|1", "b|2"}  # not c (too few common fans), not d/e (no common fans)
    assert "fans of Y" in tag_q.text
    mood_q = by_kind["mood_similar"]
    assert mood_q.constraint == ("Mood", "sad") and mood_q.answers == {"a|1", "b|1", "b|2"}
    # every answer has its gold slots; the tag/mood slot names the answer's own artist or song
    assert len(tag_q.gold["b|1"]) == 4 and (frozenset({("Tag", "shoegaze")}), frozenset({("Artist", "b")})) in tag_q.gold["b|1"]
    assert [q.text for q in generate(facts, 1)] == [q.text for q in qs]  # deterministic


def _path(*nodes: tuple[str, str]) -> GPath:
    return GPath(nodes=[NodeRef(lab, key) for lab, key in nodes], names=[k for _, k in nodes],
                 rels=["R"] * (len(nodes) - 1), score=1.0)


def test_path_recall_counts_gold_edges_of_answers_only():
    q = generate(_facts(), 1)[0]
    full = [_path(("Artist", "y"), ("User", "u3"), ("Artist", "a"), ("Song", "a|1")),
            _path(("Tag", "shoegaze"), ("Artist", "a"), ("Song", "a|1"))]
    half_paths = [_path(("Tag", "shoegaze"), ("Artist", "a"), ("Song", "a|1"))]  # 2 of 4 gold edges
    wrong_user = [_path(("Artist", "y"), ("User", "z1"), ("Artist", "a"), ("Song", "a|1"))]  # z1 is no common fan
    assert path_recall(q, [("a|1", full)]) == 1.0
    assert path_recall(q, [("a|1", half_paths)]) == 0.5
    assert path_recall(q, [("a|1", wrong_user)]) == 0.25  # only A-song
    # a non-answer in the list is ignored; a list without answers scores 0
    assert path_recall(q, [("d|0", full), ("a|1", half_paths)]) == 0.5
    assert path_recall(q, [("d|0", full)]) == 0.0
    assert isinstance(q, Question)


def test_systems_and_ablations_cover_each_component():
    sys = R.systems(["bm25", "graph", "emotion"])
    assert set(sys) == {"bm25", "graph", "emotion", "hybrid", "hybrid-no-bm25", "hybrid-no-graph", "hybrid-no-emotion"}
    assert sys["hybrid"] == {"use_bm25": True, "use_dense": False, "use_graph": True, "use_emotion": True, "use_audio": False}
    assert sys["hybrid-no-graph"]["use_graph"] is False and sys["hybrid-no-graph"]["use_bm25"] is True


def test_binary_metrics_on_known_lists():
    m = R.binary_metrics([[True, False, True], [False] * 3], [2, 4], k=10)
    assert m["precision@10"].tolist() == [0.2, 0.0]
    assert m["hit@10"].tolist() == [1.0, 0.0]
    assert m["map@10"][0] == pytest.approx((1 + 2 / 3) / 2)
    assert m["mrr@10"][0] == 1.0


def test_holdout_split_is_stable_and_balanced():
    keys = [f"artist {i}|song {i}" for i in range(2000)]
    first = [half(k) for k in keys]
    assert first == [half(k) for k in keys]
    assert 0.45 < np.mean(first) < 0.55


def test_rag_scoring_checks_citations_against_the_store():
    from musicgraph.evaluation.tasks.rag import score_answer

    class Store:
        def get_nodes(self, label, keys):
            db = {"s1": SimpleNamespace(props={"title": "Blue Night", "artist": "The Owls", "year": 1999})}
            return {k: db[k] for k in keys if k in db}

    rec = SimpleNamespace(result=SimpleNamespace(id="s1"), reasons=["released 1999, sad"])
    ans = SimpleNamespace(cited_ids=["s1", "ghost"], text="Try Blue Night by The Owls [1] and Ghost [2].",
                          recommendations=[rec], grounding=SimpleNamespace(hallucinated=True))
    m = score_answer(ans, Store(), {"s1", "ghost"})
    assert m["citation_precision"] == 0.5 and m["hallucinated_final"] == 1.0 and m["hallucinated_raw"] == 1.0
    assert m["faithfulness"] == 1.0
    rec.reasons = ["released 2005"]
    assert score_answer(ans, Store(), {"s1"})["faithfulness"] == 0.0


@pytest.mark.timeout(600)
def test_eval_quick_cli_on_fixture_data(fixture_data_dir, tmp_path, monkeypatch):
    """`musicgraph eval --quick` on the fixture data, store and an index without dense vectors."""
    from typer.testing import CliRunner

    from musicgraph.cli import app
    from musicgraph.config import get_settings
    from musicgraph.graph.embedded import EmbeddedStore
    from musicgraph.retrieval.index import build_indexes

    store_dir = tmp_path / "home" / "stores" / "default"
    store_dir.mkdir(parents=True)
    monkeypatch.setenv("MUSICGRAPH_DATA_DIR", str(fixture_data_dir))
    monkeypatch.setenv("MUSICGRAPH_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    from musicgraph.graph.ingest import ingest

    store = EmbeddedStore(store_dir)
    ingest(store, fixture_data_dir, progress=False)
    build_indexes(store, tmp_path / "home" / "indexes" / "default", dense=False, data_dir=fixture_data_dir,
                  progress=False)
    store.close()
    out = tmp_path / "rep"
    res = CliRunner().invoke(app, ["eval", "--quick", "--store", str(store_dir), "--out", str(out),
                                   "--cache", str(tmp_path / "cache")])
    assert res.exit_code == 0, res.output
    results = json.loads((out / "results.json").read_text())
    assert results["meta"]["quick"] is True
    assert set(results["tasks"]) == {"recommendation", "playlists", "mood", "multihop", "multihop_smoke", "rag"}
    assert results["tasks"]["multihop"]["protocol"]["name"] == "multihop-heldout"
    assert results["tasks"]["multihop_smoke"]["protocol"]["name"] == "multihop-gold"
    for name in ("mood", "multihop", "multihop_smoke", "rag"):
        task = results["tasks"][name]
        # every task either ran systems or says why not; never silently empty
        assert task["systems"] or task["missing_systems"], name
    mood = results["tasks"]["mood"]
    if mood["systems"]:
        assert "dense" in mood["missing_systems"]  # no dense index: recorded, not faked
        assert {"random", "bm25", "graph", "hybrid"} <= set(mood["systems"])
        p = mood["systems"]["hybrid"]["metrics"]["precision@10"]
        assert 0.0 <= p["ci_lo"] <= p["mean"] <= p["ci_hi"] <= 1.0
    assert (out / "report.md").read_text().count("## ") >= 6
