from __future__ import annotations

import json
import re

from musicgraph.rag.ask import ask
from musicgraph.rag.context import build_context
from musicgraph.rag.generators import clear_cache, load_generator
from musicgraph.rag.grounding import ground
from musicgraph.rag.t5_pairs import make_pairs
from musicgraph.rag.t5_train import FinetuneConfig, finetune, rouge_l
from musicgraph.rag.template import expand_pointers

from .conftest import song_result


def test_rouge_l():
    assert rouge_l("a b c d", "a b c d") == 1.0
    assert rouge_l("a x c", "a b c") == 2 / 3
    assert rouge_l("", "a") == 0.0


def test_pairs_come_from_the_graph_and_point_at_their_candidates(store):
    pairs = make_pairs(store, n=30, seed=1)
    assert len(pairs) == 30
    assert len({src for src, _ in pairs}) > 20  # varied requests and candidates
    for src, target in pairs:
        assert src.startswith("Recommend songs for the request") and "Request: " in src
        lines = target.splitlines()
        assert lines[0] == "Picks:"
        for line in lines[1:]:  # "1. [2]: reasons" pointing at a candidate of its own input
            number = int(re.match(r"^\d+\. \[(\d+)\]: ", line).group(1))
            assert f"\n[{number}] " in src


def test_expand_pointers(store):
    ctx = build_context([song_result(1, "velvet foxes|rain on glass"), song_result(2, "quiet engines|static hearts")],
                        store=store)  # fmt: skip
    text, invalid = expand_pointers("Picks:\n1. [2]: sad mood.\n2. [7]: invented.\n3. [1]: low energy.", "sad", ctx)
    assert invalid == 1
    assert text == ('Picks for "sad":\n1. Quiet Engines - Static Hearts (1999): sad mood.\n'
                    "3. The Velvet Foxes - Rain on Glass (2003): low energy.")  # fmt: skip


def test_finetune_tiny_saves_a_loadable_model(store, tmp_path, retriever):
    cfg = FinetuneConfig(pairs=24, d_model=32, d_ff=64, num_layers=1, num_heads=2, vocab_size=300, epochs=1,
                         batch_size=8, eval_samples=1, threads=1)  # fmt: skip
    out = tmp_path / "t5-local"
    info = finetune(store, out, cfg, progress=False)
    assert info["steps"] == info["planned_steps"] > 0 and info["pairs"] == 24
    assert json.loads((out / "training_info.json").read_text())["parameters"] == info["parameters"]
    clear_cache()
    gen = load_generator("t5-local", model=str(out))
    assert gen.name == "t5-local" and gen.max_input_tokens <= 384 and gen.pointer_format
    answer = ask("sad songs", k=2, retriever=retriever, store=store, generator=gen)
    assert answer.cited_ids and set(answer.cited_ids) <= {r.id for r in retriever.search("sad songs", k=2)}
    assert not ground(answer.text, [r.result for r in answer.recommendations]).hallucinated
    clear_cache()
