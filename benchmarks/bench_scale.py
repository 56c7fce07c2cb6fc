"""How time, memory and disk grow with the catalog: 1x, 10x, 100x of the shared data (synthetic).

For each factor F the synthetic catalog (:mod:`musicgraph.graph.synthetic`: F copies of every song,
artist, album, user and playlist of the real store, shared vocabularies, 30 % of the listening,
friendship and playlist edges rewired across copies; 100x is about 3.1M songs, 189k users and 9.3M
listening edges) is measured phase by phase, each phase in a fresh process (its own peak RSS):

* ``generate``: the catalog written into a new embedded store through its batched upserts (the
  write path of ``ingest``): seconds, rows/s, store size;
* ``neo4j``: ``bulk_load`` of that store into the local Neo4j server (``--neo4j``; export, import,
  restart, schema and indexes), and the database's size;
* ``projection``: the projection built from the store and cached (memory-mapped file size);
* ``recommend``: a fresh process's first public ``musicgraph.api.recommend()`` (graph retriever: store
  open, projection cache, operators, query),
  then ``--queries`` queries (artists, users, tags of copy 0, k = 10 with paths): p50/p95, CPU;
* ``indexes``: ``build_indexes(dense=False)`` (catalog, emotion, BM25), then dense: ``--dense-sample``
  documents encoded with the document encoder (songs/s; the time for every song is **extrapolated**
  from that rate), the vectors of every row taken from the real catalog's MiniLM vectors plus noise
  (so the index has the real clusters at the synthetic size), FAISS HNSW and IVF-PQ built over them,
  their latency and recall@10 against exact search; the served index is flat below 50k rows, HNSW
  up to ``--ivfpq-from`` rows, IVF-PQ above;
* ``retrieve``: a fresh process's warm-up, then ``--queries`` hybrid requests: p50/p95, CPU.

Every phase records the load average before and after. A phase whose processes (Neo4j's included)
hold more than ``--max-rss-gb`` resident memory, or that runs past ``--timeout`` seconds, is stopped
and recorded as not measured, with the reason. Results are appended to ``--json`` (one
entry per factor and phase, so a long run can be resumed and partial runs still count);
``--report`` fits the growth exponent of every figure (least squares of log y on log F) and draws the
plot (``docs/scale.png``).

    .venv/bin/python benchmarks/bench_scale.py --real-home DIR --work DIR --factors 1 10 [100]
        [--phases generate,projection,recommend,indexes,retrieve,neo4j] [--json docs/scale.json]
    .venv/bin/python benchmarks/bench_scale.py --report --json docs/scale.json --plot docs/scale.png [--markdown]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PHASES = ("generate", "neo4j", "projection", "recommend", "indexes", "retrieve")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _du(path: Path) -> int:
    if not path.exists():
        return 0
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _pct(values: list[float]) -> dict[str, float]:
    t = np.array(values) * 1000
    return {"p50_ms": round(float(np.percentile(t, 50)), 1), "p95_ms": round(float(np.percentile(t, 95)), 1),
            "mean_ms": round(float(t.mean()), 1)}


# ------------------------------------------------------------------------------------ phases
def phase_generate(args: dict[str, Any]) -> dict[str, Any]:
    from musicgraph.graph import EmbeddedStore
    from musicgraph.graph.synthetic import write_synthetic

    store_dir = Path(args["store"])
    if store_dir.exists():
        shutil.rmtree(store_dir)
    source = EmbeddedStore(Path(args["real_home"]) / "stores" / "default")
    target = EmbeddedStore(store_dir, batch_size=20_000)
    report = write_synthetic(source, target, args["factor"], seed=0, mix=0.3)
    target.close()
    return {**report.to_dict(), "store_bytes": _du(store_dir)}


def phase_neo4j(args: dict[str, Any]) -> dict[str, Any]:
    from musicgraph.graph import EmbeddedStore
    from musicgraph.graph.bulk import bulk_load
    from musicgraph.graph.neo4j_server import Neo4jServer
    from musicgraph.graph.neo4j_store import Neo4jStore

    server = Neo4jServer()
    if not server.bolt_ok():
        server.start()  # the previous factor's phase stopped it; its database still holds that factor
    store = Neo4jStore.from_settings(server.settings)
    store.claim_for_tests(wipe=True)  # the scale benchmark's own server: empty it for the load
    store.close()
    t0 = time.perf_counter()
    report = bulk_load(EmbeddedStore(Path(args["store"])), server, max_off_heap=args.get("neo4j_off_heap", "2G"))
    seconds = time.perf_counter() - t0
    db = server.home / "data" / "databases" / server.settings.neo4j_database
    out = {**report.to_dict(), "wall_s": round(seconds, 1), "database_bytes": _du(db)}
    server.stop()
    return out


def phase_projection(args: dict[str, Any]) -> dict[str, Any]:
    from musicgraph.graph import EmbeddedStore
    from musicgraph.graph.projection import PROJECTION_CACHE

    store = EmbeddedStore(Path(args["store"]))
    (store.path / PROJECTION_CACHE).unlink(missing_ok=True)
    t0 = time.perf_counter()
    proj = store.projection()
    seconds = time.perf_counter() - t0
    return {"seconds": round(seconds, 2), "nodes": proj.num_nodes, "edges": int(sum(m.nnz for m in proj.matrices.values())),
            "cache_bytes": _du(store.path / PROJECTION_CACHE)}


def _graph_queries(store: Any, n: int) -> list[dict[str, Any]]:
    import random

    rng = random.Random(0)
    artists = [a.props["name"] for a in store.iter_nodes("Artist") if a.props.get("hetrec_ids") and "~" not in a.key]
    users = [u.key for u in store.iter_nodes("User") if "~" not in u.key]
    tags = [t.key for t in store.iter_nodes("Tag")]
    from benchmarks.bench_recommend import mix_queries

    return mix_queries(artists, users, tags, n, rng)


def phase_recommend(args: dict[str, Any]) -> dict[str, Any]:
    t0 = time.perf_counter()
    from musicgraph.api import recommend
    from musicgraph.graph import EmbeddedStore

    store = EmbeddedStore(Path(args["store"]))
    queries = _graph_queries(store, args["queries"] + 1)
    t1 = time.perf_counter()
    recommend(store=store, **queries[0])
    first = time.perf_counter() - t1
    wall, cpu = [], []
    for q in queries[1:]:
        w, c = time.perf_counter(), time.process_time()
        recommend(store=store, **q)
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return {"first_call_s": round(first, 2), "process_s": round(time.perf_counter() - t0, 2), **_pct(wall),
            "cpu_ms_per_query": round(1000 * float(np.mean(cpu)), 1), "queries": len(wall)}


def _noisy_vectors(store: Any, catalog: Any, real_index: Path, rng: np.random.Generator) -> np.ndarray:
    """Per catalog row: the real catalog's vector of the song it copies, plus noise (renormalized)."""
    import json as _json

    real_keys = _json.loads((real_index / "catalog.json").read_text(encoding="utf-8"))["keys"]
    real_vec = np.load(real_index / "dense.vectors.npy", mmap_mode="r")
    pos = {k: i for i, k in enumerate(real_keys)}
    out = np.empty((len(catalog), real_vec.shape[1]), dtype=np.float32)
    step = 200_000
    for s in range(0, len(catalog), step):
        keys = catalog.keys[s : s + step]
        idx = np.array([pos.get(k if "~" not in k else k.split("~", 1)[0] + "|" + k.split("|", 1)[1], -1)
                        for k in keys])
        base = np.where(idx[:, None] >= 0, real_vec[np.maximum(idx, 0)], rng.normal(size=(len(keys), out.shape[1])))
        v = base + rng.normal(scale=0.02, size=base.shape)
        out[s : s + len(keys)] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def phase_indexes(args: dict[str, Any]) -> dict[str, Any]:
    from musicgraph.graph import EmbeddedStore
    from musicgraph.retrieval.dense import DenseIndex
    from musicgraph.retrieval.encoder import Encoder
    from musicgraph.retrieval.index import build_indexes, lyrics_of
    from musicgraph.retrieval.textualize import textualize

    store = EmbeddedStore(Path(args["store"]))
    index_dir = Path(args["index"])
    if index_dir.exists():
        shutil.rmtree(index_dir)
    t0 = time.perf_counter()
    bundle = build_indexes(store, index_dir, dense=False, progress=False)
    built = time.perf_counter() - t0
    out: dict[str, Any] = {"songs": len(bundle.catalog), "seconds": bundle.manifest["seconds"],
                           "build_s": round(built, 1), "rss_after_bm25_mb": round(_peak_rss_mb())}
    # dense: encode a sample, extrapolate the full encoding time from its rate
    cat = bundle.catalog
    rng = np.random.default_rng(0)
    sample = np.sort(rng.choice(len(cat), size=min(args["dense_sample"], len(cat)), replace=False))
    lyr = lyrics_of(store, cat, sample.tolist())
    docs = [textualize(cat, int(i), lyr.get(int(i)), bundle.emotion_words[int(i)]) for i in sample]
    enc = Encoder(device="cpu")
    enc.encode_documents(docs[:32])  # export/quantize/load outside the timing
    t0 = time.perf_counter()
    enc.encode_documents(docs)
    rate = len(docs) / (time.perf_counter() - t0)
    out["dense_sample"] = len(docs)
    out["dense_songs_per_s"] = round(rate, 1)
    out["dense_encode_s_extrapolated"] = round(len(cat) / rate, 1)
    vectors = _noisy_vectors(store, cat, Path(args["real_index"]), rng)
    queries = vectors[rng.choice(len(vectors), size=200, replace=False)] + rng.normal(scale=0.05, size=(200, vectors.shape[1]))
    queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
    exact = DenseIndex(kind="flat", use_gpu=False).build(vectors)
    _, truth = exact.index.search(queries, 10)
    del exact
    served = "flat" if len(vectors) < 50_000 else "hnsw" if len(vectors) < args["ivfpq_from"] else "ivfpq"
    keep = None
    for kind in ("hnsw", "ivfpq"):
        if kind == "hnsw" and len(vectors) > args["hnsw_max"]:
            out[kind] = {"skipped": f"more than {args['hnsw_max']} rows"}
            continue
        t0 = time.perf_counter()
        idx = DenseIndex(kind=kind, use_gpu=False).build(vectors)
        build_s = time.perf_counter() - t0
        times = []
        found = []
        for q in queries:
            t = time.perf_counter()
            _, rows = idx.index.search(q[None, :], 10)
            times.append(time.perf_counter() - t)
            found.append(rows[0])
        recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth.tolist(), strict=True)]))
        out[kind] = {"build_s": round(build_s, 1), **_pct(times), "recall@10": round(recall, 3)}
        keep = idx if kind == served else keep  # the served index is the one just measured, not built twice
        del idx
    out["served_reused"] = keep is not None  # then served_build_s is the save alone
    t0 = time.perf_counter()
    (keep or DenseIndex(kind=served, use_gpu=False).build(vectors)).save(index_dir / "dense.faiss")
    del keep
    manifest = json.loads((index_dir / "manifest.json").read_text())
    manifest["dense"] = {"kind": served, "size": len(vectors), "live": len(vectors), "dim": int(vectors.shape[1]),
                         "encoder": {"synthetic": "real MiniLM vectors + noise"}}
    (index_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))
    out["served_dense"] = served
    out["served_build_s"] = round(time.perf_counter() - t0, 1)
    out["index_bytes"] = _du(index_dir)
    return out


def phase_retrieve(args: dict[str, Any]) -> dict[str, Any]:
    t0 = time.perf_counter()
    from benchmarks.bench_retrieve import bench_queries
    from musicgraph.graph import EmbeddedStore
    from musicgraph.retrieval.retriever import HybridRetriever

    store = EmbeddedStore(Path(args["store"]))
    r = HybridRetriever(store, index_dir=Path(args["index"]))
    r.warm_up()
    if r.bundle.dense is not None:
        r.encoder.query_cache_size = 0
    load_s = time.perf_counter() - t0
    queries = bench_queries(store, args["queries"] + 10)
    for q in queries[:10]:
        r.retrieve(q, k=10)
    wall, cpu = [], []
    for q in queries[10:]:
        w, c = time.perf_counter(), time.process_time()
        r.retrieve(q, k=10)
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return {"load_s": round(load_s, 1), **_pct(wall), "cpu_ms_per_query": round(1000 * float(np.mean(cpu)), 1),
            "queries": len(wall), "dense": r.bundle.dense.kind if r.bundle.dense is not None else None}


def child(phase: str, args: dict[str, Any]) -> None:
    """Run one phase in this (fresh) process and print its result as JSON on the last line."""
    import logging

    logging.basicConfig(level=logging.WARNING)
    before = _load()
    t0 = time.perf_counter()
    result = globals()[f"phase_{phase}"](args)
    result.update({"phase_wall_s": round(time.perf_counter() - t0, 1), "peak_rss_mb": round(_peak_rss_mb()),
                   "loadavg_before": before, "loadavg_after": _load()})
    print(json.dumps(result))


# ------------------------------------------------------------------------------------ driver
def _tree_rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants (Linux ``/proc``; 0 once gone)."""
    total, todo, seen = 0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
            for task in Path(f"/proc/{p}/task").iterdir():
                kids = (task / "children").read_text().split()
                todo.extend(int(k) for k in kids)
        except (OSError, ValueError):
            continue
    return total


def _guarded(cmd: list[str], env: dict[str, str], timeout: float, max_rss_gb: float) -> tuple[int, str, str, str]:
    """Run ``cmd``; kill its process group when it runs past ``timeout`` s or its tree's RSS passes ``max_rss_gb``.

    Returns:
        (exit status, stdout, stderr, why it was stopped or "").
    """
    import signal
    import tempfile

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env=env, start_new_session=True)
        t0, why, peak = time.perf_counter(), "", 0
        while proc.poll() is None:
            time.sleep(1.0)
            rss = _tree_rss_bytes(proc.pid)
            peak = max(peak, rss)
            if rss > max_rss_gb * 1e9:
                why = f"stopped: resident memory of the phase passed {max_rss_gb} GB"
            elif time.perf_counter() - t0 > timeout:
                why = f"stopped: ran past {timeout:.0f} s"
            if why:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                break
        out.seek(0)
        err.seek(0)
        return proc.returncode, out.read(), err.read(), why


def run(args: argparse.Namespace) -> None:
    results: list[dict[str, Any]] = json.loads(args.json.read_text()) if args.json.is_file() else []
    work = args.work.resolve()
    for factor in args.factors:
        for phase in args.phases:
            spec = {"factor": factor, "real_home": str(args.real_home.resolve()),
                    "real_index": str((args.real_home / "indexes" / "default").resolve()),
                    "store": str(work / f"x{factor}" / "store"), "index": str(work / f"x{factor}" / "index"),
                    "queries": args.queries, "dense_sample": args.dense_sample, "hnsw_max": args.hnsw_max,
                    "ivfpq_from": args.ivfpq_from}
            print(f"x{factor} {phase} ...", flush=True)
            env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
            if phase == "recommend":  # the public API finds no index bundle of the real catalog there
                (work / f"x{factor}" / "home").mkdir(parents=True, exist_ok=True)
                env["MUSICGRAPH_HOME"] = str(work / f"x{factor}" / "home")
            cmd = [sys.executable, str(Path(__file__).resolve()), "--child", phase, "--spec", json.dumps(spec)]
            t0 = time.perf_counter()
            rc, stdout, stderr, why = _guarded(cmd, env, args.timeout, args.max_rss_gb)
            if rc != 0:
                reason = why or f"exit {rc}"
                print(f"x{factor} {phase} not measured ({reason}):\n{stderr[-3000:]}", flush=True)
                results = [r for r in results if not (r["factor"] == factor and r["phase"] == phase)]
                results.append({"factor": factor, "phase": phase, "error": reason, "stderr": stderr[-500:],
                                "wall_s": round(time.perf_counter() - t0, 1), "loadavg_after": _load()})
            else:
                res = json.loads(stdout.strip().splitlines()[-1])
                print(f"x{factor} {phase}: {res}", flush=True)
                results = [r for r in results if not (r["factor"] == factor and r["phase"] == phase)]
                results.append({"factor": factor, "phase": phase, **res})
            args.json.write_text(json.dumps(results, indent=1))


# ------------------------------------------------------------------------------------ report
FIGURES: dict[str, tuple[str, str]] = {
    # name: (phase, key path with "." for nesting)
    "ingest, embedded (s)": ("generate", "seconds"),
    "ingest, Neo4j bulk (s)": ("neo4j", "total_seconds"),
    "projection build (s)": ("projection", "seconds"),
    "recommend first call (s)": ("recommend", "first_call_s"),
    "recommend p50 (ms)": ("recommend", "p50_ms"),
    "recommend p95 (ms)": ("recommend", "p95_ms"),
    "recommend CPU per query (ms)": ("recommend", "cpu_ms_per_query"),
    "BM25 build (s)": ("indexes", "seconds.bm25"),
    "dense encode, extrapolated (s)": ("indexes", "dense_encode_s_extrapolated"),
    "FAISS HNSW build (s)": ("indexes", "hnsw.build_s"),
    "FAISS IVF-PQ build (s)": ("indexes", "ivfpq.build_s"),
    "retrieve p50 (ms)": ("retrieve", "p50_ms"),
    "retrieve p95 (ms)": ("retrieve", "p95_ms"),
    "retrieve CPU per query (ms)": ("retrieve", "cpu_ms_per_query"),
    "HNSW recall@10 vs exact": ("indexes", "hnsw.recall@10"),
    "IVF-PQ recall@10 vs exact": ("indexes", "ivfpq.recall@10"),
    "peak RSS, ingest (MB)": ("generate", "peak_rss_mb"),
    "peak RSS, projection build (MB)": ("projection", "peak_rss_mb"),
    "peak RSS, recommend (MB)": ("recommend", "peak_rss_mb"),
    "peak RSS, retrieve (MB)": ("retrieve", "peak_rss_mb"),
    "peak RSS, index build (MB)": ("indexes", "peak_rss_mb"),
    "store on disk (MB)": ("generate", "store_bytes"),
    "projection cache on disk (MB)": ("projection", "cache_bytes"),
    "indexes on disk (MB)": ("indexes", "index_bytes"),
    "Neo4j database on disk (MB)": ("neo4j", "database_bytes"),
}


def _get(d: dict[str, Any], path: str) -> float | None:
    for part in path.split("."):
        if not isinstance(d, dict) or part not in d:
            return None
        d = d[part]
    return float(d) if isinstance(d, (int, float)) else None


def table(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Figure -> {factor: value, 'exponent': b, 'loads': [...]} with y ~ F^b fitted on log-log."""
    out: dict[str, dict[str, Any]] = {}
    for name, (phase, path) in FIGURES.items():
        points = {}
        loads = {}
        for r in results:
            if r.get("phase") == phase and "error" not in r:
                v = _get(r, path)
                if v is not None and v > 0:
                    if name.endswith("(MB)") and "bytes" in path:
                        v = v / 1e6
                    points[int(r["factor"])] = v
                    loads[int(r["factor"])] = (r.get("loadavg_before"), r.get("loadavg_after"))
        if not points:
            continue
        entry: dict[str, Any] = {"values": dict(sorted(points.items())), "loads": loads}
        if len(points) >= 2 and "recall" not in name:  # a recall is bounded by 1: no power law
            f = np.log(np.array(list(points)))
            y = np.log(np.array(list(points.values())))
            b, a = np.polyfit(f, y, 1)
            entry["exponent"] = round(float(b), 2)
            entry["at_100x"] = points.get(100) or round(float(np.exp(a + b * np.log(100))), 1)
            entry["at_100x_measured"] = 100 in points
        out[name] = entry
    return out


def markdown(tab: dict[str, dict[str, Any]], results: list[dict[str, Any]]) -> str:
    """The table as Markdown: a column per measured factor, the exponent, 100x (measured or extrapolated)."""
    factors = sorted({int(r["factor"]) for r in results})
    head = "| figure | " + " | ".join(f"{f}×" for f in factors) + " | exponent | 100× | load avg (before–after) |"
    lines = [head, "|" + "---|" * (len(factors) + 4)]
    for name, e in tab.items():
        vals = [f"{e['values'][f]:,.4g}" if f in e["values"] else "—" for f in factors]
        hundred = e.get("at_100x")
        h = "—" if hundred is None else f"{hundred:,.4g}" + ("" if e.get("at_100x_measured") else " (extrapolated)")
        loads = "; ".join(f"{f}×: {a}–{b}" for f, (a, b) in sorted(e["loads"].items()))
        lines.append(f"| {name} | " + " | ".join(vals) + f" | {e.get('exponent', '—')} | {h} | {loads} |")
    missing = [r for r in results if "error" in r]
    for r in missing:
        lines.append(f"\n{r['factor']}× {r['phase']}: not measured ({r['error']})")
    return "\n".join(lines)


def plot(tab: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [("time (s)", [k for k in tab if k.endswith("(s)")]),
              ("latency (ms)", [k for k in tab if k.endswith("(ms)")]),
              ("memory and disk (MB)", [k for k in tab if k.endswith("(MB)")])]
    fig, axes = plt.subplots(1, 3, figsize=(17, 5.2))
    for ax, (title, names) in zip(axes, groups, strict=True):
        for name in names:
            e = tab[name]
            xs, ys = list(e["values"]), list(e["values"].values())
            line = ax.plot(xs, ys, "o-", label=f"{name} ~F^{e.get('exponent', '?')}")[0]
            if "exponent" in e and not e.get("at_100x_measured") and max(xs) < 100:
                ax.plot([max(xs), 100], [e["values"][max(xs)], e["at_100x"]], ":", color=line.get_color())
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("catalog size (x the shared data; dotted: extrapolated)")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    if "latency (ms)" in [g[0] for g in groups]:
        axes[1].axhline(50, color="grey", lw=0.8, ls="--")
        axes[1].axhline(150, color="grey", lw=0.8, ls="--")
    axes[2].axhline(16_000, color="grey", lw=0.8, ls="--")
    fig.suptitle("musicgraph scaling on the shared 2-core, 24 GB machine (benchmarks/bench_scale.py; load averages in "
                 "docs/scale.md)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--child", choices=PHASES)
    ap.add_argument("--spec", default="{}")
    ap.add_argument("--real-home", type=Path, default=Path(os.environ.get("MUSICGRAPH_HOME", ".musicgraph")))
    ap.add_argument("--work", type=Path, default=Path("scale-work"))
    ap.add_argument("--factors", type=int, nargs="+", default=[1, 10])
    ap.add_argument("--phases", default="generate,projection,recommend,indexes,retrieve")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--dense-sample", type=int, default=2000)
    ap.add_argument("--hnsw-max", type=int, default=1_000_000, help="skip the HNSW build above this many rows")
    ap.add_argument("--ivfpq-from", type=int, default=1_000_000, help="serve IVF-PQ from this many rows")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per phase before it is stopped")
    ap.add_argument("--max-rss-gb", type=float, default=18.0,
                    help="stop a phase whose processes hold more resident memory than this")
    ap.add_argument("--json", type=Path, default=Path("docs/scale.json"))
    ap.add_argument("--report", action="store_true")
    ap.add_argument("--plot", type=Path, default=None)
    ap.add_argument("--markdown", action="store_true", help="with --report: print the table as Markdown")
    args = ap.parse_args()
    if args.child:
        child(args.child, json.loads(args.spec))
        return
    if args.report:
        results = json.loads(args.json.read_text())
        tab = table(results)
        for name, e in tab.items():
            print(f"{name:34s} {e['values']}  exponent {e.get('exponent')}  100x: {e.get('at_100x')}"
                  f"{'' if e.get('at_100x_measured') else ' (extrapolated)'}  load {e['loads']}")
        if args.plot:
            plot(tab, args.plot)
        if args.markdown:
            print(markdown(tab, results))
        return
    args.phases = [p for p in args.phases.split(",") if p]
    bad = [p for p in args.phases if p not in PHASES]
    if bad:
        ap.error(f"unknown phase(s) {bad}; expected some of {PHASES}")
    run(args)


if __name__ == "__main__":
    main()
