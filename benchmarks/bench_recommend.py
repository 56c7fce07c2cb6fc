"""``recommend()`` latency: this checkout against an earlier commit, same queries, same run.

Two front ends can be measured (``--api``):

* ``public`` (default): ``musicgraph.recommend(...)``, the request model and graph retriever;
* ``multihop``: ``musicgraph.graph.multihop.recommend(store, ...)``, the PPR front end.

The peer (``--peer``, default ``177c487``: main before issue 18, whose README figures were p50 59 ms,
p95 85 ms, first call 4.6 s) runs ``musicgraph.api.recommend`` of its own checkout. At ``177c487`` that
was the PPR front end, so with ``--api public`` the two sides answer different retrievers and their
top-k differences are reported, not asserted (``--differences-ok``); ``--peer 7a5f419`` (main just
before the issue-18 merge: the same graph retriever without the projection cache and scorer changes)
is the peer whose top-k must be identical.

The peer's code is taken out of git (``git archive``) into a temporary directory. Each side runs in
its own worker process on the same store; the parent sends every query to both, alternating which
goes first, so changes of machine load hit both alike. Reported per side:

* first call: a fresh process with the library imported (``musicgraph.api``, scipy), time of the
  first ``recommend`` (opening the store, loading the projection cache, building the scorer, the
  query), and of importing + that call; the caches are built before, outside the timing (each version
  writes its own files), and this is repeated ``--cold`` times;
* warm: p50/p95/p99/max wall milliseconds and CPU milliseconds per query over ``--queries``
  queries (artists, users, tags; songs and artists alternately; k = 10 with paths), after 10 warm-up
  queries;
* the results compared: identical top-k ids, identical explanation paths, largest score difference;
  with ``--api multihop``, a query whose top-k differs is ranked once more with the PPR vector
  converged in float64 (power iteration to an L1 change of 1e-14, the same ranking code), to tell
  which side gives the exact answer.

    .venv/bin/python benchmarks/bench_recommend.py [--home DIR] [--api public|multihop] [--peer REV]
        [--queries 200] [--cold 3] [--differences-ok] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

WORKER = r"""
import json, sys, time
t0 = time.perf_counter()
import scipy.sparse
import musicgraph.api
from musicgraph.graph import multihop
API = sys.argv[1]
t_import = time.perf_counter() - t0
first = True
store = None
for line in sys.stdin:
    q = json.loads(line)
    if q.get("cmd") == "quit":
        break
    w, c = time.perf_counter(), time.process_time()
    if API == "public":
        res = musicgraph.api.recommend(**q)
    else:
        store = store or musicgraph.api.default_store()
        res = multihop.recommend(store, **q)
    wall, cpu = time.perf_counter() - w, time.process_time() - c
    out = {"wall": wall, "cpu": cpu, "import": t_import if first else 0.0,
           "ids": [r.id for r in res], "scores": [r.score for r in res],
           "paths": [[p.as_list() for p in r.paths] for r in res]}
    first = False
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
"""


class Worker:
    """A ``musicgraph`` process with ``pythonpath`` first on its path, answering queries line by line."""

    def __init__(self, pythonpath: Path, env: dict[str, str], api: str):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WORKER, api], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env={**env, "PYTHONPATH": str(pythonpath)}, cwd=tempfile.gettempdir(),
        )

    def ask(self, query: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(query) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.proc.args} died (exit {self.proc.wait()})")
        return json.loads(line)

    def close(self) -> None:
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                self.proc.stdin.close()
        finally:
            self.proc.wait(timeout=60)


def peer_tree(rev: str, into: Path) -> Path:
    """``musicgraph/`` of git revision ``rev`` extracted under ``into``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "musicgraph"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def make_queries(home: Path, n: int, seed: int = 0) -> list[dict[str, Any]]:
    """Artists (with HetRec ids), users and tags, songs and artists alternately, k = 10."""
    sys.path.insert(0, str(ROOT))
    from musicgraph.graph import EmbeddedStore

    store = EmbeddedStore(home / "stores" / "default")
    rng = random.Random(seed)
    artists = [a.props["name"] for a in store.iter_nodes("Artist") if a.props.get("hetrec_ids")]
    users = [u.key for u in store.iter_nodes("User")]
    tags = [t.key for t in store.iter_nodes("Tag")]
    store.close()
    return mix_queries(artists, users, tags, n, rng)


def mix_queries(artists: list[str], users: list[str], tags: list[str], n: int, rng: random.Random
                ) -> list[dict[str, Any]]:
    """``n`` recommend() keyword sets: an artist, a user or a tag in turn, songs and artists alternately, k = 10."""
    out = []
    for i in range(n):
        q: dict[str, Any] = {"kind": ("song", "artist")[i % 2], "k": 10}
        pick = i % 3
        if pick == 0:
            q["artists"] = [rng.choice(artists)]
        elif pick == 1:
            q["user"] = rng.choice(users)
        else:
            q["tags"] = [rng.choice(tags)]
        out.append(q)
    return out


def reference_top_k(home: Path, queries: list[dict[str, Any]]) -> list[list[str]]:
    """The top-k ids of ``queries`` with PPR converged in float64 (the ranking code of this checkout)."""
    from musicgraph.graph import EmbeddedStore
    from musicgraph.graph.multihop import MultiHopScorer, rank_items, resolve_seeds

    store = EmbeddedStore(home / "stores" / "default")
    proj = store.projection()
    exact = MultiHopScorer(proj, solver="power", tol=1e-14, max_iter=5000, dtype=np.float64)
    out = []
    for q in queries:
        seeds = resolve_seeds(proj, user=q.get("user"), artists=q.get("artists", ()), tags=q.get("tags", ()))
        ranked = rank_items(exact, seeds.weights, k=q["k"], kind=q["kind"], popularity_damping=0.3,
                            ppr=exact.ppr(seeds.weights))
        out.append([str(proj.keys[i]) for i, _ in ranked])
    store.close()
    return out


def stats(values: list[float]) -> dict[str, float]:
    t = np.array(values) * 1000
    return {"p50_ms": round(float(np.percentile(t, 50)), 1), "p95_ms": round(float(np.percentile(t, 95)), 1),
            "p99_ms": round(float(np.percentile(t, 99)), 1), "max_ms": round(float(t.max()), 1),
            "mean_ms": round(float(t.mean()), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", type=Path, default=Path(os.environ.get("MUSICGRAPH_HOME", ".musicgraph")),
                    help="MUSICGRAPH_HOME with the ingested embedded store")
    ap.add_argument("--api", default="public", choices=["public", "multihop"])
    ap.add_argument("--peer", default="177c487", help="git revision of the earlier implementation")
    ap.add_argument("--differences-ok", action="store_true",
                    help="report top-k differences without failing (a peer with another front end)")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--cold", type=int, default=3, help="fresh-process first calls per side")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    env = {**os.environ, "MUSICGRAPH_HOME": str(args.home.resolve()), "OPENBLAS_NUM_THREADS": "1"}
    queries = make_queries(args.home, args.queries + 10)
    tmp = Path(tempfile.mkdtemp(prefix="bench-recommend-peer-"))
    sides = {"ours": ROOT, "peer": peer_tree(args.peer, tmp)}
    out: dict[str, Any] = {"api": args.api, "peer": args.peer,
                           "loadavg_before": [round(x, 2) for x in os.getloadavg()]}

    # projection caches of both versions, outside any timing
    for path in sides.values():
        w = Worker(path, env, args.api)
        w.ask(queries[0])
        w.close()

    cold: dict[str, list[dict[str, float]]] = {"ours": [], "peer": []}
    for i in range(args.cold):
        for name in (("ours", "peer") if i % 2 == 0 else ("peer", "ours")):
            t = time.perf_counter()
            w = Worker(sides[name], env, args.api)
            r = w.ask(queries[0])
            total = time.perf_counter() - t
            w.close()
            cold[name].append({"first_call_s": r["wall"], "import_plus_first_call_s": r["import"] + r["wall"],
                               "process_s": total})
    out["first_call"] = {name: {k: round(float(np.median([c[k] for c in v])), 3) for k in v[0]}
                         for name, v in cold.items()}
    print("first call (median of", args.cold, "fresh processes):", out["first_call"], flush=True)

    workers = {name: Worker(path, env, args.api) for name, path in sides.items()}
    for q in queries[:10]:
        for w in workers.values():
            w.ask(q)
    wall: dict[str, list[float]] = {"ours": [], "peer": []}
    cpu: dict[str, list[float]] = {"ours": [], "peer": []}
    same_ids = same_paths = 0
    worst_score = 0.0
    mismatches: list[dict[str, Any]] = []
    for i, q in enumerate(queries[10:]):
        res = {}
        for name in (("ours", "peer") if i % 2 == 0 else ("peer", "ours")):
            res[name] = workers[name].ask(q)
            wall[name].append(res[name]["wall"])
            cpu[name].append(res[name]["cpu"])
        a, b = res["ours"], res["peer"]
        if a["ids"] == b["ids"]:
            same_ids += 1
            worst_score = max(worst_score, max((abs(x - y) / max(abs(y), 1e-300) for x, y in
                                                zip(a["scores"], b["scores"], strict=True)), default=0.0))
        else:
            mismatches.append({"query": q, "ours": a["ids"], "peer": b["ids"]})
        same_paths += a["paths"] == b["paths"]
    for w in workers.values():
        w.close()
    n = len(queries) - 10
    out["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    out["warm"] = {name: {**stats(wall[name]), "cpu_ms_per_query": round(1000 * float(np.mean(cpu[name])), 1)}
                   for name in wall}
    out["ratio_p50"] = round(out["warm"]["peer"]["p50_ms"] / out["warm"]["ours"]["p50_ms"], 2)
    out["ratio_p95"] = round(out["warm"]["peer"]["p95_ms"] / out["warm"]["ours"]["p95_ms"], 2)
    out["ratio_cpu"] = round(out["warm"]["peer"]["cpu_ms_per_query"] / out["warm"]["ours"]["cpu_ms_per_query"], 2)
    out["identical_top_k"] = f"{same_ids}/{n}"
    out["identical_paths"] = f"{same_paths}/{n}"
    out["max_relative_score_difference"] = worst_score
    if mismatches and args.api == "multihop":
        exact = reference_top_k(args.home, [m["query"] for m in mismatches])
        for m, ids in zip(mismatches, exact, strict=True):
            m["exact"] = ids
            m["ours_is_exact"], m["peer_is_exact"] = m["ours"] == ids, m["peer"] == ids
        out["mismatches_where_ours_is_exact"] = sum(m["ours_is_exact"] for m in mismatches)
        out["mismatches_where_peer_is_exact"] = sum(m["peer_is_exact"] for m in mismatches)
    out["mismatches"] = mismatches[:5]
    print(json.dumps({k: v for k, v in out.items() if k != "mismatches"}, indent=1))
    if mismatches:
        print(f"{len(mismatches)} queries with a different top-k, e.g. {mismatches[0]}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    if same_ids + out.get("mismatches_where_ours_is_exact", 0) != n and not args.differences_ok:
        sys.exit(1)  # a different top-k that is not the exact one


if __name__ == "__main__":
    main()
