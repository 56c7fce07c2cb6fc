from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner


@pytest.fixture()
def env(tmp_path, monkeypatch, vad, populate_store):
    from musicgraph.config import reset_settings
    from musicgraph.graph.embedded import EmbeddedStore

    home, data = tmp_path / "home", tmp_path / "data"
    (data / "lexicons").mkdir(parents=True)
    lines = ["Word\tValence\tArousal\tDominance"] + [f"{w}\t{v}\t{a}\t{d}" for w, (v, a, d) in vad.items()]
    (data / "lexicons" / "NRC-VAD-Lexicon.txt").write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("MUSICGRAPH_HOME", str(home))
    monkeypatch.setenv("MUSICGRAPH_DATA_DIR", str(data))
    reset_settings()
    s = EmbeddedStore(home / "stores" / "default")
    populate_store(s)
    s.close()
    yield home
    reset_settings()


def test_index_build_and_info_then_library_retrieve(env) -> None:
    from musicgraph.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["index", "build", "--no-dense"])
    assert res.exit_code == 0, res.output
    assert (env / "indexes" / "default" / "manifest.json").is_file()
    info = runner.invoke(app, ["index", "info"])
    assert info.exit_code == 0 and json.loads(info.output)["songs"] == 13

    import musicgraph

    results = musicgraph.retrieve("sad songs for a rainy night", k=3, use_dense=False)
    assert results and results[0].to_dict()["scores"]
    assert {r.id for r in results} & {"adele|someone like you", "coldplay|fix you"}


def test_index_info_without_index_fails_clearly(env) -> None:
    from musicgraph.cli import app

    res = CliRunner().invoke(app, ["index", "info"])
    assert res.exit_code == 1 and "musicgraph index build" in res.output
