from __future__ import annotations

import contextlib
import importlib
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from musicgraph.cli import app

from .conftest import SONGS, FakeRetriever


@pytest.fixture()
def wired(monkeypatch, store, tmp_path):
    from musicgraph.config import reset_settings

    monkeypatch.setenv("MUSICGRAPH_HOME", str(tmp_path / "home"))
    reset_settings()
    cli_lm = importlib.import_module("musicgraph.cli.lm")
    cli_core = importlib.import_module("musicgraph.cli.core")
    ask_mod = importlib.import_module("musicgraph.rag.ask")
    monkeypatch.setattr(cli_lm, "_store", lambda: store)
    monkeypatch.setattr(importlib.import_module("musicgraph.cli.rag"), "_store", lambda: store)
    monkeypatch.setattr(cli_lm, "evaluation_requests", lambda: ["sad songs"])
    monkeypatch.setattr(cli_core, "open_cli_store", lambda store_=None: contextlib.nullcontext(store))
    monkeypatch.setattr(ask_mod, "default_retriever", lambda st=None: FakeRetriever())
    keys = [s[0] for s in SONGS]
    vectors = np.random.default_rng(0).normal(size=(len(keys), 8)).astype(np.float32)
    monkeypatch.setattr(cli_lm, "genrec_inputs", lambda st, holdout=True: {
        "keys": keys, "vectors": vectors, "hidden_moods": set(), "hidden_users": set()})
    yield tmp_path / "home"
    reset_settings()


def test_lm_train_answer_then_ask(wired, tiny_model_dir):
    res = CliRunner().invoke(app, ["lm", "train", "--task", "answer", "--base", str(tiny_model_dir), "--examples", "16",
                                   "--steps", "2", "--batch-size", "4", "--threads", "1"])  # fmt: skip
    assert res.exit_code == 0, res.output
    folder = wired / "models" / "lm-answer"
    assert (folder / "adapter" / "adapter_config.json").is_file()
    info = json.loads((folder / "training_info.json").read_text())
    assert info["steps"] == 2 and info["seconds"] > 0
    from musicgraph.rag.generators import clear_cache, installed_backends

    assert installed_backends()[0] == "lm"
    clear_cache()
    res = CliRunner().invoke(app, ["ask", "sad songs", "--backend", "lm", "-k", "3", "--json"])
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout[res.stdout.index("{"):])
    assert payload["backend"] in ("lm", "lm→template") and payload["cited_ids"]
    clear_cache()


def test_lm_train_genrec_then_recommend_generative(wired, tiny_model_dir):
    res = CliRunner().invoke(app, ["lm", "train", "--task", "genrec", "--base", str(tiny_model_dir), "--examples", "32",
                                   "--steps", "2", "--batch-size", "8", "--dpo-steps", "0", "--threads", "1"])  # fmt: skip
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(app, ["recommend", "--query", "sad songs", "--generative", "--k", "3", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert len(rows) == 3 and all(r["id"] in {s[0] for s in SONGS} for r in rows)
    assert all(r["evidence"]["semantic_id"][0].startswith("<a") for r in rows)
    res = CliRunner().invoke(app, ["recommend", "--artist", "x", "--generative"])
    assert res.exit_code == 2 and "--query" in res.output


def test_lm_train_rejects_unknown_task(wired):
    res = CliRunner().invoke(app, ["lm", "train", "--task", "poetry"])
    assert res.exit_code != 0 and "unknown task" in res.output
    res = CliRunner().invoke(app, ["recommend", "--query", "sad", "--generative"])
    assert res.exit_code == 2 and "lm train --task genrec" in res.output
