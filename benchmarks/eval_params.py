"""Request parameters: the fine-tuned SmolLM2 slot writer against the lexicon parser on held-out requests.

Sets (built at run time from :mod:`musicgraph.lm.params`; the model never saw them):

* **held-out families**: sentence shapes never trained on (questions, long-winded, terse lower case),
  with artist names never used in training;
* **trained families, new names**: the trained sentence shapes with artist names never used in training;
* **hand-written**: the 25 requests of ``benchmarks/evalsets/requests.json`` with their own expected
  items (written for the lexicon parser before this model existed), scored with
  ``benchmarks/compare_parsers.py``'s rule;
* **paraphrase benchmark** (``--paraphrase-n``): the phrasing families of the request-model issue
  (``musicgraph/evaluation/requests/{tuned,heldout,heldout2}.toml``, gold structured requests
  written with the families), scored with its metrics (:mod:`musicgraph.evaluation.paraphrase`:
  exact match and per-slot F1). The model's slots become a request with
  :func:`musicgraph.lm.params.params_request`; slots it has no words for (kind, count, relations
  other than "like", albums, playlists) count against it.

Metrics of the composed sets: per-slot F1 (moods, excluded moods, *stated* features as name=level,
era, like-artists, excluded artists, genres) and request exact match; the gold comes from the
composition, not from either parser. The lexicon parser is the project's request parser
(:class:`musicgraph.retrieval.parser.RequestParser`, the hybrid retriever's, with the catalog's
entity linker), its requests read back with :func:`musicgraph.lm.params.request_params`.

    MUSICGRAPH_HOME=... .venv/bin/python benchmarks/eval_params.py --n 150 --paraphrase-n 4 --out /tmp/params.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def as_parsed(params: dict[str, Any], text: str) -> Any:
    """A parameter dict as a :class:`ParsedQuery` (for the hand-written set's scorer)."""
    from musicgraph.retrieval.query import ParsedQuery, Seed

    q = ParsedQuery(text=text, parser="lm")
    q.seeds = [Seed("Artist", s.lower(), s, s.lower()) for s in params["seeds"]]
    q.exclude = [Seed("Artist", s.lower(), s, s.lower()) for s in params["filters"].get("exclude_artists", [])]
    q.moods = list(params["moods"])
    q.exclude_moods = list(params["exclude_moods"])
    for name, f in params["features"].items():
        lo, hi = f["range"]
        q.features[name] = (lo, hi)
    if "year" in params["filters"]:
        y = params["filters"]["year"]
        q.features["year"] = tuple(None if v is None else float(v) for v in y)  # an open end stays open
    return q


def paraphrase(store: Any, model: Any, lexicon: Any, n_per_family: int) -> dict[str, Any]:
    """Both parsers on the paraphrase benchmark's families (its generator, gold and metrics)."""
    from musicgraph.evaluation import paraphrase as P
    from musicgraph.retrieval.index import IndexBundle, default_index_dir

    families = P.load_families()
    for extra in ("heldout.toml", "heldout2.toml"):
        families += P.load_families(P.tuned_families_path().with_name(extra))
    pool = P.SlotPool.from_store(store, IndexBundle.load(default_index_dir()).catalog)
    items = P.generate(families, pool, n_per_family, seed=0)

    class LmParser:
        parse = staticmethod(model.parse_request)

    out: dict[str, Any] = {"items": len(items), "families": len(families), "groups": {}}
    for name, parser in (("lm", LmParser()), ("lexicon", lexicon)):
        t = time.perf_counter()
        judged = P.parse_all(parser, items)
        ms = 1000 * (time.perf_counter() - t) / max(1, len(items))
        groups = sorted({j.item.group for j in judged})
        for g in groups:
            sc = P.score([j for j in judged if j.item.group == g])
            out["groups"].setdefault(g, {})[name] = {**sc, "ms_per_request": round(ms, 1)}
    slots = list(P.SLOT_NAMES)
    print(f"\nparaphrase benchmark ({len(items)} requests, {len(families)} families, {n_per_family} per family):")
    print("| group | parser | items | exact match | mean slot F1 | " + " | ".join(f"F1 {s}" for s in slots) + " |")
    print("|---|---|---|---|---|" + "---|" * len(slots))
    for g, row in out["groups"].items():
        for parser_name, r in row.items():
            cells = [f"{r['slots'][s]['f1']:.3f}" if s in r["slots"] else "-" for s in slots]
            print(f"| {g} | {parser_name} | {r['n']} | {r['exact_match']:.3f} | {r['mean_slot_f1']:.3f} | "
                  + " | ".join(cells) + " |")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=150, help="requests per composed set")
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--show", type=int, default=0)
    ap.add_argument("--int8", action="store_true", help="run the model with dynamic int8 linear layers")
    ap.add_argument("--paraphrase-n", type=int, default=4, help="items per paraphrase family (0: skip)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import torch

    torch.set_num_threads(1)
    from benchmarks.compare_parsers import score as handwritten_score
    from musicgraph.graph import open_store
    from musicgraph.lm.params import (
        ParamsModel,
        catalog_names,
        make_examples,
        parse_slots,
        request_params,
        slot_scores,
        split_names,
    )
    from musicgraph.retrieval.retriever import get_retriever

    store = open_store()
    artists, genres = catalog_names(store)
    _, held_names = split_names(artists)
    pool = make_examples(held_names, genres, args.n * 6, seed=99)
    sets = {"held-out families": [e for e in pool if e.held_out][: args.n],
            "trained families, new names": [e for e in pool if not e.held_out][: args.n]}  # fmt: skip
    lexicon = get_retriever(store).parser
    t = time.perf_counter()
    model = ParamsModel(args.model, quantize=args.int8)
    print(f"model loaded in {time.perf_counter() - t:.1f}s, load {os.getloadavg()}", flush=True)
    report: dict[str, Any] = {"load_start": os.getloadavg(), "sets": {}}
    for name, examples in sets.items():
        gold = [parse_slots(e.target) for e in examples]
        t = time.perf_counter()
        lm_out = [model.parse(e.text) for e in examples]
        lm_ms = 1000 * (time.perf_counter() - t) / max(1, len(examples))
        t = time.perf_counter()
        lex_out = [request_params(lexicon.parse(e.text)) for e in examples]
        lex_ms = 1000 * (time.perf_counter() - t) / max(1, len(examples))
        report["sets"][name] = {"requests": len(examples),
                                "lm": {**slot_scores(gold, lm_out), "ms_per_request": round(lm_ms, 1)},
                                "lexicon": {**slot_scores(gold, lex_out), "ms_per_request": round(lex_ms, 2)}}  # fmt: skip
        print(name, json.dumps(report["sets"][name]), flush=True)
        for e, p in list(zip(examples, lm_out, strict=True))[: args.show]:
            print(f"  {e.text!r}\n    gold {e.target}\n    lm   {model.line(e.text)}\n    slots {p}")
    requests = json.loads((ROOT / "benchmarks" / "evalsets" / "requests.json").read_text())
    hand: dict[str, list[int]] = {"lm": [0, 0], "lexicon": [0, 0]}
    for req in requests:
        for name, params in (("lm", model.parse(req["text"])), ("lexicon", request_params(lexicon.parse(req["text"])))):
            parsed = as_parsed(params, req["text"])
            got, total, _ = handwritten_score(parsed, req["expect"])
            hand[name][0] += got
            hand[name][1] += total
    report["hand-written"] = {k: {"matched": g, "expected": n, "share": round(g / max(1, n), 4)} for k, (g, n) in hand.items()}
    print("hand-written", json.dumps(report["hand-written"]), flush=True)
    slots = ["moods", "exclude_moods", "features", "year", "seeds", "exclude", "genres"]
    print("\n| set | parser | exact match | " + " | ".join(f"F1 {s}" for s in slots) + " | ms/request |")
    print("|---|---|---|" + "---|" * (len(slots) + 1))
    for name, row in report["sets"].items():
        for parser in ("lm", "lexicon"):
            r = row[parser]
            cells = [f"{r['slots'][s]['f1']:.3f}" if s in r["slots"] else "-" for s in slots]
            print(f"| {name} ({row['requests']}) | {parser} | {r['exact_match']:.3f} | " + " | ".join(cells) + f" | {r['ms_per_request']} |")
    if args.paraphrase_n:
        report["paraphrase"] = paraphrase(store, model, lexicon, args.paraphrase_n)
    report["load_end"] = os.getloadavg()
    print(f"load average at the end {report['load_end']}")
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
