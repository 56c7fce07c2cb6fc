from __future__ import annotations

import torch

from musicgraph.lm.sft import IGNORE, collate, encode_pairs, make_batches, sft_loss, target_logprobs
from musicgraph.lm.weights import load_base

PAIRS = [("Request: sad songs\nAnswer:\n", "[1] has a sad mood."), ("Request: happy\nAnswer:\n", "Try [2].")]


def test_labels_cover_only_the_target(tiny_model_dir):
    _, tok = load_base(directory=tiny_model_dir)
    items = encode_pairs(tok, PAIRS)
    batch = collate(items, tok.pad_token_id)
    for row, e in enumerate(items):
        labels = batch["labels"][row]
        assert (labels[: len(e.prompt)] == IGNORE).all()
        assert labels[len(e.prompt) : len(e)].tolist() == e.target
        assert e.target[-1] == tok.eos_token_id
        assert (labels[len(e) :] == IGNORE).all() and batch["attention_mask"][row].sum() == len(e)


def test_sft_loss_equals_the_models_own_loss(tiny_model_dir):
    model, tok = load_base(directory=tiny_model_dir)
    batch = collate(encode_pairs(tok, PAIRS), tok.pad_token_id)
    with torch.no_grad():
        ours = sft_loss(model, batch)
        ref = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]).loss
    assert torch.allclose(ours, ref, atol=1e-5)


def test_target_logprobs_sum_the_target_tokens(tiny_model_dir):
    model, tok = load_base(directory=tiny_model_dir)
    items = encode_pairs(tok, PAIRS)
    batch = collate(items, tok.pad_token_id)
    with torch.no_grad():
        got = target_logprobs(model, batch)
        for row, e in enumerate(items):
            seq = torch.tensor([e.prompt + e.target])
            logp = torch.log_softmax(model(seq).logits[0, :-1], -1)
            want = sum(logp[len(e.prompt) - 1 + i, t] for i, t in enumerate(e.target))
            assert abs(float(got[row]) - float(want)) < 1e-4


def test_batches_group_similar_lengths(tiny_model_dir):
    _, tok = load_base(directory=tiny_model_dir)
    pairs = [("x " * n, "y") for n in (1, 30, 2, 31)]
    batches = make_batches(encode_pairs(tok, pairs), 2, tok.pad_token_id, seed=1)
    widths = sorted(b["input_ids"].shape[1] for b in batches)
    assert len(batches) == 2 and widths[-1] - widths[0] > 20
    for b in batches:  # each batch pairs neighbours in length: little padding
        lengths = b["attention_mask"].sum(1)
        assert int(lengths.max() - lengths.min()) <= 3
