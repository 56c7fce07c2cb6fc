"""Evaluation: metrics, baselines, statistics, tasks and the report of ``musicgraph eval``.

Importing this package is cheap; tasks import their heavy dependencies when they run.
"""

from __future__ import annotations

__all__ = ["baselines", "metrics", "report", "stats", "tasks"]
