"""The MiniLM encoder is semantic, and its single-query fast paths agree with the sentence-transformers pipeline."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from musicgraph.retrieval.encoder import Encoder

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


DOCS = ['"Karma Police" by Radiohead. Album: OK Computer. Released 1997. low energy (0.41), minor key.',
        "rock", "", '"Get Lucky" by Daft Punk. ' + "Tags: disco, funk, electronic. " * 40,  # cut at 128 tokens
        "sad songs for a rainy night", '"Someone Like You" by Adele. Moods: sad. Lyrics about: love, time.']


def doc_encoder(model, precision: str, tmp_path) -> Encoder:
    enc = Encoder(model=model)
    enc.onnx_dir = tmp_path
    enc.doc_precision = precision
    return enc


@pytest.mark.skipif(not (importlib.util.find_spec("onnxruntime") and importlib.util.find_spec("onnx")),
                    reason="onnxruntime/onnx not installed: documents go through the pipeline")
def test_document_encoder_fp32_matches_pipeline_and_int8_is_close(model, tmp_path) -> None:
    pipeline = Encoder(model=model).encode(DOCS)
    fp32 = doc_encoder(model, "fp32", tmp_path)
    done: list[int] = []
    got = fp32.encode_documents(DOCS, batch_size=2, on_batch=done.append)
    assert fp32._doc_runner() is not None and done[-1] == len(DOCS) and done == sorted(done)
    # rows come back in input order although batches are length-sorted; only the long text differs
    # (cut at 128 tokens instead of the pipeline's 256)
    short = [i for i in range(len(DOCS)) if i != 3]
    np.testing.assert_allclose(got[short], pipeline[short], atol=1e-5)
    assert float(got[3] @ pipeline[3]) > 0.95
    assert list(tmp_path.glob("document-encoder-*.onnx"))
    int8 = doc_encoder(model, "int8", tmp_path)
    q = int8.encode_documents(DOCS)
    assert int8._doc_runner() is not None and list(tmp_path.glob("document-encoder-*.int8.onnx"))
    cos = (q * got).sum(axis=1)
    assert cos.min() > 0.95 and np.allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-5)


@pytest.mark.skipif(not (importlib.util.find_spec("onnxruntime") and importlib.util.find_spec("onnx")
                         and importlib.util.find_spec("onnx_ir")),
                    reason="onnxruntime/onnx/onnx_ir not installed: no MatMulNBits quantizer")
def test_document_encoder_int8_block_is_closer_than_int8_and_cached(model, tmp_path, monkeypatch) -> None:
    import onnx

    from musicgraph.retrieval import encoder as encoder_module

    fp32 = doc_encoder(model, "fp32", tmp_path).encode_documents(DOCS)
    block = doc_encoder(model, "int8-block", tmp_path)
    got = block.encode_documents(DOCS)
    assert block._doc_runner() is not None
    files = list(tmp_path.glob("document-encoder-*.int8-block.onnx"))
    assert len(files) == 1 and not list(tmp_path.glob("*.tmp.onnx"))
    ops = {n.op_type for n in onnx.load(str(files[0]), load_external_data=False).graph.node}
    assert "MatMulNBits" in ops  # the weight MatMuls were replaced, not left in fp32
    cos_block = (got * fp32).sum(axis=1)
    assert cos_block.min() > 0.995 and np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    int8 = doc_encoder(model, "int8", tmp_path).encode_documents(DOCS)
    # per-block activation scales: closer to fp32 than one scale per batch
    assert float(cos_block.mean()) > float((int8 * fp32).sum(axis=1).mean())

    def no_quantize(*args: object) -> None:
        raise AssertionError("quantized again although the model file is cached")

    # a second encoder reuses the cached file: quantizing again would fail here
    monkeypatch.setattr(encoder_module, "_quantize", no_quantize)
    again = doc_encoder(model, "int8-block", tmp_path)
    np.testing.assert_allclose(again.encode_documents(DOCS), got, atol=1e-6)


def test_quantize_rejects_an_unknown_precision(tmp_path) -> None:
    from musicgraph.retrieval.encoder import _quantize

    with pytest.raises(ValueError, match="int4"):
        _quantize(tmp_path / "a.onnx", tmp_path / "b.onnx", "int4")
    assert not list(tmp_path.iterdir())


def test_document_encoder_pipeline_setting(model, tmp_path, monkeypatch) -> None:
    from musicgraph.config import reset_settings

    monkeypatch.setenv("MUSICGRAPH_DENSE_PRECISION", "pipeline")
    reset_settings()
    try:
        enc = Encoder(model=model)
        enc.onnx_dir = tmp_path
        assert enc.document_precision == "pipeline"
        np.testing.assert_allclose(enc.encode_documents(DOCS[:2]), Encoder(model=model).encode(DOCS[:2]), atol=1e-6)
        assert enc._doc_runner() is None and not list(tmp_path.glob("document-encoder-*"))
        assert enc.encode_documents([]).shape == (0, enc.dim)
    finally:
        monkeypatch.delenv("MUSICGRAPH_DENSE_PRECISION")
        reset_settings()


def test_minilm_encoder_is_semantic() -> None:
    v = Encoder(device="cpu").encode(["a sad song about tears", "melancholic heartbreak ballad", "loud party anthem"])
    assert v.shape == (3, 384)
    assert float(v[0] @ v[1]) > float(v[0] @ v[2])


def test_hashing_encoder_is_deterministic_and_unit_length() -> None:
    from musicgraph.retrieval.encoder import HashingEncoder

    enc = HashingEncoder(dim=16)
    a = enc.encode(["sad rain night", "sad rain night", "!!!"])
    assert a.shape == (3, 16) and np.allclose(np.linalg.norm(a, axis=1), 1.0)
    assert np.array_equal(a[0], a[1])
    assert a[2, 0] == 1.0 and enc.calls == 1  # a text without words: the first basis vector
