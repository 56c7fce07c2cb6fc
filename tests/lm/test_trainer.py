from __future__ import annotations

import os

import pytest
import torch

from musicgraph.lm.trainer import TrainConfig, auto_threads, pick_device, train_loop


def _task(seed: int = 0):
    torch.manual_seed(seed)
    w = torch.nn.Parameter(torch.zeros(3))
    target = torch.tensor([1.0, -2.0, 0.5])
    batches = [torch.randn(4, 3) for _ in range(5)]

    def loss(x):
        return ((x * w).sum(1) - (x * target).sum(1)).pow(2).mean()

    return w, batches, loss


def test_loop_lowers_the_loss_and_records_time():
    w, batches, loss = _task()
    res = train_loop(loss, [w], batches, TrainConfig(steps=60, lr=0.1, threads=1), progress=False)
    assert res.steps == 60 and not res.stopped_by_time and res.device == "cpu"
    assert res.losses[-1] < 0.05 * res.losses[0]
    assert res.seconds > 0 and res.cpu_seconds >= 0


def test_resume_continues_to_the_same_weights(tmp_path):
    cfg = TrainConfig(steps=20, lr=0.05, checkpoint_every=5, threads=1, seed=3)
    w_full, batches, loss = _task()
    train_loop(loss, [w_full], batches, cfg, tmp_path / "full", progress=False)
    # an interrupted run: 10 steps, then a resumed run to 20
    w_part, batches2, loss2 = _task()
    train_loop(loss2, [w_part], batches2, TrainConfig(steps=20, lr=0.05, checkpoint_every=5, threads=1, seed=3,
                                                     max_minutes=1e-9), tmp_path / "part", progress=False)
    assert (tmp_path / "part" / "checkpoint" / "state.pt").is_file()
    w_res, batches3, loss3 = _task()
    res = train_loop(loss3, [w_res], batches3, cfg, tmp_path / "part", progress=False, resume=True)
    assert res.resumed_from == 1 and res.steps == 20
    assert torch.allclose(w_res, w_full, atol=1e-6)


def test_bad_inputs_are_refused():
    w, batches, loss = _task()
    with pytest.raises(ValueError, match="nothing to train"):
        train_loop(loss, [w], [], TrainConfig(steps=1), progress=False)
    with pytest.raises(ValueError, match="device"):
        pick_device("tpu")
    assert auto_threads(3) == 3


def test_the_t5_finetune_picks_threads_with_the_same_rule() -> None:
    from musicgraph.rag import t5_train

    assert t5_train.auto_threads is auto_threads
    assert 1 <= auto_threads() <= (os.cpu_count() or 1)
