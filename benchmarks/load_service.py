"""Load test of ``musicgraph serve`` (loopback only, bounded in time and count; stops by itself).

For each worker count (default 1 and 2) it starts ``musicgraph serve`` on 127.0.0.1, waits until
every worker is ready, warms up, and runs Locust headless (``benchmarks/locust_service.py``):
70 % retrieve, 20 % recommend, 10 % ask (template generator), ``--users`` users at ``--rate``
requests/s each, for ``--duration`` seconds, while one writer applies a catalog change (add a
song, then delete it) every ``--write-every`` seconds, so every worker reloads its indexes during
the run. It reports throughput, p50/p95/p99 and failures per endpoint, the index reloads, and
the load average of the machine before and after (other jobs share it).

The peer: the same requests answered in process, one after another, by (a) the library calls the
service makes (the hybrid retriever for free text, the graph retriever's ``search`` for structured
requests, ``musicgraph.ask``) and (b)
the service's own handler code (the library call plus the response views, no HTTP), and over HTTP
by one client one request at a time; the difference is the serving overhead.

    .venv/bin/python benchmarks/load_service.py [--home DIR] [--port 8750] [--workers 1 2] [--users 20]
        [--rate 3] [--duration 60] [--write-every 15] [--sequential 150] [--json OUT]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def load() -> str:
    a, b, c = os.getloadavg()
    return f"{a:.2f} {b:.2f} {c:.2f}"


# ------------------------------------------------------------------------------ requests
def build_queries(home: Path, n: int = 120) -> dict[str, list[Any]]:
    """Request bodies per endpoint: mood phrasings, the hand-written requests and "songs like X" for
    the most played artists (retrieve), structured artist seeds (recommend), mood phrasings (ask)."""
    from benchmarks.evalsets.build import MOOD_QUERIES
    from musicgraph.graph.embedded import EmbeddedStore

    store = EmbeddedStore(home / "stores" / "default")
    plays: Counter[str] = Counter()
    for e in store.iter_edges("LISTENED_TO"):
        plays[e.dst.key] += 1
    names = {node.key: node.name for node in store.iter_nodes("Artist")}
    top = [names.get(a, a) for a, _ in plays.most_common(60)]
    store.close()
    moods = [q for qs in MOOD_QUERIES.values() for q in qs]
    texts = moods + [x["text"] for x in json.loads((ROOT / "benchmarks" / "evalsets" / "requests.json").read_text())]
    texts += [f"songs like {a}" for a in top]
    retrieve = list(dict.fromkeys(texts))[:n]
    recommend = [{"seeds": [{"label": "Artist", "name": a}], "kind": kind, "k": 10}
                 for i, a in enumerate(top[:40]) for kind in ("artist" if i % 2 == 0 else "song",)]
    return {"retrieve": retrieve, "recommend": recommend, "ask": moods[:40]}


def mix(queries: dict[str, list[Any]], n: int) -> list[tuple[str, Any]]:
    """``n`` requests in the 7:2:1 proportion, in a fixed order."""
    out = []
    counters = Counter()
    pattern = ["retrieve"] * 7 + ["recommend"] * 2 + ["ask"]
    for i in range(n):
        kind = pattern[i % len(pattern)]
        items = queries[kind]
        out.append((kind, items[counters[kind] % len(items)]))
        counters[kind] += 1
    return out


def _pct(values: list[float]) -> dict[str, float]:
    a = np.array(values) * 1000
    return {"n": len(a), "p50": round(float(np.percentile(a, 50)), 1), "p95": round(float(np.percentile(a, 95)), 1),
            "p99": round(float(np.percentile(a, 99)), 1)}


# ------------------------------------------------------------------------------ in process
def in_process(home: Path, data_dir: Path, requests: list[tuple[str, Any]], warm: list[tuple[str, Any]]) -> dict[str, Any]:
    """The same requests, one at a time, in this process: library calls, and the service's handler code.

    Before every timed call the graph walks cached by earlier calls are dropped (the warm-up's mood
    walks stay) and the query-vector cache is off, so neither peer profits from the other's work;
    which of the two goes first alternates."""
    import musicgraph
    from musicgraph.config import Settings
    from musicgraph.service import library
    from musicgraph.service.engine import Engine
    from musicgraph.service.views import answer_view, result_views

    settings = Settings(home=home, data_dir=data_dir, serve_check_interval=0)
    t0 = time.perf_counter()
    engine = Engine(settings)
    engine.start(background=False)
    gen = engine.generation()
    load_s = time.perf_counter() - t0
    from musicgraph.retrieval.request import Request

    lib: dict[str, list[float]] = {}
    svc: dict[str, list[float]] = {}
    for kind, body in warm:
        _call_library(gen, engine, kind, body, musicgraph)
    if getattr(gen.hybrid.encoder, "query_cache_size", None) is not None:
        gen.hybrid.encoder.query_cache_size = 0

    def service_code(kind: str, body: Any) -> None:
        if kind == "ask":
            a = library.ask(gen, engine.store, body, k=5, backend="template")
            answer_view(a, engine.store, {}, settings, gen.catalog)
        else:
            out = (library.search(gen, mode="retrieve", query=body, k=10) if kind == "retrieve" else
                   library.search(gen, mode="recommend", request=Request.model_validate(body)))
            result_views(out.results, engine.store, out.target, settings, gen.catalog)

    for i, (kind, body) in enumerate(requests):
        order = [("lib", lambda k=kind, b=body: _call_library(gen, engine, k, b, musicgraph)),
                 ("svc", lambda k=kind, b=body: service_code(k, b))]
        for name, fn in order if i % 2 == 0 else order[::-1]:
            gen.hybrid.graph.clear_walks()
            t = time.perf_counter()
            fn()
            (lib if name == "lib" else svc).setdefault(kind, []).append(time.perf_counter() - t)
    engine.close()
    return {"load_s": round(load_s, 1), "library": {k: _pct(v) for k, v in lib.items()},
            "service_code": {k: _pct(v) for k, v in svc.items()}}


def _call_library(gen: Any, engine: Any, kind: str, body: Any, musicgraph: Any) -> None:
    """The library call the service makes for one request, alone (same retriever objects)."""
    from musicgraph.retrieval.request import Request

    if kind == "retrieve":
        gen.hybrid.retrieve(body, k=10)
    elif kind == "recommend":
        gen.graph.search(Request.model_validate(body))
    else:
        musicgraph.ask(body, k=5, store=engine.store, backend="template", retriever=gen.hybrid, catalog=gen.grounding)


# ------------------------------------------------------------------------------ the server
class Server:
    def __init__(self, home: Path, data_dir: Path, port: int, workers: int, key: str):
        self.url = f"http://127.0.0.1:{port}"
        self.workers = workers
        env = {k: v for k, v in os.environ.items() if not k.startswith("MUSICGRAPH_SERVE_")}
        env.update(MUSICGRAPH_HOME=str(home), MUSICGRAPH_DATA_DIR=str(data_dir), MUSICGRAPH_SERVE_API_KEYS=key,
                   MUSICGRAPH_SERVE_RATE_LIMIT="0", MUSICGRAPH_SERVE_ASK_BACKEND="template",
                   MUSICGRAPH_SERVE_CHECK_INTERVAL="0", MUSICGRAPH_SERVE_RELOAD_INTERVAL="1")
        self.log = tempfile.NamedTemporaryFile(prefix="musicgraph-serve-", suffix=".log", delete=False)  # noqa: SIM115
        self.proc = subprocess.Popen([sys.executable, "-c", "from musicgraph.cli import main; main()", "serve",
                                      "--port", str(port), "--workers", str(workers), "--log-level", "warning"],
                                     env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 900) -> float:
        import httpx2 as httpx

        t0 = time.perf_counter()
        ready: set[str] = set()
        while len(ready) < self.workers:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited; log: {self.log.name}")
            if time.perf_counter() - t0 > timeout:
                raise TimeoutError(f"workers not ready after {timeout:g} s; log: {self.log.name}")
            try:
                r = httpx.get(self.url + "/health", timeout=5)
                if r.status_code == 200:
                    ready.add(r.headers["x-musicgraph-worker"])
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        return time.perf_counter() - t0

    def metric(self, name: str) -> float:
        import httpx2 as httpx

        text = httpx.get(self.url + "/metrics", timeout=10).text
        return sum(float(ln.rsplit(" ", 1)[1]) for ln in text.splitlines() if ln.startswith(name))

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def sequential_http(url: str, requests: list[tuple[str, Any]], warm: list[tuple[str, Any]]) -> dict[str, Any]:
    """One client, one request at a time (no concurrency): latency with the HTTP layer."""
    import httpx2 as httpx

    out: dict[str, list[float]] = {}
    with httpx.Client(base_url=url, timeout=60) as c:
        for kind, body in warm:
            _post(c, kind, body)
        for kind, body in requests:
            t = time.perf_counter()
            _post(c, kind, body)
            out.setdefault(kind, []).append(time.perf_counter() - t)
    return {k: _pct(v) for k, v in out.items()}


def _post(c: Any, kind: str, body: Any) -> None:
    if kind == "retrieve":
        r = c.post("/retrieve", json={"query": body, "k": 10})
    elif kind == "recommend":
        r = c.post("/recommend", json={"request": body})
    else:
        r = c.post("/ask", json={"question": body, "k": 5, "backend": "template"})
    r.raise_for_status()


def run_locust(url: str, queries_file: Path, key: str, users: int, rate: float, duration: int, write_every: float,
               out_prefix: Path) -> dict[str, Any]:
    env = dict(os.environ, LOAD_QUERIES=str(queries_file), LOAD_RATE=str(rate), LOAD_WRITE_EVERY=str(write_every),
               LOAD_API_KEY=key)
    cmd = [sys.executable, "-m", "locust", "-f", str(ROOT / "benchmarks" / "locust_service.py"), "--headless",
           "-u", str(users + 1), "-r", str(users + 1), "--run-time", f"{duration}s", "--host", url,
           "--csv", str(out_prefix), "--only-summary", "--stop-timeout", "30", "--loglevel", "WARNING"]
    subprocess.run(cmd, env=env, check=False, timeout=duration + 180, capture_output=True)
    rows = {}
    with open(f"{out_prefix}_stats.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            rows[row["Name"]] = {
                "requests": int(row["Request Count"]), "failures": int(row["Failure Count"]),
                "rps": round(float(row["Requests/s"]), 1), "p50": float(row["50%"]), "p95": float(row["95%"]),
                "p99": float(row["99%"]),
            }
    failures = []
    fpath = Path(f"{out_prefix}_failures.csv")
    if fpath.exists():
        with fpath.open(encoding="utf-8") as fh:
            failures = [dict(r) for r in csv.DictReader(fh)][:10]
    return {"endpoints": rows, "failures": failures}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", type=Path, default=Path(os.environ.get("MUSICGRAPH_HOME", Path.home() / ".musicgraph")))
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--port", type=int, default=8750)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--rate", type=float, default=3.0, help="requests/s per user")
    ap.add_argument("--duration", type=int, default=60)
    ap.add_argument("--write-every", type=float, default=15.0)
    ap.add_argument("--sequential", type=int, default=150, help="requests of the one-at-a-time peers (0: skip)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    from musicgraph.config import Settings

    data_dir = args.data_dir or Settings().data_dir
    queries = build_queries(args.home)
    qfile = Path(tempfile.mkdtemp(prefix="musicgraph-load-")) / "queries.json"
    qfile.write_text(json.dumps(queries), encoding="utf-8")
    both = mix(queries, args.sequential + 20)
    seq, warm = both[: args.sequential], both[args.sequential:]  # the warm-up requests are not timed ones
    report: dict[str, Any] = {"machine": f"{os.cpu_count()} CPUs", "users": args.users, "rate_per_user": args.rate,
                              "offered_rps": args.users * args.rate, "duration_s": args.duration,
                              "write_every_s": args.write_every, "runs": []}
    key = secrets.token_urlsafe(16)
    for workers in args.workers:
        server = Server(args.home, data_dir, args.port, workers, key)
        try:
            run: dict[str, Any] = {"workers": workers, "startup_s": round(server.wait_ready(), 1)}
            if args.sequential:
                before = load()
                run["sequential_http"] = sequential_http(server.url, seq, warm)
                run["sequential_load"] = [before, load()]
            reloads0 = server.metric("musicgraph_index_reloads_total")
            run["load_before"] = load()
            t0 = time.time()
            run.update(run_locust(server.url, qfile, key, args.users, args.rate, args.duration, args.write_every,
                                  qfile.parent / f"w{workers}"))
            run["wall_s"] = round(time.time() - t0, 1)
            run["load_after"] = load()
            run["index_reloads"] = server.metric("musicgraph_index_reloads_total") - reloads0
        finally:
            server.stop()
        report["runs"].append(run)
        print(json.dumps(run), flush=True)
    if args.sequential:  # after the servers have stopped: the peer has the machine's memory to itself
        before = load()
        report["in_process"] = in_process(args.home, data_dir, seq, warm)
        report["in_process"]["load"] = [before, load()]
        print(json.dumps(report["in_process"]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(table(report))


def table(report: dict[str, Any]) -> str:
    lines = [f"offered load {report['offered_rps']:g} req/s ({report['users']} users x {report['rate_per_user']:g}/s), "
             f"{report['duration_s']} s, a catalog change every {report['write_every_s']:g} s", "",
             "| workers | endpoint | requests | failures | req/s | p50 ms | p95 ms | p99 ms |", "|---|---|---|---|---|---|---|---|"]
    for run in report["runs"]:
        for name, r in run["endpoints"].items():
            lines.append(f"| {run['workers']} | {name} | {r['requests']} | {r['failures']} | {r['rps']} | {r['p50']:g} | "
                         f"{r['p95']:g} | {r['p99']:g} |")
        lines.append(f"|  | load average before / after: {run['load_before']} / {run['load_after']}; "
                     f"index reloads: {run['index_reloads']:g} | | | | | | |")
    if "in_process" in report:
        lines += ["", "| one request at a time | retrieve p50 / p95 | recommend p50 / p95 | ask p50 / p95 |", "|---|---|---|---|"]
        rows = [("library calls, in process", report["in_process"]["library"]),
                ("service code, in process", report["in_process"]["service_code"])]
        rows += [(f"HTTP, {run['workers']} worker(s)", run["sequential_http"]) for run in report["runs"]
                 if "sequential_http" in run]
        for label, d in rows:
            lines.append(f"| {label} | " + " | ".join(f"{d[k]['p50']:g} / {d[k]['p95']:g}" for k in
                                                       ("retrieve", "recommend", "ask")) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
