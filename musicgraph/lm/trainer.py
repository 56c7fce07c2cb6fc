"""The training loop shared by every task: progress bar, checkpoints, resume, time budget, CPU or CUDA.

A task gives a ``loss_fn(batch) -> loss`` over its own batches and the parameters to train;
:func:`train_loop` runs AdamW with warm-up and linear decay, clips gradients, shows a progress
bar with the running loss, writes a checkpoint every ``checkpoint_every`` steps (the trainable
tensors, the optimizer, the step and the loss history, written atomically into
``out/checkpoint``) and stops early at ``max_minutes``. ``resume=True`` continues from the
checkpoint. On CUDA the forward pass runs under bfloat16 autocast.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass(slots=True)
class TrainConfig:
    """Schedule of one training run.

    Attributes:
        steps: optimizer steps planned (the loop cycles over the batches).
        lr: peak learning rate; ``warmup``: share of steps with a linear warm-up.
        max_minutes: stop after this long (the run is still saved).
        checkpoint_every: steps between checkpoints (0: only at the end).
        device: ``cpu``, ``cuda`` or ``auto``.
        threads: torch CPU threads (0: one per core, or 1 when the load average exceeds the cores).
        seed: shuffling and initialisation.
        grad_clip: max gradient norm.
        weight_decay: AdamW weight decay (trainable tensors listed in ``no_decay`` get none).
    """

    steps: int = 300
    lr: float = 3e-4
    warmup: float = 0.05
    max_minutes: float = 35.0
    checkpoint_every: int = 50
    device: str = "auto"
    threads: int = 0
    seed: int = 13
    grad_clip: float = 1.0
    weight_decay: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def pick_device(device: str = "auto") -> str:
    """``cuda`` when asked or available (``auto``), else ``cpu``."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked but torch sees no CUDA device")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {device!r}")
    return device


def auto_threads(threads: int = 0) -> int:
    """``threads`` when given; else one per core, or 1 when the load average already exceeds the
    cores (oversubscribed BLAS threads were 10x slower than one thread on the shared 2-core VM)."""
    if threads > 0:
        return threads
    cores = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0] >= cores
    except OSError:
        busy = False
    return 1 if busy else cores


def _atomic_save(obj: Any, path: Path) -> None:
    import torch

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


@dataclass(slots=True)
class TrainResult:
    """What a run did: steps, losses, wall and CPU seconds, whether the time budget stopped it."""

    steps: int
    planned_steps: int
    losses: list[float]
    seconds: float
    cpu_seconds: float
    stopped_by_time: bool
    device: str
    threads: int
    load_average: tuple[float, float, float] | None
    resumed_from: int = 0

    def to_dict(self) -> dict[str, Any]:
        tail = self.losses[-20:]
        return {
            "steps": self.steps, "planned_steps": self.planned_steps, "seconds": round(self.seconds, 1),
            "cpu_seconds": round(self.cpu_seconds, 1), "stopped_by_time": self.stopped_by_time,
            "device": self.device, "threads": self.threads, "load_average": self.load_average,
            "loss_first": round(sum(self.losses[:20]) / max(1, len(self.losses[:20])), 4),
            "loss_last": round(sum(tail) / max(1, len(tail)), 4), "resumed_from": self.resumed_from,
        }  # fmt: skip


def train_loop(
    loss_fn: Callable[[Any], Any],
    params: Sequence[Any],
    batches: Sequence[Any],
    cfg: TrainConfig,
    out: Path | None = None,
    *,
    progress: bool = True,
    desc: str = "train",
    resume: bool = False,
    state_fn: Callable[[], dict[str, Any]] | None = None,
    load_state_fn: Callable[[dict[str, Any]], None] | None = None,
    no_decay: Sequence[Any] = (),
) -> TrainResult:
    """Optimize ``params`` on ``loss_fn`` over ``batches`` (cycled, reshuffled per pass).

    Args:
        loss_fn: ``batch -> scalar loss tensor`` (the batch is moved to the device by the task).
        params: the trainable tensors.
        batches: the task's batches.
        cfg: the schedule.
        out: checkpoint folder (None: no checkpoints).
        progress: show a tqdm bar.
        resume: continue from ``out/checkpoint/state.pt`` when it exists.
        state_fn / load_state_fn: save / restore the trainable tensors (default: ``params`` in order).
        no_decay: trainable tensors without weight decay.

    Raises:
        ValueError: no batches or no trainable parameters.
    """
    import torch
    from tqdm import tqdm

    if not batches:
        raise ValueError("nothing to train on: the task produced no batches")
    params = [p for p in params if p.requires_grad]
    if not params:
        raise ValueError("no trainable parameters")
    device = pick_device(cfg.device)
    threads = auto_threads(cfg.threads)
    if device == "cpu":
        torch.set_num_threads(threads)
    rng = random.Random(cfg.seed)
    torch.manual_seed(cfg.seed)
    nd = {id(p) for p in no_decay}
    groups = [{"params": [p for p in params if id(p) not in nd], "weight_decay": cfg.weight_decay},
              {"params": [p for p in params if id(p) in nd], "weight_decay": 0.0}]  # fmt: skip
    opt = torch.optim.AdamW([g for g in groups if g["params"]], lr=cfg.lr)
    warm = max(1, int(cfg.steps * cfg.warmup))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * max(0.05, 1 - s / max(1, cfg.steps))
    )

    def save_state() -> dict[str, Any]:
        return state_fn() if state_fn else {f"p{i}": p.detach().cpu() for i, p in enumerate(params)}

    def load_state(state: dict[str, Any]) -> None:
        if load_state_fn:
            load_state_fn(state)
            return
        with torch.no_grad():
            for i, p in enumerate(params):
                p.copy_(state[f"p{i}"].to(p.device))

    start, losses = 0, []
    order: list[int] = []
    ckpt = out / "checkpoint" if out is not None else None
    if resume and ckpt is not None and (ckpt / "state.pt").is_file():
        state = torch.load(ckpt / "state.pt", map_location="cpu", weights_only=False)
        load_state(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        start, losses = int(state["step"]), list(state["losses"])
        rng.setstate(state["rng"])
        order = list(state.get("order", []))
        log.info("resumed %s from step %d", desc, start)

    def checkpoint(step: int) -> None:
        if ckpt is None:
            return
        ckpt.mkdir(parents=True, exist_ok=True)
        _atomic_save({"model": save_state(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                      "step": step, "losses": losses, "rng": rng.getstate(), "order": list(order),
                      "config": cfg.to_dict()},
                     ckpt / "state.pt")  # fmt: skip
        (ckpt / "progress.json").write_text(json.dumps({"step": step, "planned": cfg.steps,
                                                        "loss": losses[-1] if losses else None}))

    t0, c0 = time.perf_counter(), time.process_time()
    deadline = t0 + cfg.max_minutes * 60
    stopped = False
    bar = tqdm(total=cfg.steps, initial=start, desc=desc, disable=not progress, unit="step")
    step = start
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device == "cuda" else None
    while step < cfg.steps:
        if not order:
            order = list(range(len(batches)))
            rng.shuffle(order)
        batch = batches[order.pop()]
        if autocast is not None:
            with autocast:
                loss = loss_fn(batch)
        else:
            loss = loss_fn(batch)
        loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{sum(losses[-20:]) / len(losses[-20:]):.3f}")
        if cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and step < cfg.steps:
            checkpoint(step)
        if time.perf_counter() > deadline:
            stopped = True
            log.info("%s: time budget of %.1f min reached after %d of %d steps", desc, cfg.max_minutes, step, cfg.steps)
            break
    bar.close()
    checkpoint(step)
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return TrainResult(step, cfg.steps, losses, time.perf_counter() - t0, time.process_time() - c0, stopped,
                       device, threads, tuple(round(x, 2) for x in load) if load else None, start)  # type: ignore[arg-type]
