"""Ingest into Neo4j is idempotent and resumable: a writer process killed with a signal mid-run, then
rerun, leaves exactly what an uninterrupted run leaves (counts and a checksum of node keys, edge
triples and properties)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from test_store_parity import neo4j_session_store

from musicgraph.graph import EmbeddedStore, GraphStore
from musicgraph.graph.schema import LABELS, REL_TYPES

pytestmark = [pytest.mark.neo4j, pytest.mark.slow]

# A large deterministic workload written through the store interface in batches of 1,000 rows:
# ~21k nodes and ~60k relationships with list properties (so reruns exercise the merge rules).
WORKLOAD = r'''
import sys
from musicgraph.config import Settings
from musicgraph.graph import EmbeddedStore
from musicgraph.graph.neo4j_store import Neo4jStore

target = sys.argv[1]
if target == "neo4j":
    store = Neo4jStore.from_settings(Settings(), batch_size=1000)
else:
    store = EmbeddedStore(target, batch_size=1000)
A, S, U, T = 3000, 15000, 800, 400
store.upsert_nodes("Tag", ((f"tag {t}", {"name": f"Tag {t}"}) for t in range(T)))
store.upsert_nodes("Artist", ((f"artist {a}", {"name": f"Artist {a}", "aliases": [f"A{a}", f"a-{a % 7}"],
                                              "sources": ["gen"]}) for a in range(A)))
store.upsert_nodes("User", ((f"gen:{u}", {"source": "gen", "source_id": str(u)}) for u in range(U)))
store.upsert_nodes("Song", ((f"artist {s % A}|song {s}", {"title": f"Song {s}", "artist": f"Artist {s % A}",
                                                         "year": 1960 + s % 60, "energy": (s % 100) / 100,
                                                         "sources": ["gen", f"s{s % 3}"]}) for s in range(S)))
store.upsert_edges("PERFORMED_BY", "Song", "Artist",
                   ((f"artist {s % A}|song {s}", f"artist {s % A}", {"role": "main"}) for s in range(S)))
store.upsert_edges("TAGGED", "Artist", "Tag",
                   ((f"artist {a}", f"tag {(a * 7 + j) % T}", {"weight": j + 1}) for a in range(A) for j in range(5)))
store.upsert_edges("LISTENED_TO", "User", "Artist",
                   ((f"gen:{u}", f"artist {(u * 13 + j * 17) % A}", {"weight": 10 * j + u % 9})
                    for u in range(U) for j in range(25)))
store.upsert_edges("TAGGED", "Song", "Tag",
                   ((f"artist {s % A}|song {s}", f"tag {s % T}", {"weight": 1, "sources": ["gen"]}) for s in range(S)))
store.set_meta("workload", "done")
store.close()
print("done")
'''


def checksum(store: GraphStore) -> tuple[dict[str, int], dict[str, int], str]:
    h = hashlib.sha256()
    for label in LABELS:
        for node in store.iter_nodes(label):
            h.update(json.dumps([label, node.key, node.props], sort_keys=True).encode())
    for rel in REL_TYPES:
        for e in store.iter_edges(rel):
            h.update(json.dumps([rel, str(e.src), str(e.dst), e.props], sort_keys=True).encode())
    return store.count_nodes(), store.count_edges(), h.hexdigest()


def run_workload(target: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", WORKLOAD, target], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def neo4j_db(request: pytest.FixtureRequest):
    store = neo4j_session_store(request)
    yield store
    store.claim_for_tests()  # leave no large data behind
    store.close()


def test_kill_mid_ingest_then_rerun_equals_uninterrupted(neo4j_db, tmp_path) -> None:
    store = neo4j_db
    # uninterrupted reference runs: Neo4j and the embedded store
    store.claim_for_tests()
    done = run_workload("neo4j")
    assert done.returncode == 0, done.stderr
    reference = checksum(store)
    emb = tmp_path / "emb"
    assert run_workload(str(emb)).returncode == 0
    with EmbeddedStore(emb) as e:
        assert checksum(e) == reference

    # interrupted run: SIGKILL once some batches have committed, well before the end
    store.claim_for_tests()
    total = sum(reference[0].values()) + sum(reference[1].values())
    proc = subprocess.Popen([sys.executable, "-c", WORKLOAD, "neo4j"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    partial = 0
    while time.monotonic() < deadline and proc.poll() is None:
        counts = store.count_nodes()
        partial = sum(counts.values()) + sum(store.count_edges().values())
        if counts["Song"] >= 5000:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the workload finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    interrupted = checksum(store)
    assert 0 < sum(interrupted[0].values()) + sum(interrupted[1].values()) < total
    assert interrupted[2] != reference[2]
    assert store.get_meta("workload") is None and partial < total
    # whole batches only: every node that exists has all of its properties
    for node in store.get_nodes("Song", [f"artist {s % 3000}|song {s}" for s in range(0, 15000, 997)]).values():
        assert set(node.props) == {"title", "artist", "year", "energy", "sources"}

    # rerun to completion: identical to the uninterrupted run
    rerun = run_workload("neo4j")
    assert rerun.returncode == 0, rerun.stderr
    assert checksum(store) == reference
    assert store.get_meta("workload") == "done"
