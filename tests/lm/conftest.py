"""Fixtures of the language-model tests: a tiny random Llama (same architecture as SmolLM2, a few
thousand parameters) with a byte-level BPE tokenizer trained on a few sentences, saved once per
session; the RAG tests' invented catalog store and retriever are reused."""

from __future__ import annotations

from pathlib import Path

import pytest
from rag.conftest import ARTISTS, SONGS, FakeRetriever, build_store, song_result, store  # noqa: F401

CORPUS = [
    "Request: sad songs for a rainy night\nEvidence:\n[1] The Velvet Foxes - Rain on Glass (2003) | mood: sad\nAnswer:\n",
    "Here are five picks for sad songs; most are sad.\n[1] has a sad mood and low energy.\nTry [2] for its calm mood.",
    "moods: sad, happy, calm, energetic, angry, relaxed | energy: low, high | year: 1980-1989 | like: Radiohead",
    "0 1 2 3 4 5 6 7 8 9 [1] [2] [3] [4] [5] [10] [12] ]: ]. ], The Velvet Foxes Moonlit Harbor Quiet Engines",
    "Sunny Side Up Glass Lanterns Golden Hour Northern Lights Paper Boats Low Tide Lullaby Static Hearts",
]


def make_tiny_model(folder: Path, layers: int = 2, hidden: int = 32) -> Path:
    """Save a random tiny Llama and its tokenizer into ``folder``; returns it."""
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(CORPUS * 3, vocab_size=400, min_frequency=1,
                            special_tokens=["<unk>", "<s>", "<|im_end|>"])  # fmt: skip
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, unk_token="<unk>", bos_token="<s>",
                                  eos_token="<|im_end|>", pad_token="<|im_end|>")  # fmt: skip
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                      tie_word_embeddings=True, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                      bos_token_id=tok.bos_token_id)  # fmt: skip
    model = LlamaForCausalLM(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """One intra-op thread: on a shared, oversubscribed CPU two spinning threads made these tiny
    models 10x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("tiny-llama"))
