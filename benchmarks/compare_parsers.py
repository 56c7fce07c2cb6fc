"""Score request parsers on the hand-written requests of ``evalsets/requests.json``.

For every request the expected seeds, exclusions, moods, excluded moods and feature directions are
compared with the parse: each expected item counts 1 when matched (a feature matches when its
bounds point the same way and are within 0.15 / 15 BPM / 10 dB / 20 popularity / 5 years).

    .venv/bin/python benchmarks/compare_parsers.py [--store DIR] [--index DIR] [--llm module:function]

``--llm`` names a ``generate(prompt) -> str`` callable (e.g. the RAG issue's small offline model); without
it only the deterministic lexicon parser is scored.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from musicgraph.graph.embedded import EmbeddedStore  # noqa: E402
from musicgraph.retrieval.index import IndexBundle  # noqa: E402
from musicgraph.retrieval.query import LLMParser, ParsedQuery  # noqa: E402
from musicgraph.retrieval.retriever import HybridRetriever  # noqa: E402

TOL = {"tempo": 15, "loudness": 10, "popularity": 20, "year": 5}


def score(q: ParsedQuery, expect: dict) -> tuple[int, int, list[str]]:
    got, total, misses = 0, 0, []
    names = {s.name.lower() for s in q.seeds}
    excl = {s.name.lower() for s in q.exclude}
    for what, have in (("seeds", names), ("exclude", excl), ("moods", set(q.moods)), ("exclude_moods", set(q.exclude_moods))):
        for item in expect.get(what, []):
            total += 1
            if item.lower() in have:
                got += 1
            else:
                misses.append(f"{what}:{item}")
    for feat, (lo, hi) in expect.get("features", {}).items():
        total += 1
        tol = TOL.get(feat, 0.15)
        have = q.features.get(feat)
        ok = have is not None and all(
            (e is None) == (h is None) and (e is None or abs(e - h) <= tol) for e, h in zip((lo, hi), have, strict=True))
        got += ok
        if not ok:
            misses.append(f"{feat}:{have}")
    return got, total, misses


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", type=Path, default=Path(".musicgraph/stores/default"))
    ap.add_argument("--index", type=Path, default=Path(".musicgraph/indexes/default"))
    ap.add_argument("--llm", default=None, help="module:function of a generate(prompt) -> str callable")
    args = ap.parse_args()
    requests = json.loads((Path(__file__).parent / "evalsets" / "requests.json").read_text())
    r = HybridRetriever(EmbeddedStore(args.store), bundle=IndexBundle.load(args.index, dense=False))
    parsers = {"lexicon": r.parser}
    if args.llm:
        mod, fn = args.llm.split(":")
        parsers["llm"] = LLMParser(getattr(importlib.import_module(mod), fn), r.linker, r.parser)
    for name, parser in parsers.items():
        got = total = fell_back = 0
        start = time.perf_counter()
        for req in requests:
            parsed = parser.parse(req["text"])
            fell_back += any("used the lexicon parser" in n for n in parsed.notes)
            g, t, misses = score(parsed, req["expect"])
            got, total = got + g, total + t
            if misses:
                print(f"  [{name}] {req['text']!r}: missed {misses}")
        per = (time.perf_counter() - start) / len(requests)
        print(f"{name}: {got}/{total} expected items ({got / total:.1%}) over {len(requests)} requests; "
              f"{per * 1000:.0f} ms/request" + (f"; unusable output (lexicon fallback) on {fell_back}" if name != "lexicon" else ""))


if __name__ == "__main__":
    main()
