"""Generative retrieval (semantic IDs) against the hybrid retriever on the same held-out requests.

Requests (built from the store at run time; the genrec model was trained on the visible halves only,
``musicgraph lm train --task genrec`` records them in ``holdout.json``):

* **mood** / **situation**: the evaluation's phrasings (``musicgraph.evaluation.tasks.evalsets``),
  judged by the held-out half of the songs' mood labels, answers restricted to the judged songs
  (genrec: a trie of their IDs; hybrid: the ``keys`` filter);
* **like**: "songs like X", judged by co-listening among the held-out half of the HetRec users
  (``benchmarks/evalsets/build.py``);
* **profile**: for held-out users, "music for someone who loves A, B and C" (their three most played
  artists), judged by the songs of their artists ranked 4-10 by plays.

Both systems see the held-out labels and users removed (hybrid: the hold-out index bundle and
``hidden_moods``/``hidden_users``). Metrics: Hit@10, NDCG@10 (binary), artist diversity of the 10,
intra-list distance (1 - mean cosine of the songs' MiniLM vectors) and the share of generated IDs
that are no catalog song (hallucination); genrec also without the trie, and after SFT only.

    MUSICGRAPH_HOME=... .venv/bin/python benchmarks/eval_genrec.py --out /tmp/genrec.json [--per-kind 40]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def profile_queries(store: Any, hidden_users: set[str], n: int, seed: int = 5) -> list[Any]:
    """Held-out users' profile requests and their gold (songs of the artists ranked 4-10)."""
    from musicgraph.evaluation.tasks.evalsets import EvalQuery
    from musicgraph.lm.genrec import GraphFacts, profile_text, user_profile

    keys = [n.key for n in store.iter_nodes("Song")]
    facts = GraphFacts.from_store(store, keys)
    rng = random.Random(seed)
    users = sorted(u for u in hidden_users if len(user_profile(facts, u)) >= 13)
    rng.shuffle(users)
    out = []
    for u in users[:n]:
        ranked = user_profile(facts, u)
        text = profile_text([facts.artist_names.get(a, a) for a in ranked[:3]], rng)
        relevant = {s for a in ranked[3:10] for s in facts.songs_by_artist[a]}
        out.append(EvalQuery("profile", text, relevant, target=u))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, default=None, help="genrec folder (default MUSICGRAPH_HOME/models/lm-genrec)")
    ap.add_argument("--per-kind", type=int, default=40, help="requests per kind at most")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--no-sft-row", action="store_true", help="skip the SFT-only evaluation")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import torch

    torch.set_num_threads(1)
    from benchmarks.evalsets.build import build as build_like
    from musicgraph.config import get_settings
    from musicgraph.evaluation.tasks.evalsets import build_mood_sets, holdout_bundle
    from musicgraph.evaluation.tasks.retrieval_common import ensure_dense
    from musicgraph.graph import open_store
    from musicgraph.lm.answer import task_dir
    from musicgraph.lm.genrec import GenerativeRetriever, ListMetrics
    from musicgraph.retrieval.hybrid import HybridRetriever
    from musicgraph.retrieval.index import IndexBundle, default_index_dir

    t0 = time.perf_counter()
    store = open_store()
    folder = args.model or task_dir("genrec")
    held = json.loads((folder / "holdout.json").read_text())
    hidden_moods, hidden_users = set(held["hidden_moods"]), set(held["hidden_users"])
    moods = build_mood_sets(store)
    like = build_like(store)
    assert moods.hidden_moods == hidden_moods, "the model was trained with another mood-label split"
    assert like.hidden_users <= hidden_users, "the like requests are judged by users the model saw"
    rng = random.Random(3)
    queries: list[Any] = []
    for kind in ("mood", "situation"):
        qs = [q for q in moods.queries if q.kind == kind]
        queries += rng.sample(qs, min(args.per_kind, len(qs)))
    qs = [q for q in like.queries if q.kind == "like"]
    queries += rng.sample(qs, min(args.per_kind, len(qs)))
    queries += profile_queries(store, hidden_users, args.per_kind)
    bundle, _ = ensure_dense(IndexBundle.load(default_index_dir()))
    bundle, reason = holdout_bundle(store, bundle, hidden_moods, cache=get_settings().models_dir / "cache")
    if reason:
        raise SystemExit(reason)
    hybrid = HybridRetriever(store, bundle=bundle, hidden_moods=hidden_moods, hidden_users=hidden_users)
    cat = bundle.catalog
    artist_of = {k: a for k, a in zip(cat.keys, cat.artist_keys, strict=True)}
    vecs = np.asarray(bundle.dense.vectors, dtype=np.float32)
    vectors = {k: vecs[i] for i, k in enumerate(cat.keys)}
    print(f"{len(queries)} requests; prepared in {time.perf_counter() - t0:.0f}s; load {os.getloadavg()}", flush=True)

    systems: dict[str, Any] = {}
    gen = GenerativeRetriever(folder)
    systems["genrec (SFT+DPO, trie)"] = lambda q: [gen.ids.key_of(c) for c, _ in gen.generate(q.text, 10, pool=q.pool)]
    systems["genrec, no trie"] = lambda q: [gen.ids.key_of(c) for c, _ in gen.generate(q.text, 10, constrained=False)]
    if not args.no_sft_row and (folder / "sft" / "checkpoint" / "state.pt").is_file():
        sft = GenerativeRetriever(folder, stage="sft")
        systems["genrec (SFT only, trie)"] = lambda q: [sft.ids.key_of(c) for c, _ in sft.generate(q.text, 10, pool=q.pool)]

    def hybrid_run(q: Any) -> list[str | None]:
        filters = {"keys": q.pool} if q.pool is not None else None
        try:
            return [r.id for r in hybrid.retrieve(q.text, k=10, filters=filters)]
        except (ValueError, LookupError):  # a request it cannot answer (RequestError, unknown names): no list
            return []

    systems = {"hybrid": hybrid_run, **systems}
    report: dict[str, Any] = {"requests": {}, "systems": {}, "load_start": os.getloadavg()}
    for q in queries:
        report["requests"][q.kind] = report["requests"].get(q.kind, 0) + 1
    for name, run in systems.items():
        t = time.perf_counter()
        per_kind: dict[str, ListMetrics] = {}
        allm = ListMetrics()
        for q in queries:
            ranked = run(q)
            for m in (per_kind.setdefault(q.kind, ListMetrics()), allm):
                m.add(ranked, q.relevant, 10, artist_of, vectors)
        secs = time.perf_counter() - t
        report["systems"][name] = {"all": allm.summary(), **{k: v.summary() for k, v in per_kind.items()},
                                   "ms_per_request": round(1000 * secs / max(1, len(queries)), 1)}  # fmt: skip
        print(name, json.dumps(report["systems"][name]), flush=True)
    kinds = ["mood", "situation", "like", "profile", "all"]
    print("\n| system | " + " | ".join(f"{k} Hit@10 / NDCG@10" for k in kinds) + " | diversity (artists / ILD) | invalid IDs | ms/request |")
    print("|---|" + "---|" * (len(kinds) + 3))
    for name, row in report["systems"].items():
        cells = [f"{row[k]['hit@10']:.3f} / {row[k]['ndcg@10']:.3f}" if k in row else "-" for k in kinds]
        a = row["all"]
        print(f"| {name} | " + " | ".join(cells) + f" | {a['artist_diversity']:.2f} / {a['intra_list_distance']:.2f} | "
              f"{a['invalid_rate']:.3f} | {row['ms_per_request']} |")
    info = json.loads((folder / "training_info.json").read_text()) if (folder / "training_info.json").is_file() else {}
    report["semantic_ids"] = info.get("semantic_ids")
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
