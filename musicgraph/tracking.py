"""Experiment tracking with MLflow for ``musicgraph gnn train`` and ``musicgraph eval``.

Tracking is on when ``MUSICGRAPH_MLFLOW_URI`` is set (any MLflow tracking URI: ``file:///…/mlruns``,
``http://host:5000``) or ``--mlflow`` is given; ``--mlflow`` alone uses the local file store
``MUSICGRAPH_HOME/mlruns``. Each command is one MLflow run of the experiment ``musicgraph-gnn`` or
``musicgraph-eval`` with its parameters (the training or evaluation configuration, flattened), its
metrics (per epoch for training: loss, validation Recall/NDCG; the final test and validation
metrics; every number of the evaluation's ``results.json``) and its artifacts (``config.json``,
``metrics.jsonl``, ``result.json``; ``report.md`` and ``results.json`` of an evaluation).

MLflow 3 keeps the file store working only with ``MLFLOW_ALLOW_FILE_STORE=true``, which is set for
``file:`` URIs here. The client is ``mlflow-skinny`` (the ``track`` extra); without tracking
configured nothing is imported and nothing is written.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from musicgraph.config import Settings

log = logging.getLogger(__name__)

__all__ = ["Tracker", "tracking_uri"]


def tracking_uri(enabled: bool = False, settings: Settings | None = None) -> str | None:
    """The MLflow tracking URI to use: ``MUSICGRAPH_MLFLOW_URI``, else the local file store under
    ``MUSICGRAPH_HOME/mlruns`` when ``enabled``, else None (no tracking)."""
    from musicgraph.config import get_settings

    s = settings or get_settings()
    if s.mlflow_uri:
        return s.mlflow_uri
    if enabled:
        return (Path(s.home) / "mlruns").resolve().as_uri()
    return None


def _flat(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _flat(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = value


_BAD_NAME = re.compile(r"[^A-Za-z0-9_\-. /]")


def metric_name(name: str) -> str:
    """A metric name MLflow accepts (letters, digits, ``_ - . /`` and spaces): ``recall@10`` → ``recall_at_10``."""
    return _BAD_NAME.sub("_", name.replace("@", "_at_"))


def _numbers(data: Mapping[str, Any]) -> dict[str, float]:
    flat: dict[str, Any] = {}
    _flat("", data, flat)
    return {metric_name(k): float(v) for k, v in flat.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))}


def eval_metrics(results: Mapping[str, Any]) -> dict[str, float]:
    """``<task>.<system>.<metric>`` → mean, of an evaluation's ``results.json`` document."""
    out: dict[str, float] = {}
    for task, t in (results.get("tasks") or {}).items():
        for system, s in (t.get("systems") or {}).items():
            for metric, m in (s.get("metrics") or {}).items():
                v = m.get("mean") if isinstance(m, Mapping) else None
                if isinstance(v, (int, float)) and math.isfinite(float(v)):
                    out[metric_name(f"{task}.{system}.{metric}")] = float(v)
    return out


class Tracker:
    """One MLflow run, or nothing when tracking is off (every method is then a no-op).

    Example::

        with Tracker.start("musicgraph-gnn", run_name="sage-s2020", params=asdict(cfg)) as t:
            t.metrics({"loss": 0.3}, step=1)
            t.artifact(out / "result.json")
    """

    def __init__(self, mlflow: Any = None, run: Any = None):
        self._mlflow = mlflow
        self.run = run

    @property
    def active(self) -> bool:
        return self._mlflow is not None

    @property
    def run_id(self) -> str | None:
        return None if self.run is None else str(self.run.info.run_id)

    @classmethod
    @contextmanager
    def start(
        cls,
        experiment: str,
        *,
        run_name: str | None = None,
        params: Mapping[str, Any] | None = None,
        enabled: bool = False,
        settings: Settings | None = None,
    ) -> Iterator[Tracker]:
        """Open a run when tracking is configured (see :func:`tracking_uri`); the run ends with the block,
        as ``FAILED`` when it raises."""
        uri = tracking_uri(enabled, settings)
        if uri is None:
            yield cls()
            return
        if uri.startswith("file:"):
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        try:
            import mlflow
        except ModuleNotFoundError as exc:
            raise RuntimeError("MLflow tracking needs the mlflow client: pip install 'musicgraph[track]' "
                               "(mlflow-skinny)") from exc
        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment(experiment)
        run = mlflow.start_run(run_name=run_name)
        tracker = cls(mlflow, run)
        log.info("MLflow run %s in %s (experiment %s)", tracker.run_id, uri, experiment)
        if params:
            tracker.params(params)
        status = "FINISHED"
        try:
            yield tracker
        except BaseException:
            status = "FAILED"
            raise
        finally:
            mlflow.end_run(status=status)

    def params(self, params: Mapping[str, Any]) -> None:
        if not self.active:
            return
        flat: dict[str, Any] = {}
        _flat("", params, flat)
        # MLflow params are strings of at most 6000 characters
        self._mlflow.log_params({k: str(v)[:6000] for k, v in flat.items()})

    def metrics(self, values: Mapping[str, Any], step: int | None = None, prefix: str = "") -> None:
        if not self.active:
            return
        nums = _numbers(values)
        if nums:
            self._mlflow.log_metrics({f"{prefix}{k}": v for k, v in nums.items()}, step=step)

    def artifact(self, path: str | Path, folder: str | None = None) -> None:
        if self.active and Path(path).exists():
            self._mlflow.log_artifact(str(path), artifact_path=folder)
