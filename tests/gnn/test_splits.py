from __future__ import annotations

import numpy as np
import pytest

from musicgraph.gnn.splits import Interactions, Split, hetrec_split, interactions_from_store, split_counts


def test_split_counts_follow_recbole_rounding():
    got = split_counts(np.array([1, 2, 3, 5, 10, 19, 50]))
    assert got.tolist() == [[1, 0, 0], [1, 0, 1], [1, 1, 1], [3, 1, 1], [8, 1, 1], [17, 1, 1], [40, 5, 5]]
    assert (got.sum(1) == [1, 2, 3, 5, 10, 19, 50]).all()


def test_split_counts_rejects_bad_ratios():
    with pytest.raises(ValueError, match="ratios"):
        split_counts(np.array([10]), (0.5, 0.2, 0.2))


def _inter(n_users=30, n_items=60, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        for i in rng.choice(n_items, int(rng.integers(3, 30)), replace=False):
            rows.append((f"u{u:03d}", f"i{i:03d}", 1.0))
    return Interactions.from_pairs(rows)


def test_split_is_per_user_disjoint_complete_and_seeded():
    inter = _inter()
    a = hetrec_split(inter, seed=1)
    b = hetrec_split(inter, seed=1)
    c = hetrec_split(inter, seed=2)
    for part in ("train", "valid", "test"):
        assert np.array_equal(getattr(a, part)[0], getattr(b, part)[0])
        assert np.array_equal(getattr(a, part)[1], getattr(b, part)[1])
    assert not np.array_equal(a.test_item, c.test_item)
    codes = {p: set((getattr(a, p)[0] * a.num_items + getattr(a, p)[1]).tolist()) for p in ("train", "valid", "test")}
    assert not (codes["train"] & codes["valid"]) and not (codes["train"] & codes["test"]) and not (codes["valid"] & codes["test"])
    assert sum(len(c) for c in codes.values()) == len(inter)
    sizes = np.bincount(inter.user, minlength=inter.num_users)
    expect = split_counts(sizes)
    for k, p in enumerate(("train", "valid", "test")):
        assert (np.bincount(getattr(a, p)[0], minlength=inter.num_users) == expect[:, k]).all()


def test_split_does_not_depend_on_row_order():
    inter = _inter()
    perm = np.random.default_rng(3).permutation(len(inter))
    shuffled = Interactions(inter.user_keys, inter.item_keys, inter.user[perm], inter.item[perm], inter.weight[perm])
    a, b = hetrec_split(inter, seed=5), hetrec_split(shuffled, seed=5)
    assert np.array_equal(a.test_user, b.test_user) and np.array_equal(a.test_item, b.test_item)


def test_known_before_masks_train_then_train_and_valid():
    s = hetrec_split(_inter(), seed=0)
    assert s.known_before("valid").nnz == len(s.train_user)
    assert s.known_before("test").nnz == len(s.train_user) + len(s.valid_user)
    with pytest.raises(ValueError):
        s.known_before("train")


def test_recbole_export_and_roundtrip(tmp_path):
    s = hetrec_split(_inter(), seed=0)
    files = s.to_recbole(tmp_path, "lastfm")
    names = sorted(p.name for p in files)
    assert names == ["lastfm.inter", "lastfm.test.inter", "lastfm.train.inter", "lastfm.valid.inter"]
    lines = (tmp_path / "lastfm" / "lastfm.test.inter").read_text().splitlines()
    assert lines[0] == "user_id:token\titem_id:token"
    assert len(lines) == 1 + len(s.test_user)
    u, i = lines[1].split("\t")
    assert (u, i) == (s.user_keys[s.test_user[0]], s.item_keys[s.test_item[0]])
    s.save(tmp_path / "split.npz")
    back = Split.load(tmp_path / "split.npz")
    assert np.array_equal(back.valid_item, s.valid_item) and list(back.user_keys) == list(s.user_keys)


def test_interactions_from_store(store):
    inter = interactions_from_store(store)
    assert inter.num_users == 24
    assert len(inter) == store.count_edges()["LISTENED_TO"]
    assert list(inter.user_keys) == sorted(inter.user_keys)
    split = hetrec_split(store, seed=0)
    assert len(split.train_user) + len(split.valid_user) + len(split.test_user) == len(inter)


def test_interactions_reject_bad_indices():
    with pytest.raises(ValueError, match="item index"):
        Interactions(np.array(["a"]), np.array(["x"]), [0], [3], [1.0])
