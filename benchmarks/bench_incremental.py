"""Incremental change vs full rebuild of the retrieval indexes (ratio within one run).

Copies a store and its index directory to a temp dir (never writes the originals), then times:
adding N songs / deleting N songs through :class:`CatalogEditor` with incremental index updates,
against ``build_indexes`` from scratch over the same final store. Dense encoding uses a hashed
bag-of-words encoder by default (``--minilm`` for the real encoder; the full rebuild then re-encodes
every song, which is what incremental updates avoid).

    .venv/bin/python benchmarks/bench_incremental.py --store .musicgraph/stores/default \
        --index .musicgraph/indexes/default --n 20 --no-dense
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from musicgraph.retrieval.encoder import HashingEncoder


def main() -> None:
    from musicgraph.graph import EmbeddedStore
    from musicgraph.graph.catalog import CatalogEditor
    from musicgraph.retrieval.incremental import RetrievalIndexes
    from musicgraph.retrieval.index import build_indexes

    ap = argparse.ArgumentParser()
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--index", type=Path, help="existing index dir (default: build one first, timed)")
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--no-dense", action="store_true")
    ap.add_argument("--minilm", action="store_true")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-inc-"))
    try:
        shutil.copytree(a.store, tmp / "store")
        store = EmbeddedStore(tmp / "store")
        enc = None if a.minilm else HashingEncoder(dim=384)
        dense = not a.no_dense
        if a.index:
            shutil.copytree(a.index, tmp / "idx")
            if not dense:
                for f in ("dense.faiss", "dense.vectors.npy", "dense.labels.npy"):
                    (tmp / "idx" / f).unlink(missing_ok=True)
        else:
            build_indexes(store, tmp / "idx", dense=dense, encoder=enc, progress=False)
        ed = CatalogEditor(store, [RetrievalIndexes(tmp / "idx", encoder=enc)])
        songs = [{"artist": f"Bench Artist {i % 5}", "title": f"Bench Song {i}", "year": 2000 + i % 20,
                  "genres": ["bench"], "lyrics": f"bench lyric number {i} about rain and night"} for i in range(a.n)]
        t0 = time.perf_counter()
        cs = ed.add_songs(songs)
        t_add = time.perf_counter() - t0
        victims = sorted(store.node_keys("Song"))[: a.n]
        t0 = time.perf_counter()
        ed.delete_songs(victims)
        t_del = time.perf_counter() - t0
        t0 = time.perf_counter()
        build_indexes(store, tmp / "full", dense=dense, encoder=enc, progress=False)
        t_full = time.perf_counter() - t0
        n = store.count_nodes()["Song"]
        print(f"songs {n}, dense {'minilm' if a.minilm else 'hash' if dense else 'off'}")
        print(f"add {a.n} songs (store + indexes): {t_add:.2f}s  {cs.indexes}")
        print(f"delete {a.n} songs (store + indexes): {t_del:.2f}s")
        print(f"full rebuild: {t_full:.2f}s  -> add x{t_full / t_add:.1f} faster, delete x{t_full / t_del:.1f} faster")
        store.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
