from __future__ import annotations

import numpy as np
import pytest
import torch

from musicgraph.gnn.embed import GnnIndex, build_index, load_embeddings, write_embeddings
from musicgraph.graph.schema import NodeRef


def _emb(store, dim=8, seed=0):
    rng = np.random.default_rng(seed)
    artists = [n.key for n in store.iter_nodes("Artist")]
    tags = [n.key for n in store.iter_nodes("Tag")]
    return {
        "Artist": (artists + ["not in store"], rng.normal(size=(len(artists) + 1, dim)).astype(np.float32)),
        "Tag": (tags, rng.normal(size=(len(tags), dim)).astype(np.float32)),
    }


def test_write_embeddings_sets_property_and_index(store, tmp_path):
    emb = _emb(store)
    report = write_embeddings(store, emb, out_dir=tmp_path / "idx", progress=False)
    assert report.nodes == {"Artist": 40, "Tag": 8} and report.skipped == {"Artist": 1, "Tag": 0}
    node = store.get_node("Artist", "artist 03")
    want = emb["Artist"][1][emb["Artist"][0].index("artist 03")]
    assert np.allclose(node.props["embedding"], want, atol=1e-6)
    assert node.props["name"] == "Artist 03"  # other properties untouched
    idx = GnnIndex.load(tmp_path / "idx")
    assert len(idx) == 48
    hits = idx.search(want, k=1)[0]
    assert hits[0][0] == NodeRef("Artist", "artist 03") and hits[0][1] == pytest.approx(1.0, abs=1e-5)
    sim = idx.similar([NodeRef("Artist", "artist 03")], k=5, label="Artist")
    assert len(sim) == 5 and all(r.label == "Artist" and r.key != "artist 03" for r, _ in sim)
    assert [s for _, s in sim] == sorted((s for _, s in sim), reverse=True)


def test_re_embedding_replaces_vectors_instead_of_unioning(store, tmp_path):
    write_embeddings(store, _emb(store, seed=1), progress=False)
    second = _emb(store, seed=2)
    write_embeddings(store, second, progress=False)
    node = store.get_node("Tag", "tag1")
    assert len(node.props["embedding"]) == 8
    assert np.allclose(node.props["embedding"], second["Tag"][1][second["Tag"][0].index("tag1")], atol=1e-6)


def test_repeated_floats_are_kept_exactly(store):
    vec = np.array([0.5, 0.5, 0.0, 0.0, 1.0], dtype=np.float32)
    write_embeddings(store, {"Tag": (["tag0"], vec[None, :])}, progress=False)
    assert store.get_node("Tag", "tag0").props["embedding"] == [0.5, 0.5, 0.0, 0.0, 1.0]  # a vector, not a set


def test_load_embeddings_from_run(tmp_path):
    torch.save({"embeddings": {"Artist": (["a", "b"], torch.ones(2, 3))}, "dim": 3}, tmp_path / "embeddings.pt")
    emb = load_embeddings(tmp_path)
    assert emb["Artist"][0] == ["a", "b"] and emb["Artist"][1].shape == (2, 3)
    with pytest.raises(FileNotFoundError, match="no embeddings"):
        load_embeddings(tmp_path / "missing")


def test_build_index_checks_lengths(tmp_path):
    with pytest.raises(ValueError):
        build_index(np.zeros((2, 4), np.float32), [["Artist", "a"]], tmp_path)
