from __future__ import annotations

import numpy as np
import pytest

from musicgraph.retrieval.dense import DenseIndex
from musicgraph.retrieval.index import IndexBundle, build_indexes


def test_bundle_roundtrip(index_dir, store) -> None:
    b = IndexBundle.load(index_dir)
    assert len(b.catalog) == 13 and b.sparse.num_docs == 13 and b.dense.size == 13
    assert b.manifest["store_version"] == store.version()
    row = b.catalog.row("adele|someone like you")
    assert b.emotions[row, -1] > 0  # text weight: it has lyrics
    assert "tears" in b.emotion_words[row] or "cry" in b.emotion_words[row]
    with pytest.raises(FileNotFoundError, match="index build"):
        IndexBundle.load(index_dir / "nope")


def test_bundle_without_bm25_keeps_the_catalog(index_dir) -> None:
    """``sparse=False`` (what the graph retriever loads) skips BM25 and FAISS, not the catalog."""
    full = IndexBundle.load(index_dir)
    lean = IndexBundle.load(index_dir, dense=False, sparse=False)
    assert lean.sparse is None and lean.dense is None and full.sparse is not None
    assert lean.catalog.keys == full.catalog.keys
    assert lean.emotion_words == full.emotion_words


def test_rebuild_keeps_rows_and_appends(tmp_path, vad, make_encoder, populate_store) -> None:
    from musicgraph.graph.embedded import EmbeddedStore

    s = EmbeddedStore(tmp_path / "s")
    populate_store(s)
    first = build_indexes(s, tmp_path / "i", encoder=make_encoder(), vad=vad, progress=False)
    s.upsert_nodes("Song", [("aaa|first", {"title": "First", "artist": "AAA"})])
    second = build_indexes(s, tmp_path / "i", encoder=make_encoder(), vad=vad, progress=False)
    assert second.catalog.keys[: len(first.catalog)] == first.catalog.keys
    assert second.catalog.keys[-1] == "aaa|first"


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivfpq"])
def test_dense_index_kinds_find_the_vector_itself(kind: str, tmp_path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 32)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ix = DenseIndex(kind=kind, pq_m=8, nlist=16, nprobe=16).build(x)
    _, rows = ix.search(x[:20], k=5)
    hit = np.mean(rows[:, 0] == np.arange(20))
    assert hit >= (1.0 if kind != "ivfpq" else 0.6)
    ix.save(tmp_path / "d.faiss")
    again = DenseIndex.load(tmp_path / "d.faiss")
    assert again.kind == kind and again.size == 2000
