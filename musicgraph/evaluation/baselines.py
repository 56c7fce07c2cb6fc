"""Classic collaborative-filtering baselines on a binary rows x items matrix.

Rows are users (HetRec) or playlists (playlist continuation, where a test playlist's seed tracks are
its row: fold-in). Every baseline implements :class:`BaselineRecommender`: ``fit(train)`` on a CSR matrix,
``score(rows)`` returning dense scores, and :meth:`BaselineRecommender.recommend` for a masked top-K.

* :class:`RandomRec`: uniform random scores (seeded).
* :class:`MostPop`: number of rows holding the item.
* :class:`ItemKNN`: item-item cosine similarity, ``k`` nearest neighbours per item, optional shrinkage.
* :class:`UserKNN`: row-row cosine similarity, ``k`` nearest neighbours per row.
* :class:`EASE`: Steck (2019) closed form ``B = I - P diagMat(1/diag(P))``, ``P = (X^T X + lambda I)^-1``;
  the dense inverse is over the ``max_items`` most popular items (others score 0) to bound memory.
* :class:`BPR` / :class:`ALS`: matrix factorization from the ``implicit`` library when installed,
  else :class:`BPR` falls back to a numpy implementation (:func:`_bpr_numpy`).

:func:`make_baseline` builds one by name (``random``, ``mostpop``, ``itemknn``, ``userknn``, ``ease``,
``bpr``, ``als``) with a seed.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import scipy.sparse as sp

from musicgraph.evaluation.metrics import top_k_from_scores

log = logging.getLogger(__name__)


def _binary(train: sp.spmatrix) -> sp.csr_matrix:
    if not sp.issparse(train):
        raise TypeError(f"train must be a scipy sparse matrix, got {type(train).__name__}")
    x = sp.csr_matrix(train, dtype=np.float64, copy=True)
    x.sum_duplicates()
    x.eliminate_zeros()
    x.data[:] = 1.0
    return x


def _l2_normalize_rows(x: sp.csr_matrix) -> sp.csr_matrix:
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return sp.diags(inv) @ x


def _keep_top_k_per_row(sim: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep the ``k`` largest entries of every row of a CSR matrix (ties: lower column first)."""
    sim = sp.csr_matrix(sim)
    sim.sort_indices()
    indptr, indices, data = sim.indptr, sim.indices, sim.data
    keep = np.zeros(len(data), dtype=bool)
    for r in range(sim.shape[0]):
        a, b = indptr[r], indptr[r + 1]
        if b - a <= k:
            keep[a:b] = True
            continue
        order = np.lexsort((indices[a:b], -data[a:b]))[:k]
        keep[a + order] = True
    rows = np.repeat(np.arange(sim.shape[0]), np.diff(indptr))
    out = sp.csr_matrix((data[keep], (rows[keep], indices[keep])), shape=sim.shape)
    return out


class BaselineRecommender(ABC):
    """A top-K recommender over the columns (items) of a rows x items interaction matrix."""

    name: str = "recommender"

    def __init__(self) -> None:
        self.train: sp.csr_matrix | None = None

    @abstractmethod
    def fit(self, train: sp.spmatrix) -> BaselineRecommender:
        """Learn from the binary interactions of ``train`` (rows x items)."""

    @abstractmethod
    def score(self, rows: np.ndarray) -> np.ndarray:
        """Dense ``(len(rows), n_items)`` scores for the given row indices (higher is better)."""

    def _require_fit(self) -> sp.csr_matrix:
        if self.train is None:
            raise RuntimeError(f"{self.name}: call fit() before score()/recommend()")
        return self.train

    def recommend(
        self, rows: np.ndarray, k: int, exclude: sp.spmatrix | None = None, batch_size: int = 512
    ) -> np.ndarray:
        """Top-``k`` item ids per row, best first, masking the non-zeros of ``exclude`` (rows x items).

        ``exclude`` defaults to the training matrix (items already known are never recommended).
        """
        train = self._require_fit()
        rows = np.asarray(rows, dtype=np.int64)
        ex = sp.csr_matrix(train if exclude is None else exclude)
        if ex.shape[1] != train.shape[1]:
            raise ValueError(f"exclude has {ex.shape[1]} item columns, the model {train.shape[1]}")
        out = np.full((len(rows), min(k, train.shape[1])), -1, dtype=np.int64)
        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            out[start : start + len(batch)] = top_k_from_scores(self.score(batch), k, ex[batch])
        return out

    def params(self) -> dict[str, Any]:
        """Hyper-parameters, for results.json."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_") and k != "train"}


class RandomRec(BaselineRecommender):
    """Uniformly random scores; different for every call, reproducible for a seed."""

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.seed = seed
        self._rng = np.random.default_rng(seed)

    def fit(self, train: sp.spmatrix) -> RandomRec:
        self.train = _binary(train)
        self._rng = np.random.default_rng(self.seed)
        return self

    def score(self, rows: np.ndarray) -> np.ndarray:
        train = self._require_fit()
        return self._rng.random((len(rows), train.shape[1]))


class MostPop(BaselineRecommender):
    """Items ranked by how many training rows hold them."""

    name = "mostpop"

    def fit(self, train: sp.spmatrix) -> MostPop:
        self.train = _binary(train)
        self._pop = np.asarray(self.train.sum(axis=0)).ravel()
        return self

    def score(self, rows: np.ndarray) -> np.ndarray:
        self._require_fit()
        return np.tile(self._pop, (len(rows), 1))


class _KNN(BaselineRecommender):
    """A kNN baseline: ``k`` neighbours (at least 1), cosine similarity shrunk by ``shrink``."""

    def __init__(self, k: int, shrink: float) -> None:
        super().__init__()
        if k < 1:
            raise ValueError(f"{type(self).__name__}: k must be >= 1, got {k}")
        self.k = k
        self.shrink = shrink


class ItemKNN(_KNN):
    """Item-based kNN: ``score(u, i) = sum_j x_uj * sim(j, i)`` over the ``k`` nearest items of each j."""

    name = "itemknn"

    def __init__(self, k: int = 100, shrink: float = 0.0) -> None:
        super().__init__(k, shrink)

    def fit(self, train: sp.spmatrix) -> ItemKNN:
        self.train = _binary(train)
        x = self.train.tocsc()
        co = (x.T @ x).tocsr()
        norms = np.sqrt(np.asarray(co.diagonal()).ravel())
        co.setdiag(0.0)
        co.eliminate_zeros()
        coo = co.tocoo()
        denom = norms[coo.row] * norms[coo.col] + self.shrink
        vals = np.divide(coo.data, denom, out=np.zeros_like(coo.data), where=denom > 0)
        sim = sp.csr_matrix((vals, (coo.row, coo.col)), shape=co.shape)
        self._sim = _keep_top_k_per_row(sim, self.k)
        return self

    def score(self, rows: np.ndarray) -> np.ndarray:
        train = self._require_fit()
        return np.asarray((train[rows] @ self._sim).todense())


class UserKNN(_KNN):
    """Row-based kNN: ``score(u, i) = sum_v sim(u, v) * x_vi`` over the ``k`` most similar rows v."""

    name = "userknn"

    def __init__(self, k: int = 50, shrink: float = 0.0) -> None:
        super().__init__(k, shrink)

    def fit(self, train: sp.spmatrix) -> UserKNN:
        self.train = _binary(train)
        return self

    def score(self, rows: np.ndarray) -> np.ndarray:
        train = self._require_fit()
        norms = np.sqrt(np.asarray(train.sum(axis=1)).ravel())
        co = np.asarray((train[rows] @ train.T).todense())
        denom = norms[rows][:, None] * norms[None, :] + self.shrink
        sim = np.divide(co, denom, out=np.zeros_like(co), where=denom > 0)
        sim[np.arange(len(rows)), rows] = 0.0  # not its own neighbour
        k = min(self.k, sim.shape[1])
        if k < sim.shape[1]:
            cut = np.argpartition(-sim, k - 1, axis=1)[:, k:]
            np.put_along_axis(sim, cut, 0.0, axis=1)
        return np.asarray((sp.csr_matrix(sim) @ train).todense())


class EASE(BaselineRecommender):
    """Embarrassingly Shallow Autoencoder (Steck, 2019), closed form with L2 weight ``lam``."""

    name = "ease"

    def __init__(self, lam: float = 500.0, max_items: int = 8000) -> None:
        super().__init__()
        if lam <= 0:
            raise ValueError(f"EASE: lam must be positive, got {lam}")
        self.lam = lam
        self.max_items = max_items

    def fit(self, train: sp.spmatrix) -> EASE:
        self.train = _binary(train)
        pop = np.asarray(self.train.sum(axis=0)).ravel()
        n_items = self.train.shape[1]
        if n_items > self.max_items:
            order = np.lexsort((np.arange(n_items), -pop))
            self._items = np.sort(order[: self.max_items])
            log.info("EASE: closed form over the %d most popular of %d items", self.max_items, n_items)
        else:
            self._items = np.arange(n_items)
        x = self.train[:, self._items]
        gram = np.asarray((x.T @ x).todense(), dtype=np.float64)
        gram[np.diag_indices_from(gram)] += self.lam
        p = np.linalg.inv(gram)
        b = -p / np.diag(p)[None, :]
        b[np.diag_indices_from(b)] = 0.0
        self._b = b
        return self

    def score(self, rows: np.ndarray) -> np.ndarray:
        train = self._require_fit()
        out = np.zeros((len(rows), train.shape[1]))
        sub = train[rows][:, self._items]
        out[:, self._items] = np.asarray(sub @ self._b)
        return out


class _Factorization(BaselineRecommender):
    """Dot-product scores of learned row and item factors."""

    def __init__(self, factors: int = 64, iterations: int = 100, seed: int = 0) -> None:
        super().__init__()
        self.factors = factors
        self.iterations = iterations
        self.seed = seed
        self._u: np.ndarray | None = None
        self._v: np.ndarray | None = None

    def score(self, rows: np.ndarray) -> np.ndarray:
        self._require_fit()
        assert self._u is not None and self._v is not None
        return self._u[rows] @ self._v.T


def _implicit_available() -> bool:
    try:
        import implicit  # noqa: F401
    except ImportError:
        return False
    return True


class BPR(_Factorization):
    """Matrix factorization trained with the BPR pairwise loss (``implicit`` when installed, else numpy)."""

    name = "bpr"

    def __init__(
        self,
        factors: int = 64,
        iterations: int = 100,
        learning_rate: float = 0.05,
        regularization: float = 0.01,
        seed: int = 0,
    ) -> None:
        super().__init__(factors, iterations, seed)
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.backend = "implicit" if _implicit_available() else "numpy"

    def fit(self, train: sp.spmatrix) -> BPR:
        self.train = _binary(train)
        if self.backend == "implicit":
            from implicit.cpu.bpr import BayesianPersonalizedRanking

            model = BayesianPersonalizedRanking(
                factors=self.factors,
                learning_rate=self.learning_rate,
                regularization=self.regularization,
                iterations=self.iterations,
                random_state=self.seed,
            )
            model.fit(self.train.astype(np.float32), show_progress=False)
            self._u, self._v = np.asarray(model.user_factors), np.asarray(model.item_factors)
        else:
            self._u, self._v = _bpr_numpy(
                self.train, self.factors, self.iterations, self.learning_rate, self.regularization, self.seed
            )
        return self


class ALS(_Factorization):
    """Implicit-feedback ALS (Hu et al., 2008) from the ``implicit`` library; confidence ``1 + alpha``."""

    name = "als"

    def __init__(
        self, factors: int = 64, iterations: int = 20, regularization: float = 0.05, alpha: float = 10.0, seed: int = 0
    ) -> None:
        super().__init__(factors, iterations, seed)
        self.regularization = regularization
        self.alpha = alpha

    def fit(self, train: sp.spmatrix) -> ALS:
        if not _implicit_available():
            raise ImportError("ALS needs the 'implicit' package: pip install implicit")
        from implicit.cpu.als import AlternatingLeastSquares

        self.train = _binary(train)
        model = AlternatingLeastSquares(
            factors=self.factors,
            regularization=self.regularization,
            alpha=self.alpha,
            iterations=self.iterations,
            random_state=self.seed,
        )
        model.fit(self.train.astype(np.float32), show_progress=False)
        self._u, self._v = np.asarray(model.user_factors), np.asarray(model.item_factors)
        return self


def _bpr_numpy(
    x: sp.csr_matrix, factors: int, epochs: int, lr: float, reg: float, seed: int, batch: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """Mini-batch SGD on the BPR loss with uniform negative sampling (fallback without ``implicit``)."""
    rng = np.random.default_rng(seed)
    n_rows, n_items = x.shape
    u_f = rng.normal(0, 0.1, (n_rows, factors))
    v_f = rng.normal(0, 0.1, (n_items, factors))
    coo = x.tocoo()
    users, pos = coo.row.astype(np.int64), coo.col.astype(np.int64)
    for _ in range(epochs):
        perm = rng.permutation(len(users))
        for s in range(0, len(perm), batch):
            idx = perm[s : s + batch]
            u, i = users[idx], pos[idx]
            j = rng.integers(0, n_items, len(idx))
            uu, vi, vj = u_f[u], v_f[i], v_f[j]
            xuij = np.einsum("bd,bd->b", uu, vi - vj)
            g = 1.0 / (1.0 + np.exp(np.clip(xuij, -30, 30)))  # sigmoid(-x)
            np.add.at(u_f, u, lr * (g[:, None] * (vi - vj) - reg * uu))
            np.add.at(v_f, i, lr * (g[:, None] * uu - reg * vi))
            np.add.at(v_f, j, lr * (-g[:, None] * uu - reg * vj))
    return u_f, v_f


BASELINES: dict[str, type[BaselineRecommender]] = {
    "random": RandomRec,
    "mostpop": MostPop,
    "itemknn": ItemKNN,
    "userknn": UserKNN,
    "ease": EASE,
    "bpr": BPR,
    "als": ALS,
}

#: Baselines that have a random seed (trained: mean over seeds in the report).
SEEDED: frozenset[str] = frozenset({"random", "bpr", "als"})


def make_baseline(name: str, seed: int = 0, **params: Any) -> BaselineRecommender:
    """A baseline by name; ``seed`` is passed to the seeded ones, ``params`` to the constructor."""
    try:
        cls = BASELINES[name]
    except KeyError:
        raise ValueError(f"unknown baseline {name!r}; expected one of {', '.join(BASELINES)}") from None
    if name in SEEDED:
        params = {"seed": seed, **params}
    return cls(**params)
