from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from musicgraph.cli import app


@pytest.fixture()
def wired(monkeypatch, store, retriever):
    import importlib

    cli_rag = importlib.import_module("musicgraph.cli.rag")
    ask_mod = importlib.import_module("musicgraph.rag.ask")  # the attribute `rag.ask` is the function

    monkeypatch.setattr(cli_rag, "_store", lambda: store)
    monkeypatch.setattr(ask_mod, "default_retriever", lambda st=None: retriever)
    return retriever


def test_ask_prints_cited_songs(wired):
    res = CliRunner().invoke(app, ["ask", "sad songs for a rainy night", "--backend", "template", "-k", "2"])
    assert res.exit_code == 0, res.output
    assert "Cited:" in res.output and "Rain on Glass" in res.output


def test_ask_json_and_explain_dir(wired, tmp_path):
    res = CliRunner().invoke(
        app, ["ask", "sad songs", "--backend", "template", "-k", "2", "--json", "--explain-dir", str(tmp_path / "x")]
    )
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout[res.stdout.index("{") :].rsplit("}", 1)[0] + "}")
    assert len(payload["cited_ids"]) == 2 and payload["backend"] == "template"
    assert len(list((tmp_path / "x").glob("*.png"))) == 4


def test_ask_bad_input(wired, tmp_path):
    res = CliRunner().invoke(app, ["ask", "  "])
    assert res.exit_code != 0 and "empty" in res.output
    res = CliRunner().invoke(app, ["ask", "sad", "--backend", "seq2seq", "--model", str(tmp_path / "nope" / "m")])
    assert res.exit_code == 2 and "does not exist" in res.output


def test_chat_keeps_state(wired):
    script = "sad songs\nno The Velvet Foxes\nwhy the first one?\nquit\n"
    res = CliRunner().invoke(app, ["chat", "--backend", "template", "-k", "2"], input=script)
    assert res.exit_code == 0, res.output
    assert "understood: exclude The Velvet Foxes" in res.output
    assert "Why #1" in res.output


def test_rag_finetune_command(wired, tmp_path):
    out = tmp_path / "t5"
    res = CliRunner().invoke(app, ["rag", "finetune", "--out", str(out), "--pairs", "16", "--epochs", "1",
                                   "--d-model", "16", "--layers", "1", "--threads", "1"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert (out / "config.json").is_file() and (out / "training_info.json").is_file()
    assert '"steps": ' in res.output
