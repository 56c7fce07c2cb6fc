"""Evaluation tasks: each turns a protocol into per-query metric values for every system it can run.

A task returns a :class:`TaskResult`: its versioned protocol (what was split, how, with which seeds),
one :class:`SystemResult` per system (per-query values averaged over training seeds, the mean of each
seed, bootstrap CIs), slices (e.g. cold users), paired tests, and the systems it could not run with
the reason (a component that has not landed yet, a missing store): never a made-up number.

Tasks: ``recommendation`` (HetRec user -> artist), ``playlists`` (continuation on the 300 Spotify
and 40 MPD playlists), ``mood`` (mood and situation requests judged by held-out mood labels),
``multihop`` ("<tag> artists that fans of <Y> listen to", judged by held-out listeners),
``multihop_smoke`` (the earlier template questions with exact answers and gold paths) and ``rag``
(hallucination, citation precision, faithfulness and latency of ``musicgraph.rag.ask``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from musicgraph.evaluation.stats import CI, bootstrap_ci, over_seeds, paired_test

log = logging.getLogger(__name__)


@dataclass(slots=True)
class SystemResult:
    """Metrics of one system on one task (or slice).

    Attributes:
        per_query: metric -> per-query values (mean over seeds), aligned with the task's queries.
        per_seed: metric -> mean value for each seed in ``seeds``.
        seeds: training / sampling seeds (``[0]`` for deterministic systems).
        params: the system's hyper-parameters.
        seconds: wall time of fit + scoring, all seeds.
        extra: non-per-query figures (coverage@10, ...).
        ci: metric -> bootstrap CI of the mean of ``per_query`` (filled by :meth:`finalize`).
    """

    system: str
    per_query: dict[str, np.ndarray]
    per_seed: dict[str, list[float]]
    seeds: list[int]
    params: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)
    ci: dict[str, CI] = field(default_factory=dict)

    def finalize(self, boot_seed: int = 0, n_boot: int = 1000) -> SystemResult:
        for metric, values in self.per_query.items():
            if len(values):
                self.ci[metric] = bootstrap_ci(values, n_boot=n_boot, seed=boot_seed)
        return self

    def mean(self, metric: str) -> float:
        return float(np.mean(self.per_query[metric]))

    def to_dict(self) -> dict[str, Any]:
        metrics: dict[str, Any] = {}
        for metric, values in self.per_query.items():
            entry: dict[str, Any] = {"mean": float(np.mean(values)) if len(values) else None, "n": int(len(values))}
            if metric in self.ci:
                entry.update(ci_lo=self.ci[metric].lo, ci_hi=self.ci[metric].hi, ci_alpha=self.ci[metric].alpha)
            seeds = self.per_seed.get(metric, [])
            if seeds:
                entry["per_seed"] = dict(zip([str(s) for s in self.seeds], seeds, strict=False))
                entry["std_over_seeds"] = over_seeds(seeds)[1]
            metrics[metric] = entry
        return {
            "system": self.system,
            "seeds": list(self.seeds),
            "params": _jsonable(self.params),
            "seconds": round(self.seconds, 3),
            "metrics": metrics,
            "extra": {k: float(v) for k, v in self.extra.items()},
        }


@dataclass(slots=True)
class TaskResult:
    """Everything one task measured."""

    task: str
    protocol: dict[str, Any]
    systems: dict[str, SystemResult] = field(default_factory=dict)
    slices: dict[str, dict[str, SystemResult]] = field(default_factory=dict)
    paired: list[dict[str, Any]] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    main_metrics: list[str] = field(default_factory=list)
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def add_system(self, name: str, sysres: SystemResult, slices: Mapping[str, np.ndarray], boot_seed: int = 0,
                   n_boot: int = 1000) -> None:
        """Record ``sysres`` as system ``name`` (finalized), and in each slice (slice name -> query indexes)
        the same system on those queries only."""
        self.systems[name] = sysres.finalize(boot_seed, n_boot)
        for slice_name, idx in slices.items():
            self.slices.setdefault(slice_name, {})[name] = SystemResult(
                name, {m: v[idx] for m, v in sysres.per_query.items()}, {}, sysres.seeds, sysres.params
            ).finalize(boot_seed, n_boot)

    def add_paired(self, metric: str, a: str, b: str, seed: int = 0) -> None:
        """Paired test of systems ``a`` vs ``b`` on ``metric`` (same queries)."""
        if a not in self.systems or b not in self.systems:
            return
        res = paired_test(self.systems[a].per_query[metric], self.systems[b].per_query[metric], seed=seed)
        self.paired.append({"metric": metric, "a": a, "b": b, "seed": seed, **res.to_dict()})

    def best(self, metric: str, exclude: Sequence[str] = ()) -> str | None:
        """The system with the highest mean ``metric`` (ignoring ``exclude``)."""
        cands = [(s.mean(metric), n) for n, s in self.systems.items() if n not in exclude and metric in s.per_query]
        return max(cands)[1] if cands else None

    def to_dict(self) -> dict[str, Any]:
        """The task as JSON (its entry under ``tasks`` in ``results.json``)."""
        return {
            "task": self.task,
            "protocol": _jsonable(self.protocol),
            "main_metrics": list(self.main_metrics),
            "systems": {n: s.to_dict() for n, s in self.systems.items()},
            "slices": {sl: {n: s.to_dict() for n, s in d.items()} for sl, d in self.slices.items()},
            "paired_tests": self.paired,
            "missing_systems": dict(self.missing),
            "notes": list(self.notes),
            "seconds": round(self.seconds, 2),
            "extra": _jsonable(self.extra),
        }


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)


def run_seeds(
    system: str,
    seeds: Sequence[int],
    run_one: Callable[[int], dict[str, np.ndarray]],
    params: dict[str, Any] | None = None,
) -> SystemResult:
    """Run ``run_one(seed) -> {metric: per-query values}`` for each seed and average per query."""
    start = time.perf_counter()
    outs = [run_one(seed) for seed in seeds]
    metrics = outs[0].keys()
    per_query = {m: np.mean([o[m] for o in outs], axis=0) for m in metrics}
    per_seed = {m: [float(np.mean(o[m])) for o in outs] for m in metrics}
    return SystemResult(
        system=system,
        per_query=per_query,
        per_seed=per_seed,
        seeds=list(seeds),
        params=params or {},
        seconds=time.perf_counter() - start,
    )


#: task name -> "module:function" running it (imported lazily).
TASKS: dict[str, str] = {
    "recommendation": "musicgraph.evaluation.tasks.recommendation:run",
    "playlists": "musicgraph.evaluation.tasks.playlists:run",
    "mood": "musicgraph.evaluation.tasks.mood:run",
    "multihop": "musicgraph.evaluation.tasks.heldout_multihop:run",
    "multihop_smoke": "musicgraph.evaluation.tasks.multihop:run",
    "rag": "musicgraph.evaluation.tasks.rag:run",
}


@dataclass(slots=True)
class EvalConfig:
    """What one ``musicgraph eval`` run uses.

    Attributes:
        data_dir: the public datasets (``MUSICGRAPH_DATA_DIR``).
        store_dir: an ingested embedded store (read-only here), or None when there is none.
        quick: the reduced CI version (one training seed, smaller models and query sets).
        seeds: training seeds of seeded systems (3 in the full run).
        split_seed: seed of the HetRec 80/10/10 split.
        boot_seed / n_boot: bootstrap of the CIs.
        out_dir: report directory (split files are written there too).
        index_dir: the retrieval index (default: ``indexes/<store name>`` beside the store).
        cache_dir: cache of expensive intermediates such as re-encoded dense vectors
            (default ``MUSICGRAPH_HOME/cache/eval``).
        encoder: a query/text encoder replacing MiniLM (tests); None = MiniLM.
    """

    data_dir: Any
    store_dir: Any = None
    quick: bool = False
    seeds: tuple[int, ...] = (0, 1, 2)
    split_seed: int = 2020
    boot_seed: int = 0
    n_boot: int = 1000
    out_dir: Any = None
    index_dir: Any = None
    cache_dir: Any = None
    encoder: Any = None

    def training_seeds(self) -> tuple[int, ...]:
        """The training seeds this run uses (the first only when ``quick``)."""
        return self.seeds[:1] if self.quick else self.seeds

    def open_store(self) -> Any:
        """The embedded store at ``store_dir`` (None when absent or empty)."""
        from pathlib import Path

        if self.store_dir is None or not (Path(self.store_dir) / "graph.sqlite").exists():
            return None
        from musicgraph.graph.embedded import EmbeddedStore

        store = EmbeddedStore(Path(self.store_dir))
        if store.is_empty():
            store.close()
            return None
        return store
