"""Supervised fine-tuning data: (prompt, target) text pairs → padded token batches and their loss.

The loss is the causal-LM cross-entropy on the target tokens only (prompt and padding are masked).
The output projection is applied only at those positions: with SmolLM2's 49,152-token vocabulary,
projecting every prompt position would cost more than the adapted layers themselves on a CPU.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

IGNORE = -100


@dataclass(slots=True)
class Encoded:
    """One tokenized pair: prompt ids then target ids (target ends with EOS)."""

    prompt: list[int]
    target: list[int]

    def __len__(self) -> int:
        return len(self.prompt) + len(self.target)


def encode_pairs(
    tokenizer: Any, pairs: Sequence[tuple[str, str]], max_prompt: int = 384, max_target: int = 128
) -> list[Encoded]:
    """Tokenize ``(prompt, target)`` pairs; prompts keep their last ``max_prompt`` tokens, targets
    their first ``max_target`` (EOS appended)."""
    out = []
    eos = tokenizer.eos_token_id
    for prompt, target in pairs:
        p = tokenizer(prompt, add_special_tokens=False)["input_ids"][-max_prompt:]
        t = tokenizer(target, add_special_tokens=False)["input_ids"][: max_target - 1] + [eos]
        out.append(Encoded(list(p), list(t)))
    return out


def collate(items: Sequence[Encoded], pad_id: int) -> dict[str, Any]:
    """Right-padded ``input_ids``, ``attention_mask`` and ``labels`` (prompt and padding = -100)."""
    import torch

    width = max(len(e) for e in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    labels = torch.full((len(items), width), IGNORE, dtype=torch.long)
    for row, e in enumerate(items):
        seq = e.prompt + e.target
        ids[row, : len(seq)] = torch.tensor(seq)
        mask[row, : len(seq)] = 1
        labels[row, len(e.prompt) : len(seq)] = torch.tensor(e.target)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def make_batches(items: Sequence[Encoded], batch_size: int, pad_id: int, seed: int = 13) -> list[dict[str, Any]]:
    """Length-bucketed batches (similar lengths together: less padding), in a shuffled order."""
    order = sorted(range(len(items)), key=lambda i: len(items[i]))
    batches = [collate([items[i] for i in order[s : s + batch_size]], pad_id) for s in range(0, len(order), batch_size)]
    random.Random(seed).shuffle(batches)
    return batches


def split_model(model: Any) -> tuple[Any, Any]:
    """``(decoder, output projection)`` of a causal LM or of a peft model wrapping one."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.model, base.get_output_embeddings()


def _target_logits(model: Any, batch: dict[str, Any], device: str) -> tuple[Any, Any, Any]:
    """One forward pass: the logits predicting each target token, those tokens, and the mask of where
    they stand in ``labels[:, 1:]`` (the head runs on the target positions only)."""
    decoder, head = split_model(model)
    ids = batch["input_ids"].to(device)
    mask = batch["attention_mask"].to(device)
    labels = batch["labels"].to(device)
    hidden = decoder(input_ids=ids, attention_mask=mask).last_hidden_state
    nxt = labels[:, 1:]
    keep = nxt != IGNORE
    return head(hidden[:, :-1][keep]), nxt[keep], keep


def sft_loss(model: Any, batch: dict[str, Any], device: str = "cpu") -> Any:
    """Mean cross-entropy of the target tokens of ``batch`` (see the module docstring)."""
    import torch

    logits, targets, _ = _target_logits(model, batch, device)
    return torch.nn.functional.cross_entropy(logits.float(), targets)


def target_logprobs(model: Any, batch: dict[str, Any], device: str = "cpu") -> Any:
    """Summed log-probability of each row's target tokens (the DPO sequence score), shape ``(rows,)``."""
    import torch

    logits, targets, keep = _target_logits(model, batch, device)
    logp = torch.log_softmax(logits.float(), dim=-1)
    tok = logp.gather(1, targets.unsqueeze(1)).squeeze(1)
    rows = torch.arange(keep.shape[0], device=keep.device).unsqueeze(1).expand_as(keep)[keep]
    return torch.zeros(keep.shape[0], device=keep.device, dtype=tok.dtype).index_add(0, rows, tok)
