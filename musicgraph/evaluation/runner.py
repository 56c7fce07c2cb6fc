"""Run evaluation tasks and write the report: what ``musicgraph eval`` calls."""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from musicgraph.evaluation.tasks import TASKS, EvalConfig, TaskResult

log = logging.getLogger(__name__)


def run_task(name: str, cfg: EvalConfig) -> TaskResult:
    """Run one task by name.

    Raises:
        ValueError: an unknown task name.
    """
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; expected one of {', '.join(TASKS)}")
    module, func = TASKS[name].split(":")
    return getattr(importlib.import_module(module), func)(cfg)


def run_eval(tasks: Sequence[str], cfg: EvalConfig, argv: list[str] | None = None) -> dict[str, Any]:
    """Run ``tasks`` in order and write the report to ``cfg.out_dir``; returns the results document.

    A task that fails on missing data is recorded with the reason instead of aborting the others.

    Args:
        tasks: task names (keys of :data:`~musicgraph.evaluation.tasks.TASKS`), run in this order.
        cfg: data and store locations, seeds, ``quick`` and the output folder (required).
        argv: the command line, recorded in the report's metadata.

    Returns:
        The ``results.json`` document: ``meta`` (time, versions, command, seconds, data and store
        folders), ``tasks`` (each task's protocol, systems with their metrics, slices, paired tests,
        missing systems, notes, seconds and plots) and the published ``anchors``.

    Raises:
        ValueError: no ``cfg.out_dir``, or an unknown task name.
    """
    from rich.progress import Progress

    from musicgraph.evaluation.report import run_meta, write_report

    if cfg.out_dir is None:
        raise ValueError("EvalConfig.out_dir is required")
    cfg.out_dir = Path(cfg.out_dir)
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    done: dict[str, TaskResult] = {}
    start = time.perf_counter()
    with Progress(transient=True) as progress:
        bar = progress.add_task("evaluating", total=len(tasks))
        for name in tasks:
            progress.update(bar, description=f"task {name}")
            try:
                done[name] = run_task(name, cfg)
            except FileNotFoundError as exc:
                log.error("task %s: %s", name, exc)
                res = TaskResult(task=name, protocol={"name": name, "version": 0})
                res.missing["*"] = f"data missing: {exc}"
                done[name] = res
            progress.advance(bar)
    meta = run_meta(cfg.quick, argv)
    meta["seconds"] = round(time.perf_counter() - start, 1)
    meta["tasks"] = list(tasks)
    meta["data_dir"] = str(cfg.data_dir)
    meta["store_dir"] = str(cfg.store_dir) if cfg.store_dir else None
    return write_report(done, cfg.out_dir, meta)
