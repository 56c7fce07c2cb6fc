"""Statistics for the report: bootstrap confidence intervals, paired tests, aggregation over seeds.

* :func:`bootstrap_ci`: percentile bootstrap of the mean of per-query values (queries resampled).
* :func:`paired_test`: system A vs B on the same queries: mean difference with its bootstrap CI, a
  two-sided paired randomization (sign-flip) test, and the Wilcoxon signed-rank test from scipy.
* :func:`over_seeds`: mean and standard deviation of one metric across training seeds.

All resampling is seeded, so the same inputs always give the same intervals.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_BOOTSTRAP = 1000


@dataclass(frozen=True, slots=True)
class CI:
    """A mean with a (1 - alpha) confidence interval."""

    mean: float
    lo: float
    hi: float
    n: int
    alpha: float = 0.05

    def overlaps(self, other: CI) -> bool:
        """Whether the two intervals overlap."""
        return not (self.hi < other.lo or other.hi < self.lo)

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _values(values: Sequence[float] | np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size == 0:
        raise ValueError(f"{what}: no values")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what}: values contain NaN or infinity")
    return arr


def bootstrap_ci(
    values: Sequence[float] | np.ndarray, n_boot: int = DEFAULT_BOOTSTRAP, alpha: float = 0.05, seed: int = 0
) -> CI:
    """Percentile-bootstrap CI of the mean (resampling queries with replacement).

    Args:
        values: one value per query.
        n_boot: bootstrap resamples.
        alpha: 1 - the confidence level (0.05: a 95% interval).
        seed: the resampling seed (same seed, same interval).

    Raises:
        ValueError: no values, or a NaN or infinite one.
    """
    arr = _values(values, "bootstrap_ci")
    rng = np.random.default_rng(seed)
    n = arr.size
    means = np.empty(n_boot)
    chunk = max(1, 2_000_000 // n)
    for s in range(0, n_boot, chunk):
        m = min(chunk, n_boot - s)
        means[s : s + m] = arr[rng.integers(0, n, (m, n))].mean(axis=1)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return CI(float(arr.mean()), float(lo), float(hi), int(n), alpha)


@dataclass(frozen=True, slots=True)
class PairedResult:
    """Outcome of :func:`paired_test` (A minus B)."""

    mean_diff: float
    ci_lo: float
    ci_hi: float
    p_randomization: float
    p_wilcoxon: float
    n: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def paired_test(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    n_resamples: int = 10_000,
    alpha: float = 0.05,
    seed: int = 0,
) -> PairedResult:
    """Paired comparison of per-query values of two systems on the same queries.

    The randomization test flips the sign of each query's difference at random and counts how often
    the absolute mean difference is at least the observed one (two-sided, with the +1 correction).

    Args:
        a, b: per-query values of systems A and B, in the same query order.
        n_resamples: sign flips of the randomization test (the bootstrap CI uses at most 2000).
        alpha: 1 - the confidence level of the CI of the difference.
        seed: the random seed.

    Returns:
        The mean difference A - B with its bootstrap CI, the randomization-test p-value, the
        Wilcoxon signed-rank p-value (1 when all differences are 0) and the number of queries.

    Raises:
        ValueError: no values, NaN or infinity, or ``a`` and ``b`` of different lengths.
    """
    x = _values(a, "paired_test a")
    y = _values(b, "paired_test b")
    if x.shape != y.shape:
        raise ValueError(f"paired_test: a has {x.size} values, b has {y.size}; they must be the same queries")
    d = x - y
    n = d.size
    observed = abs(d.mean())
    rng = np.random.default_rng(seed)
    extreme = 0
    chunk = max(1, 2_000_000 // n)
    for s in range(0, n_resamples, chunk):
        m = min(chunk, n_resamples - s)
        signs = rng.choice(np.array([-1.0, 1.0]), size=(m, n))
        extreme += int(np.sum(np.abs((signs * d).mean(axis=1)) >= observed - 1e-12))
    p_rand = (extreme + 1) / (n_resamples + 1)
    if np.allclose(d, 0):
        p_wil = 1.0
    else:
        from scipy.stats import wilcoxon

        p_wil = float(wilcoxon(x, y, zero_method="wilcox").pvalue)
    ci = bootstrap_ci(d, n_boot=min(n_resamples, 2000), alpha=alpha, seed=seed)
    return PairedResult(float(d.mean()), ci.lo, ci.hi, float(p_rand), p_wil, int(n))


def over_seeds(per_seed: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single seed) of a metric over seeds."""
    arr = _values(per_seed, "over_seeds")
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return float(arr.mean()), std
