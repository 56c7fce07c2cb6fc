"""Same answers before and after a change: this checkout against an earlier commit, same store, same run.

A refactoring (issue 20) must not change what users get. This command asks both versions the same
questions through the public library calls and compares every answer field by field:

* ``parse(text)``: the request a free-text query becomes (its JSON form);
* ``retrieve(text, k=10)``: the hybrid retriever (BM25, dense, graph operators, re-rank) on free text;
* ``search(text, retriever=...)`` for ``graph``, ``bm25`` and ``dense``;
* ``recommend(...)``: artist, user and tag seeds, songs and artists (the mix of ``bench_recommend.py``);
* ``ask(text, backend="template")``: the grounded answer text and its citations.

Each answer is its ranked ids, scores, explanation paths and evidence (``ask``: the text and the cited
ids). Ids, paths, evidence and texts must be identical; scores may differ by at most ``--tol``.
The peer's code is taken out of git (``git archive``) into a temporary directory; each side answers in
its own process. No timing is taken: this is not a speed benchmark.

    .venv/bin/python benchmarks/compare_behaviour.py --peer REV [--home DIR] [--recommend 60] [--json OUT]

Exit status 0 when every answer matches, 1 otherwise (the differences are printed).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_recommend import make_queries, peer_tree  # noqa: E402

WORKER = r"""
import json, sys
import musicgraph.api as api

def results(res):
    return [{"id": r.id, "kind": r.kind, "score": float(r.score),
             "paths": [p.as_list() for p in r.paths],
             "evidence": {k: list(v) for k, v in sorted(r.evidence.items())}} for r in res]

def answer(q):
    op = q["op"]
    if op == "parse":
        return json.loads(api.parse(q["text"]).model_dump_json())
    if op == "retrieve":
        return results(api.retrieve(q["text"], k=10))
    if op == "search":
        return results(api.search(q["text"], retriever=q["retriever"]))
    if op == "recommend":
        return results(api.recommend(**q["args"]))
    if op == "ask":
        a = api.ask(q["text"], k=5, backend="template")
        return {"text": a.text, "cited": list(a.cited_ids), "backend": a.backend}
    raise ValueError(op)

out = []
for line in sys.stdin:
    q = json.loads(line)
    try:
        out.append({"ok": answer(q)})
    except Exception as e:  # an error is an answer too: both sides must give the same one
        out.append({"error": f"{type(e).__name__}: {e}"})
json.dump(out, sys.stdout)
"""


def questions(home: Path, n_recommend: int) -> list[dict[str, Any]]:
    """Every question both sides answer, in order."""
    texts = [r["text"] for r in json.loads((ROOT / "benchmarks/evalsets/requests.json").read_text())]
    qs: list[dict[str, Any]] = [{"op": "parse", "text": t} for t in texts]
    qs += [{"op": "retrieve", "text": t} for t in texts]
    qs += [{"op": "search", "text": t, "retriever": r} for r in ("graph", "bm25", "dense") for t in texts[:10]]
    qs += [{"op": "recommend", "args": a} for a in make_queries(home, n_recommend, seed=1)]
    qs += [{"op": "ask", "text": t} for t in texts[:8]]
    return qs


def run_side(pythonpath: Path, env: dict[str, str], qs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The answers of the musicgraph found first on ``pythonpath``."""
    proc = subprocess.run([sys.executable, "-c", WORKER], input="\n".join(json.dumps(q) for q in qs) + "\n",
                          capture_output=True, text=True, env={**env, "PYTHONPATH": str(pythonpath)},
                          cwd=tempfile.gettempdir())
    if proc.returncode != 0:
        raise SystemExit(f"worker for {pythonpath} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout)


def differences(a: Any, b: Any, tol: float, where: str = "") -> list[str]:
    """Where ``a`` and ``b`` differ (floats within ``tol`` are equal)."""
    if isinstance(a, float) and isinstance(b, float):
        return [] if abs(a - b) <= tol else [f"{where}: {a!r} != {b!r}"]
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{where}.{k}: only on one side" for k in sorted(set(a) ^ set(b))]
        for k in sorted(set(a) & set(b)):
            out += differences(a[k], b[k], tol, f"{where}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{where}: length {len(a)} != {len(b)}"]
        out = []
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            out += differences(x, y, tol, f"{where}[{i}]")
        return out
    return [] if a == b else [f"{where}: {a!r} != {b!r}"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--peer", required=True, help="git revision to compare with (e.g. the commit before a refactor)")
    ap.add_argument("--home", type=Path, default=Path(os.environ.get("MUSICGRAPH_HOME", ".musicgraph")))
    ap.add_argument("--recommend", type=int, default=60, help="recommend() queries (default 60)")
    ap.add_argument("--tol", type=float, default=1e-6, help="largest score difference taken as equal")
    ap.add_argument("--json", type=Path, default=None, help="write the comparison here")
    args = ap.parse_args(argv)

    env = {**os.environ, "MUSICGRAPH_HOME": str(args.home.resolve())}
    qs = questions(args.home, args.recommend)
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "musicgraph"],
                                capture_output=True, text=True, check=True).stdout.strip())
    with tempfile.TemporaryDirectory() as tmp:
        peer = run_side(peer_tree(args.peer, Path(tmp)), env, qs)
    ours = run_side(ROOT, env, qs)

    per_op: dict[str, list[int]] = {}
    report = []
    for q, x, y in zip(qs, peer, ours, strict=True):
        diff = differences(x, y, args.tol)
        per_op.setdefault(q["op"], [0, 0])[0 if not diff else 1] += 1
        if diff:
            report.append({"question": q, "differences": diff[:10]})
    print(f"this checkout {head}{' (with uncommitted changes)' if dirty else ''} against {args.peer}, "
          f"{len(qs)} questions, home {args.home}")
    for op, (same, other) in per_op.items():
        print(f"  {op:<10} identical {same}/{same + other}")
    errors = sum(1 for x in ours if "error" in x)
    print(f"  answers that are errors (on this side): {errors}")
    for r in report[:20]:
        print(f"DIFFERENT {r['question']}:\n    " + "\n    ".join(r["differences"]))
    if args.json:
        args.json.write_text(json.dumps({"head": head, "dirty": dirty, "peer": args.peer, "questions": len(qs),
                                         "identical": {op: v[0] for op, v in per_op.items()},
                                         "different": report}, indent=1))
    return 1 if report else 0


if __name__ == "__main__":
    random.seed(0)
    raise SystemExit(main())
