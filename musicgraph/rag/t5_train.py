"""Training the local T5 (``musicgraph rag finetune``): :func:`finetune` with a :class:`FinetuneConfig`.

Builds a small T5 from a :class:`~transformers.T5Config` (or fine-tunes a local pretrained seq2seq model
given with ``--base``) on the pairs of :mod:`musicgraph.rag.t5_pairs`, with the tokenizer of
:mod:`musicgraph.rag.t5_tokenizer`, and saves both under ``MUSICGRAPH_HOME/models/t5-local`` for
:class:`~musicgraph.rag.t5_local.T5LocalGenerator`. :func:`rouge_l` scores held-out pairs.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from musicgraph.lm.trainer import auto_threads
from musicgraph.rag.seq2seq import Seq2SeqGenerator

if TYPE_CHECKING:
    from musicgraph.graph.store import GraphStore

from musicgraph.rag.t5_local import MAX_INPUT, MAX_TARGET
from musicgraph.rag.t5_pairs import make_pairs
from musicgraph.rag.t5_tokenizer import train_tokenizer

__all__ = ["FinetuneConfig", "auto_threads", "finetune", "rouge_l"]

log = logging.getLogger(__name__)

@dataclass(slots=True)
class FinetuneConfig:
    """Size and schedule of the local T5 (the defaults train in a few minutes on 2 CPU cores)."""

    pairs: int = 1200
    d_model: int = 128
    d_ff: int = 384
    num_layers: int = 2
    num_heads: int = 4
    vocab_size: int = 3000
    epochs: int = 3
    batch_size: int = 16
    lr: float = 2e-3
    max_k: int = 5  # candidates per training pair (1..max_k)
    max_minutes: float = 8.0
    context_budget: int = 224  # evidence tokens per training pair (shorter inputs train faster)
    threads: int = 0  # torch CPU threads; 0 = all cores, or 1 when the machine is already busy
    seed: int = 13
    base: str | None = None  # a local pretrained seq2seq model to fine-tune instead
    eval_samples: int = 10  # held-out pairs decoded for the ROUGE-L figure


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1 of whitespace tokens (longest common subsequence)."""
    a, b = candidate.lower().split(), reference.lower().split()
    if not a or not b:
        return 0.0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, start=1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    lcs = prev[-1]
    if lcs == 0:
        return 0.0
    p, r = lcs / len(a), lcs / len(b)
    return 2 * p * r / (p + r)


def finetune(
    store: GraphStore,
    out_dir: str | Path,
    config: FinetuneConfig | None = None,
    progress: bool = True,
    log_fn: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Generate pairs from ``store``, train the small T5 and save it (model, tokenizer,
    ``training_info.json``) to ``out_dir``. Returns the training info.

    Raises:
        ValueError: too little data in the store; GeneratorError: ``config.base`` cannot be loaded.
    """
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    cfg = config or FinetuneConfig()
    out = Path(out_dir)
    say = log_fn or log.info
    torch.manual_seed(cfg.seed)
    threads = cfg.threads or auto_threads()
    torch.set_num_threads(threads)
    rng = random.Random(cfg.seed)
    t0 = time.perf_counter()
    pairs = make_pairs(store, cfg.pairs, cfg.seed, max_k=cfg.max_k, budget=cfg.context_budget)
    rng.shuffle(pairs)
    n_eval = max(1, min(50, len(pairs) // 20))
    eval_pairs, train_pairs = pairs[:n_eval], pairs[n_eval:]
    say(f"{len(train_pairs)} training pairs, {len(eval_pairs)} held out ({time.perf_counter() - t0:.1f}s)")
    if cfg.base:
        base = Seq2SeqGenerator(cfg.base)
        tok, model = base.tokenizer, base.model
        model.train()
    else:
        tok = train_tokenizer([s for p in train_pairs for s in p], cfg.vocab_size)
        t5 = T5Config(
            vocab_size=len(tok), d_model=cfg.d_model, d_kv=max(8, cfg.d_model // cfg.num_heads), d_ff=cfg.d_ff,
            num_layers=cfg.num_layers, num_decoder_layers=cfg.num_layers, num_heads=cfg.num_heads,
            dropout_rate=0.05, feed_forward_proj="relu", pad_token_id=tok.pad_token_id,
            eos_token_id=tok.eos_token_id, decoder_start_token_id=tok.pad_token_id, tie_word_embeddings=True,
        )  # fmt: skip
        model = T5ForConditionalGeneration(t5)
    n_params = sum(p.numel() for p in model.parameters())
    say(f"model: {n_params / 1e6:.1f}M parameters, {threads} CPU thread(s)")

    def encode(batch: Sequence[tuple[str, str]]) -> dict[str, Any]:
        enc = tok([s for s, _ in batch], return_tensors="pt", padding=True, truncation=True, max_length=MAX_INPUT)
        lab = tok([t for _, t in batch], return_tensors="pt", padding=True, truncation=True, max_length=MAX_TARGET)
        labels = lab["input_ids"].clone()
        labels[labels == tok.pad_token_id] = -100
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": labels}

    train_pairs.sort(key=lambda p: len(p[0]) + len(p[1]))  # length-bucketed batches, shuffled order
    batches = [train_pairs[i : i + cfg.batch_size] for i in range(0, len(train_pairs), cfg.batch_size)]
    total = len(batches) * cfg.epochs
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr if not cfg.base else cfg.lr / 3, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / max(1, total // 20)) * max(0.05, 1 - s / max(1, total))
    )
    deadline = t0 + cfg.max_minutes * 60
    step, losses, stopped = 0, [], False
    from tqdm import tqdm

    bar = tqdm(total=total, desc="t5-local", disable=not progress, unit="batch")
    model.train()
    for _epoch in range(cfg.epochs):
        order = list(range(len(batches)))
        rng.shuffle(order)
        for bi in order:
            loss = model(**encode(batches[bi])).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            losses.append(loss.item())
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{sum(losses[-20:]) / len(losses[-20:]):.3f}")
            if time.perf_counter() > deadline:
                stopped = True
                break
        if stopped:
            say(f"time budget of {cfg.max_minutes} min reached after {step} of {total} steps")
            break
    bar.close()
    model.eval()
    with torch.no_grad():
        eval_loss = float(sum(model(**encode(eval_pairs[i : i + 16])).loss for i in range(0, n_eval, 16)))
        eval_loss /= (n_eval + 15) // 16
        scores = []
        for src, tgt in eval_pairs[: cfg.eval_samples]:
            enc = tok(src, return_tensors="pt", truncation=True, max_length=MAX_INPUT)
            gen = model.generate(**enc, max_new_tokens=MAX_TARGET, do_sample=False)
            scores.append(rouge_l(tok.decode(gen[0], skip_special_tokens=True), tgt))
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    info = {
        "config": asdict(cfg),
        "parameters": n_params,
        "pairs": len(pairs),
        "steps": step,
        "planned_steps": total,
        "stopped_by_time": stopped,
        "train_loss_last": sum(losses[-50:]) / max(1, len(losses[-50:])),
        "eval_loss": eval_loss,
        "eval_rouge_l_vs_template": sum(scores) / max(1, len(scores)),
        "seconds": time.perf_counter() - t0,
        "threads": threads,
        "store": repr(store),
        "store_version": store.version(),
        "format": "pointer",
    }
    (out / "training_info.json").write_text(json.dumps(info, indent=2))
    say(f"saved to {out}: eval loss {eval_loss:.3f}, ROUGE-L vs template {info['eval_rouge_l_vs_template']:.3f}")
    return info
