from __future__ import annotations

import math

import torch

from musicgraph.lm.dpo import dpo_loss, reference_logps
from musicgraph.lm.sft import collate, encode_pairs, target_logprobs
from musicgraph.lm.weights import load_base


def test_dpo_loss_is_the_published_formula():
    pc, pr = torch.tensor([-3.0, -5.0]), torch.tensor([-4.0, -2.0])
    rc, rr = torch.tensor([-3.5, -4.0]), torch.tensor([-3.5, -4.0])
    loss, stats = dpo_loss(pc, pr, rc, rr, beta=0.5)
    want = []
    for i in range(2):
        z = 0.5 * ((pc[i] - rc[i]) - (pr[i] - rr[i]))
        want.append(-math.log(1 / (1 + math.exp(-float(z)))))
    assert abs(float(loss) - sum(want) / 2) < 1e-6
    assert stats["accuracy"] == 0.5  # the first pair prefers the chosen answer, the second does not


def test_dpo_steps_raise_the_chosen_margin(tiny_model_dir):
    torch.manual_seed(0)
    model, tok = load_base(directory=tiny_model_dir)
    prompt = "Request: sad songs\nAnswer:\n"
    chosen = collate(encode_pairs(tok, [(prompt, "[1] has a sad mood.")]), tok.pad_token_id)
    rejected = collate(encode_pairs(tok, [(prompt, "Try [2] for its calm mood.")]), tok.pad_token_id)
    [(rc, rr)] = reference_logps(lambda b: (target_logprobs(model, b[0]), target_logprobs(model, b[1])),
                                 [(chosen, rejected)])
    opt = torch.optim.AdamW(model.parameters(), lr=5e-3)
    for _ in range(15):
        loss, _ = dpo_loss(target_logprobs(model, chosen), target_logprobs(model, rejected), rc, rr, beta=0.5)
        loss.backward()
        opt.step()
        opt.zero_grad()
    with torch.no_grad():
        margin = (target_logprobs(model, chosen) - rc) - (target_logprobs(model, rejected) - rr)
    assert float(margin) > 1.0
