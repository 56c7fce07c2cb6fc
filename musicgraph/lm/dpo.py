"""Direct preference optimization (Rafailov et al., 2023), as a loss over sequence log-probabilities.

For a prompt x with a chosen answer y_w and a rejected answer y_l, with the trained policy π and a
frozen reference π_ref (the SFT model)::

    L = -log σ( β [ (log π(y_w|x) - log π_ref(y_w|x)) - (log π(y_l|x) - log π_ref(y_l|x)) ] )

The reference log-probabilities never change during training, so :func:`reference_logps` computes
them once, before the first step, with the SFT model (no second model in memory).

Why not ``trl``: ``trl`` 1.16 installs beside transformers 5.25 without changing it, but it brings
``datasets``/``pyarrow`` into the shared environment and its trainer scores whole vocabulary
distributions of text completions; the generative retriever's answers are 4 semantic-ID codes scored by
its own code head (:mod:`musicgraph.lm.genrec`), which the ~20 lines here handle directly. The
loss is checked against the formula above in ``tests/lm/test_dpo.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


def dpo_loss(
    policy_chosen: Any, policy_rejected: Any, ref_chosen: Any, ref_rejected: Any, beta: float = 0.1
) -> tuple[Any, dict[str, float]]:
    """The DPO loss of a batch of preference pairs (tensors of summed log-probabilities, shape ``(n,)``).

    Returns:
        ``(mean loss, stats)`` with ``accuracy`` (share of pairs whose implicit reward prefers the
        chosen answer) and ``margin`` (mean reward difference).
    """
    import torch

    chosen_reward = beta * (policy_chosen - ref_chosen)
    rejected_reward = beta * (policy_rejected - ref_rejected)
    logits = chosen_reward - rejected_reward
    loss = -torch.nn.functional.logsigmoid(logits).mean()
    stats = {"accuracy": float((logits > 0).float().mean()), "margin": float(logits.detach().mean())}
    return loss, stats


def reference_logps(
    logp_fn: Callable[[Any], tuple[Any, Any]], batches: Sequence[Any], progress: bool = False
) -> list[tuple[Any, Any]]:
    """``(chosen, rejected)`` log-probabilities of every batch under the current (reference) model,
    computed without gradients; ``logp_fn(batch) -> (chosen, rejected)``; ``progress`` shows a bar."""
    import torch
    from tqdm import tqdm

    out = []
    with torch.no_grad():
        for batch in tqdm(batches, desc="dpo reference log-probabilities", unit="batch", disable=not progress):
            c, r = logp_fn(batch)
            out.append((c.detach(), r.detach()))
    return out
