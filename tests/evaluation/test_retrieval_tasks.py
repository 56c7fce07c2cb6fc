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
from musicgraph.graph.results import ExplanationPath
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


def _path(*nodes: tuple[str, str]) -> ExplanationPath:
    return ExplanationPath(nodes=[NodeRef(lab, key) for lab, key in nodes], names=[k for _, k in nodes],
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


# Invented additions to the fixture data, so that every task has something to run on: a seed artist with
# 20 listeners, two artists 10 of them also play (tagged "shoegaze", their songs labelled "sad"), three
# more shoegaze artists nobody shares, and two playlists of 24 and 16 songs.
_FANS_OF = {"Velvet Harbor": range(100, 120), "Amber Static": range(100, 110), "Cobalt Fields": range(100, 110),
            "Zinc Parade": [120], "Opal Drift": [121], "Rust Meadow": [122]}
_SONGS_BY = {"Amber Static": 3, "Cobalt Fields": 3, "Zinc Parade": 6, "Opal Drift": 6, "Rust Meadow": 6}


def _grown_fixture(src, dst):
    """A copy of the fixture data with the invented additions above appended."""
    import shutil

    shutil.copytree(src, dst)
    h = dst / "hetrec_lastfm2k"
    ids = {name: 100 + i for i, name in enumerate(_FANS_OF)}
    with (h / "artists.dat").open("a") as fh:
        fh.writelines(f"{aid}\t{name}\t\t\n" for name, aid in ids.items())
    with (h / "user_artists.dat").open("a") as fh:
        fh.writelines(f"{u}\t{ids[name]}\t{50 + u}\n" for name, users in _FANS_OF.items() for u in users)
    with (h / "tags.dat").open("a") as fh:
        fh.write("50\tshoegaze\n")
    with (h / "user_taggedartists.csv").open("a") as fh:
        fh.writelines(f"{u},{ids[name]},50,1,1,2010\n" for name in _SONGS_BY for u in (100, 101))
    songs = [(name, f"{name.split()[0]} Song {i}") for name, n in _SONGS_BY.items() for i in range(1, n + 1)]
    with (dst / "spotify_playlists_300" / "RA_19k_playlist_tracks.csv").open("a") as fh:
        fh.writelines(f"{title},{artist},,Invented Long Mix\n" for artist, title in songs)
        fh.writelines(f"{title},{artist},,Invented Short Mix\n" for artist, title in songs[4:20])
    with (dst / "mpd_emotion_playlists" / "MoodyLyrics.csv").open("a") as fh:
        fh.writelines(f"INV{i},{artist},{title},sad\n" for i, (artist, title) in enumerate(songs))
    return dst


@pytest.fixture(scope="module")
def grown_home(fixture_data_dir, tmp_path_factory):
    """The grown fixture data ingested into an embedded store, with an index without dense vectors."""
    from musicgraph.graph.embedded import EmbeddedStore
    from musicgraph.graph.ingest import ingest
    from musicgraph.retrieval.index import build_indexes

    root = tmp_path_factory.mktemp("grown")
    data = _grown_fixture(fixture_data_dir, root / "data")
    store_dir = root / "home" / "stores" / "default"
    store_dir.mkdir(parents=True)
    store = EmbeddedStore(store_dir)
    ingest(store, data, progress=False)
    build_indexes(store, root / "home" / "indexes" / "default", dense=False, data_dir=data, progress=False)
    store.close()
    return SimpleNamespace(data=data, home=root / "home", store=store_dir)


def _cfg(home, **kw):
    from musicgraph.evaluation.tasks import EvalConfig

    return EvalConfig(data_dir=home.data, store_dir=home.store, quick=True, n_boot=50, **kw)


@pytest.mark.timeout(600)
def test_eval_quick_cli_on_fixture_data(grown_home, tmp_path, monkeypatch):
    """`musicgraph eval --quick` on the (grown) fixture data, store and an index without dense vectors:
    every task runs its systems, and only the documented absences are listed as not run."""
    from typer.testing import CliRunner

    from musicgraph.cli import app
    from musicgraph.config import get_settings

    monkeypatch.setenv("MUSICGRAPH_DATA_DIR", str(grown_home.data))
    monkeypatch.setenv("MUSICGRAPH_HOME", str(grown_home.home))
    get_settings.cache_clear()
    out = tmp_path / "rep"
    res = CliRunner().invoke(app, ["eval", "--quick", "--store", str(grown_home.store), "--out", str(out),
                                   "--cache", str(tmp_path / "cache")])
    assert res.exit_code == 0, res.output
    results = json.loads((out / "results.json").read_text())
    assert results["meta"]["quick"] is True
    tasks = results["tasks"]
    assert set(tasks) == {"recommendation", "playlists", "mood", "multihop", "multihop_smoke", "rag"}
    retrieval = {"bm25", "graph", "emotion", "audio", "hybrid", "hybrid-no-bm25", "hybrid-no-graph",
                 "hybrid-no-emotion", "hybrid-no-audio", "random", "mostpop"}
    want = {
        "recommendation": ({"random", "mostpop", "itemknn", "userknn", "ease", "bpr", "als", "graph", "lightgcn"},
                           {"graphsage-kg": "full run only"}),
        "playlists": ({"random", "mostpop", "itemknn", "userknn", "ease", "bpr", "als", "graph"},
                      {"hybrid": "takes text requests", "gnn": "not implemented"}),
        "mood": (retrieval, {"dense": "no dense vectors", "gnn": "held-out mood labels"}),
        # task 4 (held-out listeners) needs seed artists with >= 20 visible and 20 hidden listeners and tags
        # on >= 50 artists: more than this fixture has, so it says so (tests/evaluation/test_heldout_multihop.py
        # runs it end to end on its own data); its template smoke check runs here
        "multihop": (set(), {"*": "no request satisfies the protocol's thresholds"}),
        "multihop_smoke": (retrieval | {"graph-structured", "graph-and"},
                           {"dense": "no dense vectors", "gnn": "no GNN embeddings"}),
        "rag": ({"rag-template", "rag-auto(template)"}, {}),
    }
    for name, (systems, missing) in want.items():
        task = tasks[name]
        assert set(task["systems"]) == systems, (name, task["missing_systems"])
        assert set(task["missing_systems"]) == set(missing), name
        for system, why in missing.items():
            assert why in task["missing_systems"][system], (name, system)
    # the generated multi-hop questions are answerable: the graph finds answers and names their paths
    graph = tasks["multihop_smoke"]["systems"]["graph"]["metrics"]
    assert graph["hit@10"]["mean"] > 0 and graph["path_recall@10"]["mean"] > 0
    assert tasks["multihop_smoke"]["protocol"]["questions"] == {"tag_fans": 1, "mood_similar": 1}
    assert tasks["playlists"]["protocol"]["test_playlists"] == 2
    p = tasks["mood"]["systems"]["hybrid"]["metrics"]["precision@10"]
    assert 0.0 <= p["ci_lo"] <= p["mean"] <= p["ci_hi"] <= 1.0
    assert (out / "report.md").read_text().count("## ") >= 6


def test_rag_task_fails_on_an_unexpected_error(grown_home, tmp_path, monkeypatch):
    """Task 5 lists only a backend whose model cannot load as not run; any other exception fails it."""
    import importlib

    from musicgraph.evaluation.tasks import rag
    from musicgraph.rag import generators
    from musicgraph.rag.base import GeneratorError

    ask_module = importlib.import_module("musicgraph.rag.ask")  # the package re-exports the function as `ask`

    def broken(*args, **kwargs):
        raise KeyError("a bug in ask")

    monkeypatch.setattr(ask_module, "ask", broken)
    with pytest.raises(KeyError, match="a bug in ask"):
        rag.run(_cfg(grown_home, out_dir=tmp_path / "a", cache_dir=tmp_path / "c"))
    monkeypatch.undo()

    real = generators.load_generator

    def no_model(backend="auto", *args, **kwargs):
        if backend == "auto":
            raise GeneratorError("no fine-tuned T5 at /nowhere")
        return real(backend, *args, **kwargs)

    monkeypatch.setattr(generators, "load_generator", no_model)
    res = rag.run(_cfg(grown_home, out_dir=tmp_path / "b", cache_dir=tmp_path / "c"))
    assert set(res.systems) == {"rag-template"}
    assert res.missing == {"rag-auto": "GeneratorError: no fine-tuned T5 at /nowhere"}
