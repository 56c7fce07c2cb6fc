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
