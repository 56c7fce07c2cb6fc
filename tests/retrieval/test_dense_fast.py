"""The single-query fast paths of the MiniLM encoder agree with the sentence-transformers pipeline."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from musicgraph.retrieval.dense import Encoder

QUERIES = ["sad songs for a rainy night", "upbeat road trip songs like Daft Punk", "rock",
           "calm instrumental piano music for studying late at night, no vocals " * 30]  # the last is truncated


@pytest.fixture(scope="module")
def model():
    return Encoder(device="cpu").model


def fast_encoder(model, kind: str, tmp_path) -> Encoder:
    enc = Encoder(model=model)
    enc.fast_queries = kind
    enc.onnx_dir = tmp_path
    enc.query_cache_size = 0
    return enc


@pytest.mark.parametrize("kind", ["torchscript", "onnx"])
def test_fast_path_matches_pipeline(model, kind: str, tmp_path) -> None:
    if kind == "onnx" and not (importlib.util.find_spec("onnxruntime") and importlib.util.find_spec("onnx")):
        pytest.skip("onnxruntime/onnx not installed: the torchscript path is used instead")
    enc = fast_encoder(model, kind, tmp_path)
    assert enc.fast_path == kind
    pipeline = Encoder(model=model).encode(QUERIES)
    got = np.stack([enc.encode_query(q) for q in QUERIES])
    np.testing.assert_allclose(got, pipeline, atol=1e-5)
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    if kind == "onnx":
        assert list(tmp_path.glob("query-encoder-*.onnx"))  # exported once, reused by a new encoder
        assert fast_encoder(model, kind, tmp_path).fast_path == "onnx"


def test_query_cache_and_pipeline_fallback(model, tmp_path) -> None:
    enc = fast_encoder(model, "none", tmp_path)
    enc.query_cache_size = 2
    assert enc.fast_path == "pipeline"
    a = enc.encode_query("rock")
    assert enc.encode_query("rock") is a and not a.flags.writeable
    enc.encode_query("pop")
    enc.encode_query("jazz")  # evicts "rock"
    assert "rock" not in enc._qcache and len(enc._qcache) == 2
    np.testing.assert_allclose(enc.encode_query("rock"), a)
