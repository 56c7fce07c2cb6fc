"""Queries while the catalog changes (issue 15): 8 threads in this process and 2 other processes query
through the public API (``musicgraph.retrieve`` and ``musicgraph.recommend``) while ``musicgraph catalog add``
runs in a third process. Every answer must come without error and equal the answer of a serial run either
before or after the change (never a mix of the two). Two more threads load the index bundle over and over:
every load must be one consistent version (the directory lock), and both versions must be seen."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

QUERIES = ["sad songs", "party dance songs", "calm acoustic", "metal shout", "songs like Soft Voice"]
#: recommend() calls whose answers the change alters
RECOMMEND = [{"user": "2"}, {"user": "3", "kind": "artist"}, {"moods": ["sad"]}]

#: runs every query once and prints the answers as JSON (the serial reference, and each querier's round)
ROUND = textwrap.dedent("""
    import json, sys
    import musicgraph

    def one_round():
        out = {}
        for q in QUERIES:
            out["retrieve:" + q] = [r.id for r in musicgraph.retrieve(q, k=5)]
        for kw in RECOMMEND:
            out["recommend:" + json.dumps(kw, sort_keys=True)] = [r.id for r in musicgraph.recommend(k=5, **kw)]
        return out
""")

QUERIER = ROUND + textwrap.dedent("""
    import time
    from pathlib import Path
    out, stop = Path(sys.argv[1]), Path(sys.argv[2])
    with out.open("w") as fh:
        while True:
            last = stop.exists()
            try:
                fh.write(json.dumps({"ok": one_round()}) + "\\n")
            except Exception as exc:
                fh.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\\n")
            fh.flush()
            if last:
                break
""")


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


def _env(h: Path, fixture_data_dir: Path) -> dict[str, str]:
    env = {**os.environ, "MUSICGRAPH_HOME": str(h), "MUSICGRAPH_DATA_DIR": str(fixture_data_dir),
           "MUSICGRAPH_LOG_LEVEL": "ERROR"}
    env.pop("MUSICGRAPH_NEO4J_URI", None)
    return env


def _program(body: str) -> str:
    return f"QUERIES = {QUERIES!r}\nRECOMMEND = {RECOMMEND!r}\n" + body


def serial(h: Path, fixture_data_dir: Path) -> dict[str, list[str]]:
    code = _program(ROUND + "\nprint(json.dumps(one_round()))\n")
    proc = subprocess.run([sys.executable, "-c", code], env=_env(h, fixture_data_dir), capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


CHANGE = [
    {"type": "artist", "name": "Rain Parade", "tags": {"sad": 30, "calm": 10}, "genres": ["pop"]},
    *[{"artist": "Rain Parade", "title": f"Sad Rain Song {i}", "genres": ["pop"], "moods": ["sad"],
       "lyrics": "sad tears and rain, lonely cold night, calm acoustic guitar " * 3} for i in range(12)],
    *[{"artist": "The Invented Band", "title": f"Party Dance Track {i}", "genres": ["pop"], "moods": ["happy"],
       "lyrics": "party dance all night, happy shout"} for i in range(12)],
    {"type": "listen", "user": "hetrec:2", "artist": "Rain Parade", "weight": 5000},
    {"type": "listen", "user": "hetrec:3", "artist": "Rain Parade", "weight": 5000},
]


@pytest.fixture(scope="module")
def scenario(home, tmp_path_factory, fixture_data_dir) -> dict[str, Any]:
    """Run the queriers and the writer once; what every test below looks at."""
    tmp_path = tmp_path_factory.mktemp("concurrent")
    monkeypatch = pytest.MonkeyPatch()
    import musicgraph
    from musicgraph.api import set_default_store
    from musicgraph.config import reset_settings

    h = tmp_path / "home"
    shutil.copytree(home, h)
    env = _env(h, fixture_data_dir)
    change = tmp_path / "change.jsonl"
    change.write_text("\n".join(json.dumps(r) for r in CHANGE) + "\n", encoding="utf-8")

    before = serial(h, fixture_data_dir)
    # ---- queriers: 2 processes and 8 threads of this process
    stop = tmp_path / "stop"
    outs = [tmp_path / f"querier-{i}.jsonl" for i in range(2)]
    procs = [subprocess.Popen([sys.executable, "-c", _program(QUERIER), str(o), str(stop)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for o in outs]
    monkeypatch.setenv("MUSICGRAPH_HOME", str(h))
    monkeypatch.setenv("MUSICGRAPH_DATA_DIR", str(fixture_data_dir))
    monkeypatch.delenv("MUSICGRAPH_NEO4J_URI", raising=False)
    reset_settings()
    set_default_store(None)
    seen: list[dict[str, list[str]]] = []
    errors: list[str] = []
    done = threading.Event()
    index_dir = h / "indexes" / "default"
    before_version = json.loads((index_dir / "manifest.json").read_text())["store_version"]
    bundles_seen: list[tuple[str, int]] = []
    bundle_errors: list[str] = []

    def bundle_loader() -> None:
        """Loads the whole index bundle again and again: each load is one consistent version."""
        from musicgraph.retrieval.index import IndexBundle

        while not done.is_set():
            try:
                b = IndexBundle.load(index_dir, dense=False)
                n = len(b.catalog)
                ok = (b.catalog.store_version == b.manifest["store_version"] and b.manifest["songs"] == n
                      and b.emotions.shape[0] == n and len(b.emotion_words) == n
                      and set(b.sparse.rows().tolist()) == set(b.catalog.alive.nonzero()[0].tolist()))
                if not ok:
                    bundle_errors.append(f"inconsistent bundle at version {b.manifest['store_version']}")
                bundles_seen.append((b.manifest["store_version"], n))
            except Exception as exc:  # noqa: BLE001 - counted: the test wants none
                bundle_errors.append(f"{type(exc).__name__}: {exc}")

    def thread_querier() -> None:
        while True:
            last = done.is_set()
            try:
                answer = {f"retrieve:{q}": [r.id for r in musicgraph.retrieve(q, k=5)] for q in QUERIES}
                answer.update({"recommend:" + json.dumps(kw, sort_keys=True): [r.id for r in musicgraph.recommend(
                    k=5, **kw)] for kw in RECOMMEND})
                seen.append(answer)
            except Exception as exc:  # noqa: BLE001 - counted: the test wants none
                errors.append(f"{type(exc).__name__}: {exc}")
            if last:
                return

    threads = [threading.Thread(target=thread_querier) for _ in range(8)]
    threads += [threading.Thread(target=bundle_loader) for _ in range(2)]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 300
        while (len(seen) < 8 or any(not o.exists() or not o.read_text().strip() for o in outs)) \
                and time.monotonic() < deadline:
            time.sleep(0.2)  # every querier has answered once before the writer starts
        writer = subprocess.run([sys.executable, "-c", "from musicgraph.cli import main; main()", "catalog", "add",
                                 str(change)], env=env, capture_output=True, text=True, timeout=600)
        assert writer.returncode == 0, writer.stdout + writer.stderr
        time.sleep(1.0)
        stop.touch()
        done.set()
        for t in threads:
            t.join(300)
        for p in procs:
            p.wait(timeout=300)
    finally:
        stop.touch()
        done.set()
        for p in procs:
            if p.poll() is None:
                p.kill()
        set_default_store(None)
        reset_settings()
    after = serial(h, fixture_data_dir)
    after_version = json.loads((index_dir / "manifest.json").read_text())["store_version"]

    for p in procs:
        assert p.returncode == 0, p.stderr.read()[-3000:]
    for o in outs:
        for line in o.read_text().splitlines():
            rec = json.loads(line)
            if "error" in rec:
                errors.append(rec["error"])
            else:
                seen.append(rec["ok"])
    monkeypatch.undo()
    return {"before": before, "after": after, "seen": seen, "errors": errors, "bundles_seen": bundles_seen,
            "bundle_errors": bundle_errors, "versions": (before_version, after_version)}


def test_no_errors_and_every_index_load_is_one_version(scenario) -> None:
    assert scenario["errors"] == []
    assert len(scenario["seen"]) >= 10
    assert scenario["before"] != scenario["after"], "the change should alter some answers, or the test proves nothing"
    assert scenario["bundles_seen"] and not scenario["bundle_errors"], scenario["bundle_errors"][:3]
    assert {v for v, _ in scenario["bundles_seen"]} >= set(scenario["versions"])  # both versions were loaded


def test_answers_equal_a_serial_run_before_or_after(scenario) -> None:
    before, after = scenario["before"], scenario["after"]
    for answer in scenario["seen"]:
        for key, ids in answer.items():
            assert ids in (before[key], after[key]), (key, ids, before[key], after[key])
