"""Link-prediction splits of user -> item interactions (HetRec Last.fm user -> artist).

The protocol is RecBole's ``RS [0.8, 0.1, 0.1]`` with ``order: RO, group_by: user``, the one under
which RecBole-GNN publishes its HetRec Last.fm numbers: per user, the interactions are shuffled
with a fixed seed and cut into train / validation / test with RecBole's rounding (validation and
test get ``floor(0.1 n)`` each; a user with fewer than 10 interactions still gets one validation and
one test item while at least two stay in train). Ranking is over every item, with the items the
user already has in earlier parts masked (train for validation; train and validation for test).

Small API used by training and by the evaluation area::

    from musicgraph.gnn.splits import hetrec_split
    split = hetrec_split(store, seed=2020)          # or an Interactions, or a data directory
    u, i = split.train                                # int64 arrays of user / item indices
    split.to_recbole("out/", "hetrec")                # RecBole atomic files (.inter + benchmark parts)

Indices refer to ``split.user_keys`` / ``split.item_keys`` (graph keys: ``hetrec:2``, ``radiohead``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from musicgraph.graph.resolve import HETREC, hetrec_key
from musicgraph.graph.schema import Label, Rel

if TYPE_CHECKING:
    from musicgraph.graph.store import GraphStore

log = logging.getLogger(__name__)

DEFAULT_RATIOS: tuple[float, float, float] = (0.8, 0.1, 0.1)
DEFAULT_SEED = 2020


class _KeyCounts:
    """``num_users`` / ``num_items``: the sizes of the ``user_keys`` / ``item_keys`` vocabularies."""

    __slots__ = ()
    user_keys: np.ndarray
    item_keys: np.ndarray

    @property
    def num_users(self) -> int:
        """Users indexed by ``user_keys``."""
        return int(len(self.user_keys))

    @property
    def num_items(self) -> int:
        """Items indexed by ``item_keys``."""
        return int(len(self.item_keys))


@dataclass(slots=True)
class Interactions(_KeyCounts):
    """Weighted user -> item interactions with their key vocabularies.

    Attributes:
        user_keys: user keys (index = user id), e.g. ``hetrec:2``.
        item_keys: item keys (index = item id), e.g. the artist key ``radiohead``.
        user: int64 user index per interaction.
        item: int64 item index per interaction.
        weight: float32 weight per interaction (play count).
    """

    user_keys: np.ndarray
    item_keys: np.ndarray
    user: np.ndarray
    item: np.ndarray
    weight: np.ndarray

    def __post_init__(self) -> None:
        self.user = np.asarray(self.user, dtype=np.int64)
        self.item = np.asarray(self.item, dtype=np.int64)
        self.weight = np.asarray(self.weight, dtype=np.float32)
        if not (len(self.user) == len(self.item) == len(self.weight)):
            raise ValueError(
                f"interaction arrays differ in length: user {len(self.user)}, item {len(self.item)}, "
                f"weight {len(self.weight)}"
            )
        if len(self.user) and (self.user.min() < 0 or self.user.max() >= len(self.user_keys)):
            raise ValueError(f"user index out of range [0, {len(self.user_keys)})")
        if len(self.item) and (self.item.min() < 0 or self.item.max() >= len(self.item_keys)):
            raise ValueError(f"item index out of range [0, {len(self.item_keys)})")

    def __len__(self) -> int:
        return int(len(self.user))

    @classmethod
    def from_pairs(cls, rows: list[tuple[str, str, float]]) -> Interactions:
        """Build from ``(user_key, item_key, weight)`` rows; duplicates are summed, keys sorted."""
        if not rows:
            raise ValueError("no interactions given")
        agg: dict[tuple[str, str], float] = {}
        for u, i, w in rows:
            agg[(u, i)] = agg.get((u, i), 0.0) + float(w)
        users = np.asarray(sorted({u for u, _ in agg}), dtype=object)
        items = np.asarray(sorted({i for _, i in agg}), dtype=object)
        uidx = {k: n for n, k in enumerate(users)}
        iidx = {k: n for n, k in enumerate(items)}
        pairs = sorted(agg)
        return cls(
            users,
            items,
            np.fromiter((uidx[u] for u, _ in pairs), np.int64, len(pairs)),
            np.fromiter((iidx[i] for _, i in pairs), np.int64, len(pairs)),
            np.fromiter((agg[p] for p in pairs), np.float32, len(pairs)),
        )


def interactions_from_store(store: GraphStore, user_source: str | None = HETREC) -> Interactions:
    """User -[LISTENED_TO]-> Artist interactions of a store (users of ``user_source``; None: all).

    Uses the store's CSR projection, so keys come out sorted and the result is deterministic.
    """
    proj = store.projection()
    u0, u1 = proj.label_ranges[Label.USER]
    a0, a1 = proj.label_ranges[Label.ARTIST]
    mat = proj.matrices.get(Rel.LISTENED_TO)
    if mat is None or mat.nnz == 0:
        raise ValueError(f"{store!r}: the store has no {Rel.LISTENED_TO} relationships (run ingest first)")
    sub = mat[u0:u1, a0:a1].tocoo()
    user_keys = np.asarray(proj.keys[u0:u1], dtype=object)
    keep_user = np.ones(len(user_keys), dtype=bool)
    if user_source is not None:
        keep_user = np.array([str(k).startswith(f"{user_source}:") for k in user_keys], dtype=bool)
    mask = keep_user[sub.row]
    rows, cols, vals = sub.row[mask], sub.col[mask], sub.data[mask]
    used_users = np.unique(rows)
    used_items = np.unique(cols)
    if len(used_users) == 0:
        raise ValueError(f"{store!r}: no {Rel.LISTENED_TO} relationships from users of source {user_source!r}")
    umap = np.full(u1 - u0, -1, dtype=np.int64)
    umap[used_users] = np.arange(len(used_users))
    imap = np.full(a1 - a0, -1, dtype=np.int64)
    imap[used_items] = np.arange(len(used_items))
    order = np.lexsort((cols, rows))
    return Interactions(
        user_keys=user_keys[used_users],
        item_keys=np.asarray(proj.keys[a0:a1], dtype=object)[used_items],
        user=umap[rows[order]],
        item=imap[cols[order]],
        weight=vals[order].astype(np.float32),
    )


def interactions_from_hetrec(data_dir: str | Path) -> Interactions:
    """User -> artist interactions read straight from ``hetrec_lastfm2k/user_artists.dat``.

    Keys are ``hetrec:<userID>`` and ``hetrec:<artistID>`` (source ids, not graph keys): this is the
    fast path for experiments and for checking the protocol against RecBole on the raw file.
    """
    from musicgraph.loaders.hetrec import iter_listens

    rows = [(hetrec_key(r.user_id), hetrec_key(r.artist_id), r.weight) for r in iter_listens(Path(data_dir))]
    if not rows:
        raise ValueError(f"{data_dir}: no rows in hetrec_lastfm2k/user_artists.dat")
    return Interactions.from_pairs(rows)


def split_counts(n: np.ndarray, ratios: tuple[float, float, float] = DEFAULT_RATIOS) -> np.ndarray:
    """Per-group ``(train, valid, test)`` counts with RecBole's ``_calcu_split_ids`` rounding.

    Args:
        n: int array of group sizes.
    Returns:
        int64 array of shape ``(len(n), 3)``.
    """
    n = np.asarray(n, dtype=np.int64)
    r = np.asarray(ratios, dtype=np.float64)
    if r.shape != (3,) or np.any(r < 0) or abs(r.sum() - 1.0) > 1e-6:
        raise ValueError(f"ratios must be three non-negative numbers summing to 1, got {ratios}")
    cnt = np.floor(np.outer(n, r)).astype(np.int64)  # int(ratio * tot) for each part
    cnt[:, 0] = n - cnt[:, 1] - cnt[:, 2]
    for part in (2, 1):  # RecBole walks the parts from the last one
        frac = r[part] * n
        bump = (cnt[:, 0] > 1) & (frac > 0) & (frac < 1)
        cnt[bump, part] += 1
        cnt[bump, 0] -= 1
    return cnt


@dataclass(slots=True)
class Split(_KeyCounts):
    """A train / validation / test split of :class:`Interactions` (indices into the key arrays)."""

    user_keys: np.ndarray
    item_keys: np.ndarray
    train_user: np.ndarray
    train_item: np.ndarray
    valid_user: np.ndarray
    valid_item: np.ndarray
    test_user: np.ndarray
    test_item: np.ndarray
    train_weight: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    seed: int = DEFAULT_SEED

    @property
    def train(self) -> tuple[np.ndarray, np.ndarray]:
        """``(user_idx, item_idx)`` int64 arrays of the training interactions."""
        return self.train_user, self.train_item

    @property
    def valid(self) -> tuple[np.ndarray, np.ndarray]:
        """The validation pairs as ``(user indices, item indices)``."""
        return self.valid_user, self.valid_item

    @property
    def test(self) -> tuple[np.ndarray, np.ndarray]:
        """The test pairs as ``(user indices, item indices)``."""
        return self.test_user, self.test_item

    def matrix(self, part: str) -> sp.csr_matrix:
        """Binary users x items CSR matrix of ``part`` (``train``, ``valid``, ``test``)."""
        if part not in ("train", "valid", "test"):
            raise ValueError(f"unknown split part {part!r}; expected train, valid or test")
        u, i = getattr(self, part)
        m = sp.csr_matrix(
            (np.ones(len(u), np.float32), (u, i)), shape=(self.num_users, self.num_items), dtype=np.float32
        )
        m.sum_duplicates()
        m.data[:] = 1.0
        return m

    def known_before(self, part: str) -> sp.csr_matrix:
        """Items to mask when ranking for ``part``: train for valid, train + valid for test."""
        if part == "valid":
            return self.matrix("train")
        if part == "test":
            m = (self.matrix("train") + self.matrix("valid")).tocsr()
            m.data[:] = 1.0
            return m
        raise ValueError(f"known_before: part must be valid or test, got {part!r}")

    def to_recbole(self, out_dir: str | Path, name: str = "hetrec") -> list[Path]:
        """Write RecBole atomic files: ``<name>.inter`` (all) and ``<name>.{train,valid,test}.inter``.

        The three part files are RecBole's ``benchmark_filename`` layout, so RecBole evaluates on
        exactly this split (``benchmark_filename: [train, valid, test]`` in its config).
        """
        out = Path(out_dir) / name
        out.mkdir(parents=True, exist_ok=True)
        header = "user_id:token\titem_id:token\n"
        written: list[Path] = []
        parts = {p: getattr(self, p) for p in ("train", "valid", "test")}
        for part, (u, i) in parts.items():
            path = out / f"{name}.{part}.inter"
            with path.open("w", encoding="utf-8") as fh:
                fh.write(header)
                fh.writelines(f"{self.user_keys[a]}\t{self.item_keys[b]}\n" for a, b in zip(u, i, strict=True))
            written.append(path)
        path = out / f"{name}.inter"
        with path.open("w", encoding="utf-8") as fh:
            fh.write(header)
            for u, i in parts.values():
                fh.writelines(f"{self.user_keys[a]}\t{self.item_keys[b]}\n" for a, b in zip(u, i, strict=True))
        written.append(path)
        log.info("wrote RecBole atomic files to %s", out)
        return written

    def save(self, path: str | Path) -> None:
        """Save to an ``.npz`` file."""
        np.savez(
            Path(path),
            user_keys=self.user_keys.astype(str),
            item_keys=self.item_keys.astype(str),
            train_user=self.train_user,
            train_item=self.train_item,
            valid_user=self.valid_user,
            valid_item=self.valid_item,
            test_user=self.test_user,
            test_item=self.test_item,
            train_weight=self.train_weight,
            seed=np.int64(self.seed),
        )

    @classmethod
    def load(cls, path: str | Path) -> Split:
        """Read a split written by :meth:`save`."""
        with np.load(Path(path), allow_pickle=False) as d:
            return cls(
                user_keys=d["user_keys"].astype(object),
                item_keys=d["item_keys"].astype(object),
                train_user=d["train_user"],
                train_item=d["train_item"],
                valid_user=d["valid_user"],
                valid_item=d["valid_item"],
                test_user=d["test_user"],
                test_item=d["test_item"],
                train_weight=d["train_weight"],
                seed=int(d["seed"]),
            )


def split_interactions(
    inter: Interactions, seed: int = DEFAULT_SEED, ratios: tuple[float, float, float] = DEFAULT_RATIOS
) -> Split:
    """Per-user random split of ``inter`` (vectorized; deterministic for a seed)."""
    if len(inter) == 0:
        raise ValueError("cannot split an empty interaction set")
    rng = np.random.default_rng(seed)
    # Canonical order first, so the result does not depend on the input row order.
    canon = np.lexsort((inter.item, inter.user))
    user, item, weight = inter.user[canon], inter.item[canon], inter.weight[canon]
    order = np.lexsort((rng.random(len(user)), user))  # shuffle within each user
    user, item, weight = user[order], item[order], weight[order]
    sizes = np.bincount(user, minlength=inter.num_users)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rank = np.arange(len(user)) - starts[user]
    cnt = split_counts(sizes, ratios)
    part = np.where(rank < cnt[user, 0], 0, np.where(rank < cnt[user, 0] + cnt[user, 1], 1, 2))
    t, v, s = part == 0, part == 1, part == 2
    return Split(
        user_keys=inter.user_keys,
        item_keys=inter.item_keys,
        train_user=user[t],
        train_item=item[t],
        valid_user=user[v],
        valid_item=item[v],
        test_user=user[s],
        test_item=item[s],
        train_weight=weight[t],
        seed=seed,
    )


def hetrec_split(
    source: GraphStore | Interactions | str | Path,
    seed: int = DEFAULT_SEED,
    ratios: tuple[float, float, float] = DEFAULT_RATIOS,
) -> Split:
    """The per-user 80/10/10 split of HetRec user -> artist listening.

    Args:
        source: a store (its hetrec users' ``LISTENED_TO`` relationships), ready
            :class:`Interactions`, or the data directory holding ``hetrec_lastfm2k/``.
        seed: random seed of the per-user shuffle.
        ratios: train / validation / test fractions.
    """
    if isinstance(source, Interactions):
        inter = source
    elif isinstance(source, (str, Path)):
        inter = interactions_from_hetrec(source)
    else:
        inter = interactions_from_store(source)
    split = split_interactions(inter, seed=seed, ratios=ratios)
    log.info(
        "hetrec split (seed %d): %d users, %d items, %d/%d/%d train/valid/test",
        seed,
        split.num_users,
        split.num_items,
        len(split.train_user),
        len(split.valid_user),
        len(split.test_user),
    )
    return split
