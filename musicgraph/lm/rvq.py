"""Residual vector quantization (RVQ): a vector becomes a short tuple of codebook indices.

Level 1 clusters the vectors with k-means; level 2 clusters what level 1 left unexplained (the
residuals); and so on. A vector x is coded as (c1, c2, c3) with

    x ≈ C1[c1] + C2[c2] + C3[c3]

so items that share a prefix are close, which is what lets a language model generate an item by
generating its codes one level at a time (TIGER, Rajput et al. 2023). Codebooks are fitted with
k-means (FAISS when installed, else a numpy Lloyd loop with k-means++ seeding); this RQ-k-means is
the quantizer that OneRec and others use in place of a trained RQ-VAE.

>>> import numpy as np
>>> x = np.random.default_rng(0).normal(size=(500, 8)).astype("float32")
>>> rvq = ResidualVQ(levels=2, size=16, seed=0).fit(x)
>>> rvq.encode(x).shape
(500, 2)
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


def kmeans(x: np.ndarray, k: int, iters: int = 25, seed: int = 0) -> np.ndarray:
    """``k`` centroids of the rows of ``x`` (FAISS k-means, or numpy Lloyd iterations)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    k = min(k, len(x))
    try:
        import faiss

        km = faiss.Kmeans(x.shape[1], k, niter=iters, seed=seed, verbose=False, spherical=False)
        km.train(x)
        return np.asarray(km.centroids, dtype=np.float32)
    except ImportError:
        pass
    rng = np.random.default_rng(seed)
    cent = np.empty((k, x.shape[1]), dtype=np.float32)
    cent[0] = x[rng.integers(len(x))]
    d2 = ((x - cent[0]) ** 2).sum(1)
    for i in range(1, k):  # k-means++
        p = d2 / d2.sum() if d2.sum() > 0 else None
        cent[i] = x[rng.choice(len(x), p=p)]
        d2 = np.minimum(d2, ((x - cent[i]) ** 2).sum(1))
    for _ in range(iters):
        assign = nearest(x, cent)
        for j in range(k):
            members = x[assign == j]
            if len(members):
                cent[j] = members.mean(0)
    return cent


def nearest(x: np.ndarray, centroids: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """Index of the nearest centroid (L2) for each row of ``x``."""
    c2 = (centroids**2).sum(1)
    out = np.empty(len(x), dtype=np.int64)
    for s in range(0, len(x), chunk):
        block = x[s : s + chunk]
        out[s : s + chunk] = np.argmin(c2[None, :] - 2.0 * block @ centroids.T, axis=1)
    return out


@dataclass(slots=True)
class ResidualVQ:
    """``levels`` codebooks of ``size`` codes each, fitted on residuals.

    Attributes:
        codebooks: one ``(size, dim)`` array per level (after :meth:`fit`).
    """

    levels: int = 3
    size: int = 256
    iters: int = 25
    seed: int = 0
    codebooks: list[np.ndarray] = field(default_factory=list)

    def fit(self, x: np.ndarray) -> ResidualVQ:
        """Fit the codebooks on the rows of ``x`` (float32 ``(n, dim)``)."""
        if x.ndim != 2 or len(x) == 0:
            raise ValueError(f"RVQ needs a non-empty (n, dim) matrix, got shape {x.shape}")
        residual = np.asarray(x, dtype=np.float32).copy()
        self.codebooks = []
        for level in range(self.levels):
            cent = kmeans(residual, self.size, self.iters, self.seed + level)
            codes = nearest(residual, cent)
            residual -= cent[codes]
            self.codebooks.append(cent)
            log.info("RVQ level %d: %d codes used of %d", level + 1, len(np.unique(codes)), len(cent))
        return self

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Codes ``(n, levels)`` of the rows of ``x``."""
        if not self.codebooks:
            raise ValueError("the RVQ is not fitted")
        residual = np.asarray(x, dtype=np.float32).copy()
        out = np.empty((len(x), len(self.codebooks)), dtype=np.int64)
        for level, cent in enumerate(self.codebooks):
            out[:, level] = nearest(residual, cent)
            residual -= cent[out[:, level]]
        return out

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """The reconstruction ``sum_l C_l[codes[:, l]]``."""
        return sum(cent[codes[:, level]] for level, cent in enumerate(self.codebooks))  # type: ignore[return-value]

    def save(self, path: Path) -> None:
        """Write the codebooks and settings to ``path`` (numpy ``.npz``; :meth:`load` reads it)."""
        np.savez(path, *self.codebooks, levels=self.levels, size=self.size, seed=self.seed)

    @classmethod
    def load(cls, path: Path) -> ResidualVQ:
        """The quantizer :meth:`save` wrote to ``path``."""
        data = np.load(path)
        levels = int(data["levels"])
        return cls(levels=levels, size=int(data["size"]), seed=int(data["seed"]),
                   codebooks=[data[f"arr_{i}"] for i in range(levels)])  # fmt: skip


def code_stats(codes: np.ndarray, sizes: list[int], x: np.ndarray | None = None, rvq: ResidualVQ | None = None) -> dict[str, Any]:
    """Codebook use and collisions of ``codes`` (``(n, levels)``).

    Returns:
        per level the share of codes used and the perplexity (exp of the code entropy; equal to
        the codebook size when use is uniform), the collision rate (share of items whose full code
        is shared with another item), the largest collision group, and with ``x`` and ``rvq`` the
        relative reconstruction error ``|x - x̂|² / |x - mean|²``.
    """
    out: dict[str, Any] = {"items": int(len(codes)), "levels": []}
    for level, size in enumerate(sizes):
        counts = np.bincount(codes[:, level], minlength=size).astype(np.float64)
        p = counts[counts > 0] / counts.sum()
        out["levels"].append({"size": size, "used": int((counts > 0).sum()), "use": round(float((counts > 0).mean()), 4),
                              "perplexity": round(float(np.exp(-(p * np.log(p)).sum())), 1)})  # fmt: skip
    groups = Counter(map(tuple, codes.tolist()))
    shared = sum(c for c in groups.values() if c > 1)
    out["collision_rate"] = round(shared / max(1, len(codes)), 4)
    out["distinct_ids"] = len(groups)
    out["largest_group"] = max(groups.values()) if groups else 0
    if x is not None and rvq is not None:
        err = ((x - rvq.decode(codes)) ** 2).sum()
        var = ((x - x.mean(0)) ** 2).sum()
        out["relative_reconstruction_error"] = round(float(err / max(var, 1e-12)), 4)
    return out
