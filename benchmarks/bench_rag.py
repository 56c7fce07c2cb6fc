"""RAG generator benchmark: hallucination before/after grounding, citation precision, faithfulness,
ROUGE-L against the template answer and latency p50/p95 per backend, on ≥100 evaluation requests.

Requests (built at run time, nothing committed but the phrasings): the hand-written requests of
``benchmarks/evalsets/requests.json``, the mood phrasings of ``benchmarks/evalsets/build.py`` and
"<mood phrasing> like <artist>" for artists whose songs carry that mood label (MoodyLyrics, Spotify
moods, MPD playlists as ingested). Retrieval runs once per request and is shared by all backends,
so the figures compare generators on identical evidence.

    MUSICGRAPH_HOME=.musicgraph .venv/bin/python benchmarks/bench_rag.py --n 120 \
        --backends template,t5-local,smollm2 --out /tmp/bench_rag.json

Metrics per backend:

* ``halluc_before``: answers whose generated text named a song/artist the evidence does not support;
* ``invented_before``: answers whose generated text named something the catalog does not know at all
  (an invented title or artist: caught by shape — ``Title by Artist``, Title Case names in prose,
  list items naming nothing known);
* ``halluc_after``: the same check on the final (grounded) text — must be 0;
* ``mention_precision_before``: supported / all song+artist mentions in the generated text;
* ``citation_precision``: cited ids that are retrieved candidates (after grounding);
* ``faithfulness``: stated facts next to a cited song (year, mood words, BPM) that match its evidence;
* ``mood_match``: cited songs carrying the mood the request asked for (when it asked for one);
* ``rouge_l``: ROUGE-L F1 of the final text against the template answer on the same evidence;
* ``fallback``: answers where nothing grounded was left and the template answer was used;
* latency of the whole ``ask`` (retrieval excluded: it is cached) p50/p95 in ms.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import re
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

log = logging.getLogger("bench_rag")


def build_requests(store: Any, n: int, seed: int = 7) -> list[dict[str, Any]]:
    """At least ``n`` requests with the mood they ask for (when known)."""
    reqs: list[dict[str, Any]] = []
    path = ROOT / "benchmarks" / "evalsets" / "requests.json"
    if path.is_file():
        for item in json.loads(path.read_text()):
            moods = item.get("expect", {}).get("moods") or []
            reqs.append({"text": item["text"], "mood": moods[0] if moods else None})
    try:
        from benchmarks.evalsets.build import MOOD_QUERIES
    except ImportError:
        MOOD_QUERIES = {"sad": ["sad songs"], "happy": ["happy songs"], "calm": ["calm music"]}
    for mood, phrasings in MOOD_QUERIES.items():
        reqs += [{"text": p, "mood": mood} for p in phrasings]
    # "<phrasing> like <artist>" for artists with songs labelled with that mood
    mood_artists: dict[str, list[str]] = defaultdict(list)
    songs = {}
    for e in store.iter_edges("HAS_MOOD"):
        if e.src.label == "Song":
            songs.setdefault(e.src.key, []).append(e.dst.key)
    nodes = store.get_nodes("Song", list(songs))
    for key, moods in songs.items():
        node = nodes.get(key)
        if node is None or not node.props.get("artist"):
            continue
        for m in moods:
            if node.props["artist"] not in mood_artists[m]:
                mood_artists[m].append(str(node.props["artist"]))
    rng = random.Random(seed)
    moods = [m for m in MOOD_QUERIES if mood_artists.get(m)]
    while len(reqs) < n and moods:
        mood = rng.choice(moods)
        artist = rng.choice(mood_artists[mood])
        phrase = rng.choice(MOOD_QUERIES[mood])
        reqs.append({"text": f"{phrase} like {artist}", "mood": mood})
    return reqs


def stated_facts(line: str, cand: Any, mood_names: set[str]) -> tuple[int, int]:
    """(true, total) facts stated in ``line`` about candidate ``cand``: years, mood words, BPM."""
    true = total = 0
    for y in re.findall(r"\((\d{4})\)", line):
        total += 1
        true += cand.year is not None and int(y) == cand.year
    words = set(re.findall(r"[a-z]+", line.lower()))
    for m in mood_names & words:
        if re.search(rf"\b{m}\b\s+mood", line.lower()) or re.search(rf"mood[s]?:?\s[^.;]*\b{m}\b", line.lower()):
            total += 1
            true += m in {x.lower() for x in cand.moods}
    for bpm in re.findall(r"(\d{2,3})\s*BPM", line):
        total += 1
        tempo = cand.features.get("tempo")
        true += tempo is not None and abs(float(bpm) - tempo) <= 1.0
    return true, total


def invented(report: Any) -> bool:
    """Whether a grounding report has an unsupported mention the catalog does not know at all."""
    return any(not x.in_catalog and x.source != "list-item-uncited" for x in report.unsupported)


def regrade(
    path: Path, store: Any, catalog: Any, retrieve: Any, k: int, t5_dir: str | None, baseline: Path | None = None
) -> dict[str, Any]:
    """Re-ground the texts of a ``--dump`` file with the current grounding code, on the same evidence
    (retrieval is deterministic; the context is rebuilt with each backend's token budget, as ``ask``
    does), without generating again. Returns per backend the before/after hallucination figures;
    with ``baseline`` (another version of ``grounding.py``, e.g. ``git show HEAD~1:...``) also its
    ``baseline_halluc_before`` on the same texts and evidence."""
    base_mod = None
    if baseline is not None:
        import importlib.util

        spec = importlib.util.spec_from_file_location("baseline_grounding", baseline)
        assert spec is not None and spec.loader is not None
        base_mod = importlib.util.module_from_spec(spec)
        sys.modules["baseline_grounding"] = base_mod
        spec.loader.exec_module(base_mod)
        base_catalog = getattr(base_mod, "NameIndex", None) or base_mod.Catalog  # older versions: Catalog
        base_catalog = base_catalog.from_store(store)
    from musicgraph.rag.ask import OVERFETCH, refine_results
    from musicgraph.rag.context import build_context
    from musicgraph.rag.generators import load_generator
    from musicgraph.rag.grounding import ground
    from musicgraph.rag.mentions import evidence_artists

    rows: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    gens: dict[str, Any] = {}
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        backend, query = rec["backend"], rec["request"]
        if backend not in gens:
            gens[backend] = load_generator(backend, model=t5_dir if backend == "t5-local" else None)
        gen = gens[backend]
        results = refine_results(retrieve(query, max(k * OVERFETCH, k + 10)), k, store=store)
        ctx = build_context(results, store=store, budget=gen.context_budget(query), count_tokens=gen.count_tokens,
                            query=query)  # fmt: skip
        included = [c.result for c in ctx.candidates]
        m = rows[backend]
        if "included" in rec and [r.id for r in included] != rec["included"]:
            m["skipped_retrieval_changed"].append(1.0)  # the retriever changed since the dump: not comparable
            continue
        allowed = evidence_artists(included, query, catalog)
        before = ground(rec["generated"], included, catalog, allowed, [query])
        after = ground(rec["final"], included, catalog, allowed, [query])
        m["skipped_retrieval_changed"].append(0.0)
        m["halluc_before"].append(float(before.hallucinated))
        m["invented_before"].append(float(invented(before)))
        if before.mentions:
            m["mention_precision_before"].append(sum(x.supported for x in before.mentions) / len(before.mentions))
        m["halluc_after"].append(float(after.hallucinated))
        if base_mod is not None:
            old = base_mod.ground(rec["generated"], included, base_catalog, allowed, [query])
            m["baseline_halluc_before"].append(float(old.hallucinated))
            m["caught_only_now"].append(float(before.hallucinated and not old.hallucinated))
    return {b: {name: statistics.fmean(v) for name, v in m.items()} | {"n": len(m["halluc_before"])}
            for b, m in rows.items()}  # fmt: skip


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", type=Path, default=None, help="embedded store directory (default: configured)")
    ap.add_argument("--n", type=int, default=120, help="number of requests (≥100 for the README figures)")
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--backends", default="template,t5-local,smollm2")
    ap.add_argument("--t5-dir", default=None, help="t5-local model directory (default MUSICGRAPH_HOME/models/t5-local)")
    ap.add_argument("--limit", default="", help="per-backend request limits, e.g. smollm2=40")
    ap.add_argument("--retriever", choices=("default", "graph"), default="default")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--dump", type=Path, default=None, help="write one JSON line per answer (texts, unsupported)")
    ap.add_argument("--offset", type=int, default=0, help="skip the first requests (split a long run)")
    ap.add_argument("--regrade", type=Path, default=None,
                    help="re-ground the texts of this --dump file with the current code (no generation)")
    ap.add_argument("--baseline-grounding", type=Path, default=None,
                    help="with --regrade: another grounding.py to compare with on the same texts")  # fmt: skip
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: auto, 1 on a busy machine)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import torch

    from musicgraph.rag.t5_train import auto_threads

    torch.set_num_threads(args.threads or auto_threads())
    print(f"torch threads: {torch.get_num_threads()}")

    from musicgraph.graph import open_store
    from musicgraph.graph.embedded import EmbeddedStore
    from musicgraph.rag.ask import ask, default_retriever, graph_retriever
    from musicgraph.rag.base import GeneratorError
    from musicgraph.rag.generators import load_generator
    from musicgraph.rag.grounding import ground
    from musicgraph.rag.mentions import NameIndex, evidence_artists
    from musicgraph.rag.t5_train import rouge_l
    from musicgraph.rag.template import template_answer

    store = EmbeddedStore(args.store) if args.store else open_store()
    catalog = NameIndex.from_store(store)
    mood_names = {n.name.lower() for n in store.iter_nodes("Mood")}
    requests = build_requests(store, args.n)[: max(args.n, 0)]
    base = graph_retriever(store) if args.retriever == "graph" else default_retriever(store)
    cache: dict[tuple[str, int], list[Any]] = {}
    t = time.perf_counter()

    def cached(query: str, k: int = 10, **kw: Any) -> list[Any]:
        key = (query, k)
        if key not in cache:
            try:
                cache[key] = base(query, k)
            except ValueError as exc:
                log.warning("retrieval failed for %r: %s", query, exc)
                cache[key] = []
        import copy

        return copy.deepcopy(cache[key])

    for r in requests:  # warm the cache so backends see identical evidence and latency excludes retrieval
        cached(r["text"], max(args.k * 4, args.k + 10))
    print(f"{len(requests)} requests, retrieval {time.perf_counter() - t:.1f}s "
          f"({sum(1 for v in cache.values() if v)} with candidates)")  # fmt: skip
    if args.regrade:
        graded = regrade(args.regrade, store, catalog, cached, args.k, args.t5_dir, args.baseline_grounding)
        for name, row in graded.items():
            print(f"{name}: " + ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
        if args.out:
            args.out.write_text(json.dumps(graded, indent=2))
        return
    limits = dict(item.split("=") for item in args.limit.split(",") if "=" in item)
    dump = args.dump.open("a") if args.dump else None
    report: dict[str, Any] = {"requests": len(requests), "k": args.k, "backends": {}}
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        try:
            t = time.perf_counter()
            gen = load_generator(backend, model=args.t5_dir if backend == "t5-local" else None)
            load_s = time.perf_counter() - t
        except GeneratorError as exc:
            print(f"{backend}: skipped ({exc})")
            continue
        subset = requests[args.offset :][: int(limits.get(backend, len(requests)))]
        m: dict[str, list[float]] = defaultdict(list)
        for i, req in enumerate(subset):
            ans = ask(req["text"], k=args.k, generator=gen, retriever=cached, store=store, catalog=catalog)
            if not ans.recommendations:
                m["empty"].append(1.0)
                continue
            m["empty"].append(0.0)
            included = [c.result for c in ans.evidence.candidates]
            allowed = evidence_artists(included, ans.query, catalog)
            g = ans.grounding
            m["halluc_before"].append(float(g.hallucinated))
            m["invented_before"].append(float(invented(g)))
            mentions = g.mentions
            if mentions:
                m["mention_precision_before"].append(sum(x.supported for x in mentions) / len(mentions))
            after = ground(ans.text, included, catalog, allowed, [ans.query, ans.question])
            m["halluc_after"].append(float(after.hallucinated))
            ids = {c.id for c in ans.evidence.candidates}
            m["citation_precision"].append(sum(c in ids for c in ans.cited_ids) / max(1, len(ans.cited_ids)))
            m["cited"].append(len(ans.cited_ids))
            m["fallback"].append(float(ans.fallback))
            m["regenerated"].append(float(ans.regenerated))
            by_id = ans.evidence.by_id()
            true = total = 0
            for line in ans.text.splitlines():
                for x in ground(line, included, catalog, allowed, [ans.query, ans.question]).cited_ids:
                    a, b = stated_facts(line, by_id[x], mood_names)
                    true, total = true + a, total + b
            if total:
                m["faithfulness"].append(true / total)
            if req["mood"]:
                m["mood_match"].append(
                    sum(req["mood"] in [x.lower() for x in r.evidence.moods] for r in ans.recommendations)
                    / len(ans.recommendations)
                )
            m["rouge_l"].append(rouge_l(ans.text, template_answer(ans.query, ans.evidence)))
            m["latency_ms"].append(1000 * (ans.timings["total"] - ans.timings.get("retrieve", 0.0)))
            if dump is not None:
                dump.write(json.dumps({
                    "backend": backend, "request": req["text"], "generated": g.original, "final": ans.text,
                    "included": [c.id for c in ans.evidence.candidates],
                    "unsupported": [[x.kind, x.label(), x.in_catalog, x.source] for x in g.unsupported],
                    "regenerated": ans.regenerated, "fallback": ans.fallback, "cited": ans.cited_ids,
                    "latency_ms": m["latency_ms"][-1],
                }) + "\n")  # fmt: skip
                dump.flush()
            if (i + 1) % 20 == 0:
                print(f"  {backend}: {i + 1}/{len(subset)}", flush=True)
        row = {k: statistics.fmean(v) for k, v in m.items() if v and k != "latency_ms"}
        row.update(n=len(subset), answered=len(m["latency_ms"]), load_s=load_s,
                   p50_ms=pct(m["latency_ms"], 0.5), p95_ms=pct(m["latency_ms"], 0.95))  # fmt: skip
        report["backends"][backend] = row
        print(f"{backend}: " + ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    cols = ["n", "answered", "halluc_before", "invented_before", "halluc_after", "mention_precision_before", "citation_precision",
            "faithfulness", "mood_match", "rouge_l", "fallback", "p50_ms", "p95_ms"]  # fmt: skip
    print("\n| backend | " + " | ".join(cols) + " |\n|" + "---|" * (len(cols) + 1))
    for name, row in report["backends"].items():
        cells = [f"{row.get(c, float('nan')):.3f}" if isinstance(row.get(c), float) else str(row.get(c, "-"))
                 for c in cols]  # fmt: skip
        print(f"| {name} | " + " | ".join(cells) + " |")
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
