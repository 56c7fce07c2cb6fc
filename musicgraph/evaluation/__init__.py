"""Evaluation: metrics, baselines, statistics, tasks and the report of ``musicgraph eval``.

The entry point is :func:`run_eval` (tasks by name from :data:`TASKS`, an :class:`EvalConfig`, the
report written to its ``out_dir``); :func:`run_task` runs one task and returns its
:class:`TaskResult`. The submodules are listed too, for ``from musicgraph.evaluation import metrics``.

Importing this package is cheap; tasks import their heavy dependencies when they run.
"""

from __future__ import annotations

from musicgraph.lazy import lazy_getattr

__all__ = ["TASKS", "EvalConfig", "TaskResult", "baselines", "metrics", "report", "run_eval", "run_task", "stats",
           "tasks"]

_LAZY = {
    "TASKS": "musicgraph.evaluation.tasks",
    "EvalConfig": "musicgraph.evaluation.tasks",
    "TaskResult": "musicgraph.evaluation.tasks",
    "run_eval": "musicgraph.evaluation.runner",
    "run_task": "musicgraph.evaluation.runner",
}

__getattr__ = lazy_getattr(__name__, _LAZY)
