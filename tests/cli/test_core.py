from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from musicgraph.cli import app
from musicgraph.config import reset_settings


@pytest.fixture
def env(tmp_path, monkeypatch, fixture_data_dir):
    monkeypatch.setenv("MUSICGRAPH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MUSICGRAPH_DATA_DIR", str(fixture_data_dir))
    monkeypatch.delenv("MUSICGRAPH_NEO4J_URI", raising=False)
    reset_settings()
    yield
    reset_settings()


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_empty_store_and_missing_data_are_clear_errors(env, monkeypatch, tmp_path):
    res = run("recommend", "--artist", "X")
    assert res.exit_code == 2 and "store is empty" in res.output
    monkeypatch.setenv("MUSICGRAPH_DATA_DIR", str(tmp_path / "nowhere"))
    reset_settings()
    res = run("ingest")
    assert res.exit_code == 2 and "MUSICGRAPH_DATA_DIR" in res.output


def test_ingest_stats_recommend_json(env):
    res = run("ingest")
    assert res.exit_code == 0, res.output
    res = run("stats", "--json")
    stats = json.loads(res.stdout)
    assert stats["nodes"]["User"] > 0 and stats["relationships"]["LISTENED_TO"] > 0
    res = run("recommend", "--user", "2", "--kind", "artist", "--k", "3", "--json")
    assert res.exit_code == 0, res.output
    items = json.loads(res.stdout)
    assert 1 <= len(items) <= 3
    assert [i["rank"] for i in items] == list(range(1, len(items) + 1))
    assert all(i["kind"] == "artist" and i["paths"] for i in items)
    res = run("recommend", "--artist", "Nosuch Artist")
    assert res.exit_code == 2 and "unknown artist" in res.output
    res = run("recommend")
    assert res.exit_code == 2 and "give seeds" in res.output


FIXTURE_SEEDS = (
    ("Artists for fans of The Invented Band", {"artists": ["The Invented Band"], "kind": "artist"}),
    ("Songs for user 2", {"user": "2", "kind": "song", "max_per_artist": 1}),
)
FIXTURE_QUERIES = ("sad songs like The Invented Band", "party songs")


@pytest.fixture
def fixture_demo(env, monkeypatch):
    """The demo with seeds and queries that exist in the fixture data (the real ones name famous artists)."""
    import musicgraph.cli.core as core

    monkeypatch.setattr(core, "DEMO_SEEDS", FIXTURE_SEEDS)
    monkeypatch.setattr(core, "DEMO_QUERIES", FIXTURE_QUERIES)


def test_demo_runs_every_step_on_fixture_data(fixture_demo):
    res = run("demo", "--k", "3", "--backend", "template")
    assert res.exit_code == 0, res.output
    assert "graph built" in res.output
    for title, _ in FIXTURE_SEEDS:
        assert title in res.output
    for q in FIXTURE_QUERIES:  # hybrid retrieval ran and printed a table for each query
        assert repr(q) in res.output
    assert "ask: melancholic songs" in res.output  # the grounded answer panel
    assert "demo step failed" not in res.output


def test_demo_fails_loudly_when_retrieval_fails(fixture_demo, monkeypatch):
    import musicgraph.retrieval.retriever as retriever

    def broken(*args, **kwargs):
        raise RuntimeError("the BM25 index is unreadable")

    monkeypatch.setattr(retriever, "retrieve", broken)
    res = run("demo", "--k", "3", "--backend", "template")
    assert res.exit_code == 1, res.output
    assert f"demo step failed: retrieval for {FIXTURE_QUERIES[0]!r}: RuntimeError: the BM25 index is unreadable" in res.output
    assert res.output.count("demo step failed: retrieval for") == len(FIXTURE_QUERIES)  # every query still ran
    assert "ask: melancholic songs" in res.output  # and the steps after it


def test_demo_fails_loudly_when_ask_fails(fixture_demo, monkeypatch):
    import importlib

    rag_ask = importlib.import_module("musicgraph.rag.ask")

    def broken(*args, **kwargs):
        raise RuntimeError("generator crashed")

    monkeypatch.setattr(rag_ask, "ask", broken)
    res = run("demo", "--k", "3", "--backend", "template")
    assert res.exit_code == 1, res.output
    assert "demo step failed: ask 'melancholic songs for a rainy night, like Radiohead': RuntimeError: generator " \
           "crashed" in res.output


def test_demo_with_the_real_seeds_on_fixture_data_is_a_clear_error(env):
    res = run("demo", "--k", "3", "--backend", "template")
    # the fixture data lacks the demo's famous seeds: one clear line, exit code 2
    assert res.exit_code == 2, res.output
    assert "error: unknown artist 'Radiohead'" in res.output


def test_unknown_dense_precision_is_refused_naming_every_choice(env, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    res = run("index", "build", "--dense-precision", "fp16")
    assert res.exit_code == 2
    assert "--dense-precision must be fp32, int8-block, int8 or pipeline, got 'fp16'" in res.output
