"""The real ingest into Neo4j is idempotent and resumable (issue 4): ``musicgraph ingest --store neo4j`` on
the shared data, killed with SIGKILL mid-stage once at least two stages have checkpointed, then rerun,
ends with exactly the node keys and edge triples (and counts per label and type) of an uninterrupted
ingest of the same data into the embedded store.

Runtime on the 2-core machine with other jobs running (load ≈ 9): 242 s in all, of which the embedded
reference ingest 29 s (the ``real_store`` session fixture, shared with other integration tests), the
killed run, the rerun and the checks 174 s, and clearing the database afterwards 39 s.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_store_parity import neo4j_session_store

from musicgraph.graph.ingest import STAGE_NAMES, ingest
from musicgraph.graph.schema import ENDPOINTS, NodeRef, check_label, check_rel
from musicgraph.graph.store import Edge, GraphStore, Node, content_checksum

pytestmark = [pytest.mark.integration, pytest.mark.neo4j, pytest.mark.slow]

INGEST_CLI = [sys.executable, "-c", "from musicgraph.cli import main; main()", "ingest", "--store", "neo4j"]
#: Seconds the killed run may take to checkpoint two stages (≈ 80 s on a 2-core machine).
CHECKPOINT_WAIT_S = 240
#: After the second checkpoint, seconds to wait for a batch of the next stage to commit before the kill.
MID_STAGE_WAIT_S = 60


def checkpoints(store: GraphStore) -> list[str]:
    """Stages whose ``ingest:stage:<name>`` checkpoint is in the store, in stage order."""
    return [name for name in STAGE_NAMES if store.get_meta(f"ingest:stage:{name}") is not None]


class KeysView:
    """Node keys and edge triples of a Neo4j store for :func:`content_checksum` with ``with_props=False``:
    one lean read query per label and per (type, source label, target label) of the schema, each returning
    a single record that holds a list.

    ``Neo4jStore.iter_nodes``/``iter_edges`` also pull every property, one record per row: about 60 s for
    the 480k nodes and relationships of the shared data, against a few seconds here. Relationships between
    labels the schema does not pair are not listed, so the test also compares the counts per type.
    """

    def __init__(self, store: GraphStore):
        self.store = store

    def iter_nodes(self, label: str) -> Iterator[Node]:
        (row,) = self.store.query(f"MATCH (n:`{check_label(label)}`) RETURN collect(n.uid) AS keys")
        for key in row["keys"]:
            yield Node(label, key, {})

    def iter_edges(self, rel_type: str) -> Iterator[Edge]:
        rel_type = check_rel(rel_type)
        for src, dst in sorted(ENDPOINTS[rel_type]):
            (row,) = self.store.query(
                f"MATCH (a:`{src}`)-[:`{rel_type}`]->(b:`{dst}`) RETURN collect([a.uid, b.uid]) AS pairs"
            )
            for ka, kb in row["pairs"]:
                yield Edge(rel_type, NodeRef(src, ka), NodeRef(dst, kb), {})


@pytest.fixture(scope="module")
def neo4j_db(request: pytest.FixtureRequest):
    store = neo4j_session_store(request)
    yield store
    store.claim_for_tests()  # leave no large data behind for the next owner
    store.close()


def kill_mid_ingest(store: GraphStore, env: dict[str, str], log_path: Path) -> tuple[list[str], bool]:
    """Run the CLI ingest in a child process; SIGKILL it once two stages have checkpointed and a batch of
    the next one has committed. Returns (checkpoints at the kill, whether the kill was mid-stage)."""
    with log_path.open("wb") as log:  # a file, not a pipe: a full pipe would stall the child
        proc = subprocess.Popen(INGEST_CLI, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + CHECKPOINT_WAIT_S
            done: list[str] = []
            while proc.poll() is None and time.monotonic() < deadline and len(done) < 2:
                time.sleep(0.1)
                done = checkpoints(store)
            # every write transaction bumps the store version: wait for one of the unfinished stage
            version, mid_stage = int(store.version()), False
            deadline = time.monotonic() + MID_STAGE_WAIT_S
            while len(done) >= 2 and proc.poll() is None and time.monotonic() < deadline:
                if int(store.version()) > version:
                    mid_stage = checkpoints(store) == done
                    break
                time.sleep(0.05)
            running = proc.poll() is None
            if running:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=60)
    output = log_path.read_text(errors="replace")[-3000:]
    assert running, f"the ingest ended (exit {proc.returncode}) before it could be killed:\n{output}"
    assert len(done) >= 2, f"no two stage checkpoints within {CHECKPOINT_WAIT_S} s (had {done}):\n{output}"
    assert proc.returncode == -signal.SIGKILL
    return done, mid_stage


def test_killed_real_ingest_rerun_equals_uninterrupted(
    neo4j_db, real_store, real_data_dir: Path, tmp_path: Path
) -> None:
    store = neo4j_db
    ref_nodes, ref_edges = real_store.count_nodes(), real_store.count_edges()
    ref_total = sum(ref_nodes.values()) + sum(ref_edges.values())
    assert ref_total > 100_000, "the uninterrupted reference ingest looks empty"

    # ---- `musicgraph ingest --store neo4j` in a child process, SIGKILLed mid-ingest
    env = dict(os.environ, MUSICGRAPH_NEO4J_URI=store.uri, MUSICGRAPH_DATA_DIR=str(real_data_dir))
    done, mid_stage = kill_mid_ingest(store, env, tmp_path / "ingest.log")

    # ---- what it left: whole stages checkpointed in order, the next one partly written, no final report
    interrupted = checkpoints(store)
    assert interrupted == done and 2 <= len(interrupted) < len(STAGE_NAMES)
    assert interrupted == list(STAGE_NAMES[: len(interrupted)]), "checkpoints are written in stage order"
    assert mid_stage, f"no batch of stage {STAGE_NAMES[len(done)]!r} committed before the kill"
    assert store.get_meta("ingest:last_report") is None
    partial = sum(store.count_nodes().values()) + sum(store.count_edges().values())
    assert 0 < partial < ref_total

    # ---- rerun in-process into the same database: checkpointed stages skipped, the rest (re)done
    report = ingest(store, real_data_dir, progress=False)
    assert [s.name for s in report.stages if s.resumed] == interrupted
    assert all(s.nodes_written + s.edges_written > 0 for s in report.stages if not s.resumed)
    assert checkpoints(store) == list(STAGE_NAMES)

    # ---- identical to the uninterrupted embedded ingest: counts, node keys and edge triples
    assert store.count_nodes() == ref_nodes
    assert store.count_edges() == ref_edges
    keys_and_triples = content_checksum(KeysView(store), with_props=False)  # type: ignore[arg-type]
    assert keys_and_triples == content_checksum(real_store, with_props=False)
    # and the merged properties of a sample of every label's nodes (lists unioned in the same order)
    for label, count in ref_nodes.items():
        keys = [n.key for i, n in enumerate(KeysView(store).iter_nodes(label)) if i % 40 == 0]
        assert len(keys) >= min(count, 1)
        got, want = store.get_nodes(label, keys), real_store.get_nodes(label, keys)
        assert got == want, f"{label}: properties differ from the uninterrupted run"
