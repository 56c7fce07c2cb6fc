"""Split files, the playlist task's matrices, the HetRec task end to end on a tiny fixture, and the report."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from typer.testing import CliRunner

from musicgraph.evaluation.split_files import SplitFileError, read_split_tsv, write_split_tsv
from musicgraph.evaluation.tasks import EvalConfig
from musicgraph.evaluation.tasks.playlists import build_matrices, title_knn_scores
from musicgraph.gnn.splits import Split


def _tiny_split() -> Split:
    return Split(
        user_keys=np.array(["u1", "u2"], dtype=object),
        item_keys=np.array(["a", "b", "c"], dtype=object),
        train_user=np.array([0, 1]),
        train_item=np.array([0, 1]),
        valid_user=np.array([0]),
        valid_item=np.array([1]),
        test_user=np.array([1]),
        test_item=np.array([2]),
    )


def test_split_file_roundtrip(tmp_path):
    path = write_split_tsv(_tiny_split(), tmp_path / "s.tsv")
    back = read_split_tsv(path)
    np.testing.assert_array_equal(back.matrix("test").toarray(), _tiny_split().matrix("test").toarray())
    np.testing.assert_array_equal(back.known_before("test").toarray(), [[1, 1, 0], [0, 1, 0]])


def test_split_file_errors_name_the_line(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("user\titem\tpart\nu1\ta\ttrain\nu1\tb\tholdout\n")
    with pytest.raises(SplitFileError, match=r"bad.tsv:3: part"):
        read_split_tsv(bad)
    dup = tmp_path / "dup.tsv"
    dup.write_text("user\titem\tpart\nu1\ta\ttrain\nu1\ta\ttest\n")
    with pytest.raises(SplitFileError, match="line 2"):
        read_split_tsv(dup)


def test_playlist_matrices_hide_last_tracks():
    pl = {
        "s:a": {"name": "Sad Songs", "source": "s", "songs": [f"x|{i}" for i in range(20)]},
        "s:b": {"name": "Happy", "source": "s", "songs": ["x|0", "x|1"]},
    }
    pkeys, skeys, train, hidden, rows = build_matrices(pl, n_hidden=5, min_tracks=10)
    assert pkeys == ["s:a", "s:b"] and list(rows) == [0]
    hidden_songs = {skeys[i] for i in hidden[0].indices}
    assert hidden_songs == {f"x|{i}" for i in range(15, 20)}
    assert train[0].nnz == 15 and train[1].nnz == 2 and hidden[1].nnz == 0


def test_title_knn_prefers_playlists_with_shared_words():
    import scipy.sparse as sp

    train = sp.csr_matrix(np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], dtype=float))
    scores = title_knn_scores(["sad night", "sad songs", "party"], train, np.array([0]))
    assert scores[0].argmax() == 0  # from "sad songs"


@pytest.fixture
def hetrec_dir(tmp_path):
    """An invented HetRec-format data dir: two taste groups of 30 users over 40 artists."""
    rng = np.random.default_rng(0)
    d = tmp_path / "data" / "hetrec_lastfm2k"
    d.mkdir(parents=True)
    lines = ["userID\tartistID\tweight"]
    for u in range(1, 61):
        group = u % 2
        items = rng.choice(np.arange(group * 20 + 1, group * 20 + 21), size=15, replace=False)
        lines += [f"{u}\t{a}\t{int(rng.integers(1, 500))}" for a in sorted(items)]
    (d / "user_artists.dat").write_text("\n".join(lines) + "\n")
    (d / "artists.dat").write_text(
        "id\tname\turl\tpictureURL\n" + "".join(f"{a}\tBand {a}\t\t\n" for a in range(1, 41))
    )
    # friends within a taste group, and one tag per group (the knowledge-graph side of the GNN)
    (d / "user_friends.dat").write_text("userID\tfriendID\n" + "".join(f"{u}\t{u + 2}\n" for u in range(1, 59)))
    (d / "tags.dat").write_text("tagID\ttagValue\n1\tjazz\n2\tmetal\n")
    (d / "user_taggedartists.csv").write_text("userID,artistID,tagID,day,month,year\n" + "".join(
        f"{u},{a},{1 + (a > 20)},1,1,2010\n" for u in (1, 2) for a in range(1, 41)))
    return tmp_path / "data"


def test_recommendation_task_end_to_end(hetrec_dir, tmp_path):
    from musicgraph.evaluation.runner import run_eval

    cfg = EvalConfig(data_dir=hetrec_dir, store_dir=None, quick=True, out_dir=tmp_path / "rep", n_boot=200)
    results = run_eval(["recommendation"], cfg)
    task = results["tasks"]["recommendation"]
    assert task["protocol"]["split_seed"] == 2020 and task["protocol"]["eval_users"] == 60
    sys = task["systems"]
    # block structure: collaborative baselines beat random by far
    assert sys["itemknn"]["metrics"]["recall@10"]["mean"] > 2 * sys["random"]["metrics"]["recall@10"]["mean"]
    assert sys["ease"]["metrics"]["ndcg@10"]["ci_lo"] <= sys["ease"]["metrics"]["ndcg@10"]["mean"]
    assert "graph" in task["missing_systems"]
    # the GNN preset trains on the same split and ranks the same users: it learns the two blocks
    assert "lightgcn" in sys, task["missing_systems"]
    assert sys["lightgcn"]["metrics"]["recall@10"]["mean"] > 2 * sys["random"]["metrics"]["recall@10"]["mean"]
    # the best preset of the README's GNN table (cosine softmax, dim 128), not the BPR one
    assert sys["lightgcn"]["params"]["preset"] == "LightGCN + cosine softmax, dim 128"
    assert "--predictor cos" in sys["lightgcn"]["params"]["args"]
    run = sys["lightgcn"]["params"]["runs"]["0"]  # how the run ended is on record (a time-budget cut shows)
    assert run["stop_reason"] in ("early stopping", "time budget", "max epochs") and run["epochs_run"] >= 1
    assert "full run only" in task["missing_systems"]["graphsage-kg"]
    # popularity bias: MostPop recommends the same hubs (those a user does not know yet), random spreads out
    mp, rnd = sys["mostpop"]["extra"], sys["random"]["extra"]
    assert mp["hub_share@10"] > 0.5 > rnd["hub_share@10"] and mp["gini@10"] > rnd["gini@10"] and mp["tail_share@10"] < rnd["tail_share@10"]
    assert mp["avg_popularity@10"] > rnd["avg_popularity@10"]
    on_disk = json.loads((tmp_path / "rep" / "results.json").read_text())
    assert on_disk["tasks"]["recommendation"]["systems"]["mostpop"]["seeds"] == [0]
    report = (tmp_path / "rep" / "report.md").read_text()
    assert "| system |" in report and "LightGCN" in report
    assert (tmp_path / "rep" / "recommendation_bars.png").stat().st_size > 1000
    assert (tmp_path / "rep" / "splits" / "hetrec" / "hetrec.test.inter").exists()
    back = read_split_tsv(tmp_path / "rep" / "splits" / "hetrec_split.tsv")
    assert back.matrix("test").nnz == 60  # one test artist per user (15 interactions each)


def test_cosine_run_embeddings_rank_like_the_trainer(hetrec_dir, tmp_path):
    """Task 1 ranks a cosine-softmax run's saved embeddings exactly as the trainer scored its test part."""
    from musicgraph.evaluation.tasks.recommendation import GNN_SYSTEMS, _metrics, embedding_ranking
    from musicgraph.gnn.presets import PRESETS
    from musicgraph.gnn.splits import hetrec_split
    from musicgraph.gnn.train import train

    out = tmp_path / "run"
    summary = train(replace(PRESETS[GNN_SYSTEMS["lightgcn"]], source="hetrec", data_dir=str(hetrec_dir), seed=0,
                            split_seed=2020, epochs=10, out=str(out), progress=False, threads=1, device="cpu"))
    split = hetrec_split(hetrec_dir, seed=2020)
    test = split.matrix("test")
    users = np.flatnonzero(np.diff(test.indptr) > 0)
    ranked = embedding_ranking(out / "embeddings.pt", split, users, split.known_before("test"), 20)
    got = _metrics(ranked, test[users])
    for metric in ("recall@10", "ndcg@10", "recall@20"):
        assert float(got[metric].mean()) == pytest.approx(summary["test"][metric], abs=1e-5), metric


def test_cli_rejects_unknown_task():
    from musicgraph.cli import app

    res = CliRunner().invoke(app, ["eval", "--task", "nope"])
    assert res.exit_code != 0
    assert "unknown task" in res.output


def test_graph_playlist_ranking_never_walks_a_hidden_membership(tmp_path):
    import scipy.sparse as sp

    from musicgraph.evaluation.tasks.playlists import graph_playlist_ranking
    from musicgraph.graph.embedded import EmbeddedStore

    store = EmbeddedStore(tmp_path / "s")
    songs = {"a|1": "a", "a|2": "a", "a|3": "a", "b|1": "b", "c|1": "c", "d|1": "d"}
    store.upsert_nodes("Artist", [(x, {"name": x}) for x in "abcd"])
    store.upsert_nodes("Song", [(k, {"title": k}) for k in songs])
    store.upsert_edges("PERFORMED_BY", "Song", "Artist", [(k, a, {}) for k, a in songs.items()])
    store.upsert_nodes("Playlist", [("p:1", {"name": "one"}), ("p:2", {"name": "two"})])
    # p:1 = a|1, a|2 (seed) + a|3, d|1 (hidden); p:2 = b|1, c|1 (no hidden part)
    member = [("a|1", "p:1"), ("a|2", "p:1"), ("a|3", "p:1"), ("d|1", "p:1"), ("b|1", "p:2"), ("c|1", "p:2")]
    store.upsert_edges("IN_PLAYLIST", "Song", "Playlist", [(s, p, {"position": i}) for i, (s, p) in enumerate(member)])
    pkeys, skeys = ["p:1", "p:2"], sorted(songs)
    col = {k: i for i, k in enumerate(skeys)}
    train = sp.csr_matrix(([1.0] * 4, ([0, 0, 1, 1], [col["a|1"], col["a|2"], col["b|1"], col["c|1"]])), shape=(2, 6))
    hidden = sp.csr_matrix(([1.0, 1.0], ([0, 0], [col["a|3"], col["d|1"]])), shape=(2, 6))
    ranked = graph_playlist_ranking(store, pkeys, skeys, hidden, train, np.array([0]))
    store.close()
    got = [skeys[i] for i in ranked[0] if i >= 0]
    assert got[0] == "a|3"  # the seed songs' artist leads to its third song
    assert "a|1" not in got and "a|2" not in got  # seed songs are never recommended
    assert "d|1" not in got  # reachable only through its hidden membership: removed, so never reached


def test_eval_with_mlflow_logs_every_system_metric(hetrec_dir, tmp_path, monkeypatch) -> None:
    """`musicgraph eval --mlflow` on the tiny HetRec data: one run with each system's metric means and the report."""
    from mlflow.tracking import MlflowClient

    from musicgraph.cli import app
    from musicgraph.config import reset_settings

    home = tmp_path / "home"
    monkeypatch.setenv("MUSICGRAPH_HOME", str(home))
    monkeypatch.setenv("MUSICGRAPH_DATA_DIR", str(hetrec_dir))
    monkeypatch.delenv("MUSICGRAPH_MLFLOW_URI", raising=False)
    reset_settings()
    out = tmp_path / "rep"
    res = CliRunner().invoke(app, ["eval", "--task", "recommendation", "--quick", "--out", str(out), "--mlflow"])
    assert res.exit_code == 0, res.output
    results = json.loads((out / "results.json").read_text())
    uri = (home / "mlruns").resolve().as_uri()
    c = MlflowClient(tracking_uri=uri)
    exp = c.get_experiment_by_name("musicgraph-eval")
    (run,) = c.search_runs([exp.experiment_id])
    systems = results["tasks"]["recommendation"]["systems"]
    assert run.data.metrics["recommendation.itemknn.recall_at_10"] == pytest.approx(
        systems["itemknn"]["metrics"]["recall@10"]["mean"])
    assert sum(1 for k in run.data.metrics if k.startswith("recommendation.")) == sum(
        len(s["metrics"]) for s in systems.values())
    assert {a.path for a in c.list_artifacts(run.info.run_id)} == {"report.md", "results.json"}
    assert run.data.params["tasks"] == "recommendation" and run.data.params["quick"] == "True"
    reset_settings()


def test_add_system_records_the_system_and_each_slice_on_its_queries():
    from musicgraph.evaluation.tasks import SystemResult, TaskResult

    res = TaskResult("t", {})
    sysres = SystemResult("sys", {"hit": np.array([1.0, 0.0, 1.0, 1.0])}, {"hit": [0.75]}, [0, 1], {"k": 3})
    res.add_system("shown", sysres, {"a": np.array([0, 1]), "b": np.array([2, 3])}, boot_seed=1, n_boot=50)
    assert res.systems["shown"] is sysres and "hit" in sysres.ci
    a, b = res.slices["a"]["shown"], res.slices["b"]["shown"]
    assert (a.system, a.mean("hit"), a.per_seed, a.seeds, a.params) == ("shown", 0.5, {}, [0, 1], {"k": 3})
    assert b.mean("hit") == 1.0 and "hit" in b.ci
