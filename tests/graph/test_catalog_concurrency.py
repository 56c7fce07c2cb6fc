"""Two overlapping ``musicgraph catalog add`` processes (issue 15): with 1,500 songs each, both must exit 0
and both changes must land in the store and in every index (``check`` clean). Before the store's write
lock, the second process's index update overwrote the first one's (1,500 songs not indexed), and the two
sometimes crashed on a shared temporary file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

N_SONGS = 1500


@pytest.fixture(scope="module")
def home(tmp_path_factory, fixture_data_dir):
    from musicgraph.graph import EmbeddedStore
    from musicgraph.graph.ingest import ingest
    from musicgraph.retrieval.index import build_indexes

    h = tmp_path_factory.mktemp("home")
    store = EmbeddedStore(h / "stores" / "default")
    ingest(store, fixture_data_dir, progress=False)
    build_indexes(store, h / "indexes" / "default", dense=False, data_dir=fixture_data_dir, progress=False)
    store.close()
    return h


def change_file(path: Path, tag: str) -> Path:
    rows = [{"artist": f"Parallel {tag} Artist {i % 40}", "title": f"Parallel {tag} Song {i}",
             "genres": [f"genre {tag.lower()}"], "energy": (i % 100) / 100, "year": 1990 + i % 30,
             "lyrics": f"words of song {i} from side {tag}"} for i in range(N_SONGS)]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_two_overlapping_catalog_adds_both_land(home, tmp_path, fixture_data_dir) -> None:
    from musicgraph.graph import EmbeddedStore
    from musicgraph.graph.check import run_check
    from musicgraph.retrieval.catalog import SongTable
    from musicgraph.retrieval.incremental import RetrievalIndexes

    h = tmp_path / "home"
    shutil.copytree(home, h)
    env = {**os.environ, "MUSICGRAPH_HOME": str(h), "MUSICGRAPH_DATA_DIR": str(fixture_data_dir)}
    env.pop("MUSICGRAPH_NEO4J_URI", None)
    cmd = [sys.executable, "-c", "from musicgraph.cli import main; main()", "catalog", "add"]
    files = [change_file(tmp_path / "a.jsonl", "A"), change_file(tmp_path / "b.jsonl", "B")]
    procs = [subprocess.Popen([*cmd, str(f)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for f in files]
    outs = [p.communicate(timeout=900)[0] for p in procs]
    for p, out in zip(procs, outs, strict=True):
        assert p.returncode == 0, out[-3000:]
    store = EmbeddedStore(h / "stores" / "default")
    try:
        keys = set(store.node_keys("Song"))
        for tag in ("a", "b"):
            assert sum(k.startswith(f"parallel {tag} artist") for k in keys) == N_SONGS
        idx = RetrievalIndexes(h / "indexes" / "default", data_dir=fixture_data_dir)
        rep = run_check(store, [idx])
        assert rep.ok, [i.message for i in rep.issues]
        cat = SongTable.load(h / "indexes" / "default")
        assert {k for k, alive in zip(cat.keys, cat.alive, strict=True) if alive} == keys
    finally:
        store.close()
    leftovers = [p.name for p in (h / "indexes" / "default").iterdir() if p.name.endswith((".tmp", ".old"))]
    assert leftovers == []
