from __future__ import annotations

import json

from typer.testing import CliRunner

from musicgraph.cli import app


def test_gnn_train_embed_eval_commands(store, mg_home, tmp_path):
    runner = CliRunner()
    out = tmp_path / "run"
    res = runner.invoke(app, ["gnn", "train", "--store", str(store.path), "--model", "sage", "--dim", "8",
                              "--epochs", "2", "--eval-every", "1", "--batch-size", "64", "--out", str(out),
                              "--no-progress", "--threads", "1"])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "result.json").read_text())["model"] == "sage"
    res = runner.invoke(app, ["gnn", "embed", "--run", str(out), "--store", str(store.path)])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout[res.stdout.index("{"):])
    assert report["nodes"]["Artist"] == 40 and report["dim"] == 8
    assert (mg_home / "indexes" / store.path.name / "gnn.faiss").exists()
    node = store.get_node("User", "hetrec:5")
    assert len(node.props["embedding"]) == 8
    res = runner.invoke(app, ["gnn", "eval", "--run", str(out)])
    assert res.exit_code == 0 and "sage" in res.output


def test_embed_requires_a_store(mg_home, tmp_path):
    res = CliRunner().invoke(app, ["gnn", "embed", "--run", str(tmp_path), "--store", str(tmp_path / "none")])
    assert res.exit_code != 0


def test_embed_gives_imported_profiles_a_fold_in_vector_again(store, mg_home, tmp_path):
    """Personal profiles never train: after `gnn embed` replaced the index, they get their fold-in vector back."""
    import numpy as np

    from musicgraph.gnn.embed import GnnIndex
    from musicgraph.graph.schema import NodeRef

    runner = CliRunner()
    out = tmp_path / "run"
    res = runner.invoke(app, ["gnn", "train", "--store", str(store.path), "--model", "lightgcn", "--dim", "8",
                              "--epochs", "2", "--eval-every", "1", "--batch-size", "64", "--out", str(out),
                              "--no-progress", "--threads", "1"])
    assert res.exit_code == 0, res.output
    store.upsert_nodes("User", [("me:x", {"source": "me", "source_id": "x", "import_state": "complete"})])
    store.upsert_edges("LISTENED_TO", "User", "Artist", [("me:x", "artist 01", {"weight": 4.0, "plays": 4}),
                                                          ("me:x", "artist 02", {"weight": 0.0, "plays": 0})])
    res = runner.invoke(app, ["gnn", "embed", "--run", str(out), "--store", str(store.path)])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout[res.stdout.index("{"):])
    assert report["personal_profiles"]["upserted"] == 1
    idx = GnnIndex.load(mg_home / "indexes" / store.path.name)
    want = idx.vector(NodeRef("Artist", "artist 01"))  # weight-0 artist 02 does not count
    assert np.allclose(idx.vector(NodeRef("User", "me:x")), want, atol=1e-6)
    assert np.allclose(store.get_vectors("User", ["me:x"])["me:x"], want / np.linalg.norm(want), atol=1e-6)
