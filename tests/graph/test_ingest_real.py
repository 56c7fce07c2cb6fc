"""Integration: the whole shared data in the embedded store (exact counts, kill-and-rerun, sensible results)."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from musicgraph.graph import EmbeddedStore
from musicgraph.graph.ingest import STAGE_NAMES, ingest
from musicgraph.graph.store import content_checksum

pytestmark = pytest.mark.integration


def test_exact_counts(real_store):
    nodes = real_store.count_nodes()
    edges = real_store.count_edges()
    assert nodes["User"] == 1_892
    # all 17,632 HetRec artists are in the graph; 181 pairs differ only in spelling and merged
    hetrec_ids = [i for a in real_store.iter_nodes("Artist") for i in a.props.get("hetrec_ids", [])]
    assert len(hetrec_ids) == len(set(hetrec_ids)) == 17_632
    assert sum(1 for a in real_store.iter_nodes("Artist") if a.props.get("hetrec_ids")) == 17_451
    # 92,834 listening rows; rows of merged artists are summed into one edge, so weight is conserved
    assert edges["LISTENED_TO"] == 92_740
    total = sum(e.props["weight"] for e in real_store.iter_edges("LISTENED_TO"))
    assert total == 69_183_975  # the sum of user_artists.dat's weight column
    assert edges["FRIEND_OF"] == 25_434
    assert nodes["Playlist"] == 340
    assert nodes["Mood"] == 6
    assert nodes["Song"] == 31_440
    assert edges["TAGGED"] == 107_489


def recommend(store, **kw):
    from musicgraph import api

    return api.recommend(store=store, **kw)


def test_radiohead_recommendations_make_sense(real_store):
    artists = recommend(real_store, artists=["Radiohead"], k=20, kind="artist")
    names = {r.name for r in artists}
    assert len(names & {"Muse", "Coldplay", "Thom Yorke", "Sigur Rós", "Portishead", "Pink Floyd", "The Beatles",
                        "Arctic Monkeys", "Placebo", "Björk", "Blur", "Oasis"}) >= 4, names
    assert "Radiohead" not in names
    for r in artists:
        assert r.paths, r.name
        p = r.paths[0]
        assert p.names[0] == "Radiohead" and p.names[-1] == r.name and 1 <= p.hops <= 3
        # each step of a path is a real relationship of the graph
        for src, rel, dst in p.edges():
            assert any(n.key == dst.key for _, n in real_store.neighbors(src.label, src.key, rel, "out")), (src, rel, dst)
    songs = recommend(real_store, artists=["Radiohead"], k=10)
    assert all(s.kind == "song" and s.artist != "Radiohead" for s in songs)
    payload = json.loads(json.dumps([s.to_dict() for s in songs]))
    for item in payload:
        assert {"rank", "kind", "id", "artist", "title", "name", "score", "scores", "paths"} <= item.keys()


def test_user_recommendations_exclude_known(real_store):
    listened = {n.key for _, n in real_store.neighbors("User", "hetrec:2", "LISTENED_TO", "out")}
    recs = recommend(real_store, user="2", k=20, kind="artist")
    assert len(recs) == 20
    assert not listened & {r.id for r in recs}
    with_known = recommend(real_store, user="2", k=20, kind="artist", exclude_known=False)
    assert listened & {r.id for r in with_known}


def test_kill_with_signal_and_rerun(tmp_path, real_data_dir, real_store):
    path = tmp_path / "killed"
    code = (
        "import sys; from pathlib import Path; from musicgraph.graph import EmbeddedStore; "
        "from musicgraph.graph.ingest import ingest; "
        f"ingest(EmbeddedStore(Path({str(path)!r})), Path({str(real_data_dir)!r}), progress=False)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.DEVNULL)
    db = path / "graph.sqlite"
    deadline = time.time() + 120
    done = 0
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=1) as con:
                    done = con.execute("SELECT COUNT(*) FROM meta WHERE key LIKE 'ingest:stage:%'").fetchone()[0]
            except sqlite3.OperationalError:
                continue
            if done >= 2:
                break
    assert proc.poll() is None, "ingest finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert 2 <= done < len(STAGE_NAMES)
    store = EmbeddedStore(path)
    report = ingest(store, real_data_dir, progress=False)
    assert any(s.resumed for s in report.stages) and not all(s.resumed for s in report.stages)
    assert store.count_nodes() == real_store.count_nodes()
    assert store.count_edges() == real_store.count_edges()
    assert content_checksum(store) == content_checksum(real_store)
