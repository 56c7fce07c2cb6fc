from __future__ import annotations

import torch

from musicgraph.lm.trie import PointerConstraint, PrefixTrie
from musicgraph.lm.weights import load_base


def test_trie_allows_only_stored_continuations():
    t = PrefixTrie([(1, 2, 3), (1, 2, 4), (5, 6, 7)])
    assert t.allowed(()) == {1, 5}
    assert t.allowed((1, 2)) == {3, 4}
    assert t.allowed((9,)) == set()
    assert (1, 2, 4) in t and (1, 2) not in t
    assert len(t) == 3 and t.is_prefix((5, 6)) and not t.is_prefix((6,))


def _greedy(model, tok, prompt_ids, constraint, steps):
    ids = prompt_ids
    for _ in range(steps):
        with torch.no_grad():
            logits = model(ids).logits[:, -1, :]
        logits = constraint(ids, logits)
        nxt = logits.argmax(-1, keepdim=True)
        ids = torch.cat([ids, nxt], dim=1)
        if nxt.item() == tok.eos_token_id:
            break
    return tok.decode(ids[0, prompt_ids.shape[1]:], skip_special_tokens=True)


def test_pointer_constraint_only_writes_valid_numbers(tiny_model_dir):
    model, tok = load_base(directory=tiny_model_dir)
    prompt = tok("Answer:\n[", return_tensors="pt")["input_ids"]
    constraint = PointerConstraint(tok, [2, 4], prompt.shape[1] - 1)
    # inside a pointer only the digits of 2 or 4, then "]"
    allowed = {tok.decode([i]) for i in constraint.allowed_ids("[").tolist()}
    assert allowed == {"2", "4"}
    closes = {tok.decode([i]) for i in constraint.allowed_ids("[4").tolist()}
    assert closes and all(c.startswith("]") for c in closes)
    # a random model forced through the constraint: every bracket it writes is [2] or [4]
    for seed in range(5):
        torch.manual_seed(seed)
        for p in model.parameters():
            p.data.normal_(0, 0.5)
        text = "[" + _greedy(model, tok, prompt, constraint, 40)
        import re

        opened = text.count("[")
        found = re.findall(r"\[(\d+)\]", text)
        assert all(n in ("2", "4") for n in found)
        assert opened - len(found) <= 1  # at most the last pointer is still open when the budget ends
        assert "]" not in re.sub(r"\[\d+\]", "", text)


def test_pointer_constraint_restricts_the_vocabulary(tiny_model_dir):
    _, tok = load_base(directory=tiny_model_dir)
    keep = tok("sad mood", add_special_tokens=False)["input_ids"]
    c = PointerConstraint(tok, [1], 0, vocab=keep)
    outside = set(c.allowed_ids("Here").tolist())
    assert set(keep) <= outside
    assert tok.eos_token_id in outside
    other = tok(" Golden", add_special_tokens=False)["input_ids"]
    assert not set(other) & outside
