"""GraphComponent's walk cache, sparse early steps, row-range last steps and stopping rule: the plain power iteration bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from musicgraph.retrieval.catalog import SongTable
from musicgraph.retrieval.graph import GraphComponent
from musicgraph.retrieval.query import Seed


def plain_iteration(gc: GraphComponent, seed_index: dict[int, float]) -> tuple[np.ndarray, int]:
    """The original float32 power iteration (full matrix-vector product every step): the vector and how many
    steps it took before its L1 change dropped below ``tol`` (or ``max_iter``)."""
    sc = gc.scorer
    s = np.zeros(gc.projection.num_nodes, dtype=np.float32)
    for idx, w in seed_index.items():
        s[idx] += w
    s /= s.sum()
    r = s.copy()
    damp = np.float32(1.0 - sc.restart)
    for step in range(1, gc.max_iter + 1):
        dangling = r[sc.dangling].sum()
        r_next = damp * (gc.walk_matrices().PT @ r) + (np.float32(sc.restart) + damp * dangling) * s
        err = float(np.abs(r_next - r).sum())
        r = r_next
        if err < gc.tol:
            return r.astype(np.float64), step
    return r.astype(np.float64), gc.max_iter


def plain_walk(gc: GraphComponent, seed_index: dict[int, float]) -> np.ndarray:
    """The vector of :func:`plain_iteration`."""
    return plain_iteration(gc, seed_index)[0]


def seed_sets(gc: GraphComponent) -> list[dict[int, float]]:
    proj = gc.projection
    out = []
    for label in ("Artist", "Tag", "Mood", "User", "Genre"):
        lo, hi = proj.label_ranges.get(label, (0, 0))
        if hi > lo:
            out.append({lo: 1.0})
            if hi - lo > 1:
                out.append({lo: 1.0, hi - 1: 0.5})
    lo, hi = proj.label_ranges["Artist"]
    t_lo, _ = proj.label_ranges["Tag"]
    out.append({hi - 1: 0.37, lo: 0.91, t_lo: 0.13})  # mixed labels, odd weights, unsorted
    return out


def test_sparse_early_steps_equal_the_full_iteration(store) -> None:
    cat = SongTable.from_store(store)
    proj = store.projection()
    full = GraphComponent(proj, cat, cache_size=0, sparse_fraction=0.0, reorder=False)
    sparse = GraphComponent(proj, cat, cache_size=0, sparse_fraction=1.0, reorder=False)  # sparse steps when possible
    both = GraphComponent(proj, cat, cache_size=0, sparse_fraction=1.0)  # and the degree-ordered numbering
    assert not both.walk_matrices().PTw.has_sorted_indices  # rows keep the original entry order
    for seeds in seed_sets(full):
        want = plain_walk(full, seeds)
        assert np.array_equal(full._ppr(seeds), want)
        np.testing.assert_allclose(sparse._ppr(seeds), want, rtol=1e-5, atol=1e-9)
        assert np.array_equal(both._ppr(seeds), want)  # same sums in the same order: bit for bit
    assert sparse.walk_stats == {"hits": 0, "walks": len(seed_sets(full))}
    assert both.walk_matrices().perm is not None and sorted(both.walk_matrices().perm.tolist()) == list(range(proj.num_nodes))


def test_walk_cache_is_keyed_by_normalized_weights_and_bounded(store) -> None:
    cat = SongTable.from_store(store)
    gc = GraphComponent(store.projection(), cat, cache_size=2)
    a, b, c = seed_sets(gc)[:3]
    first = gc._ppr(a)
    scaled = {i: 3.0 * w for i, w in a.items()}  # same restart distribution
    assert gc._ppr(scaled) is first and gc.walk_stats == {"hits": 1, "walks": 1}
    assert not first.flags.writeable  # shared with the cache
    gc._ppr(b)
    gc._ppr(c)  # evicts a (least recently used)
    assert len(gc._walks) == 2
    again = gc._ppr(a)
    assert gc.walk_stats["walks"] == 4 and np.array_equal(again, first)


def test_warm_up_walks_the_moods_and_scores_do_not_change(store) -> None:
    cat = SongTable.from_store(store)
    proj = store.projection()
    cold = GraphComponent(proj, cat, cache_size=0, sparse_fraction=0.0, reorder=False)
    warm = GraphComponent(proj, cat)
    warm.warm_up()
    lo, hi = proj.label_ranges["Mood"]
    assert warm.walk_stats["walks"] == hi - lo
    seeds = warm.seed_indexes([Seed("Artist", "daft punk", "Daft Punk", "daft punk")], moods=["happy"])
    got, want = warm.score(seeds), cold.score(seeds)
    assert warm.walk_stats["hits"] >= 1  # the mood group came from the cache
    np.testing.assert_allclose(got.scores, want.scores, rtol=1e-5, atol=1e-12)
    assert list(np.argsort(-got.scores, kind="stable")[:5]) == list(np.argsort(-want.scores, kind="stable")[:5])


def test_clear_walks_keeps_the_warm_up_moods(store) -> None:
    cat = SongTable.from_store(store)
    gc = GraphComponent(store.projection(), cat)
    gc.warm_up()
    moods = len(gc._walks)
    for seeds in seed_sets(gc):
        gc._ppr(seeds)
    assert len(gc._walks) > moods
    gc.clear_walks()
    assert len(gc._walks) == moods
    gc.clear_walks(keep_moods=False)
    assert len(gc._walks) == 0


def plain_steps(gc: GraphComponent, seed_index: dict[int, float]) -> int:
    """How many steps :func:`plain_iteration` takes."""
    return plain_iteration(gc, seed_index)[1]


@pytest.mark.parametrize("reorder", [True, False])
@pytest.mark.parametrize("sparse_fraction", [0.0, 0.25, 1.0])
def test_a_walk_of_some_rows_is_the_full_walks_slice_bit_for_bit(store, reorder, sparse_fraction) -> None:
    cat = SongTable.from_store(store)
    proj = store.projection()
    gc = GraphComponent(proj, cat, cache_size=0, sparse_fraction=sparse_fraction, reorder=reorder)
    for label in ("Artist", "Song", "User", "Tag"):
        rows = proj.label_ranges[label]
        for seeds in seed_sets(gc):
            want = plain_walk(gc, seeds)
            got = gc._ppr(seeds, rows=rows)
            assert got.dtype == np.float64 and got.shape == (rows[1] - rows[0],)
            assert np.array_equal(got, want[rows[0]:rows[1]])
    if sparse_fraction == 0.0:  # full last steps: the row-range operator was used
        assert gc._row_ops


@pytest.mark.parametrize("tol", [0.5, 0.1, 1e-2, 1e-3, 1e-7])
def test_the_walk_stops_at_the_plain_iterations_step(store, tol) -> None:
    """The L1 change is summed only when the seeds' own change is below ``tol``: the same stopping step."""
    cat = SongTable.from_store(store)
    proj = store.projection()
    gc = GraphComponent(proj, cat, cache_size=0, max_iter=40, tol=tol)
    rows = proj.label_ranges["Artist"]
    steps = []
    for seeds in seed_sets(gc):
        want = plain_walk(gc, seeds)
        assert np.array_equal(gc._ppr(seeds), want)
        assert np.array_equal(gc._ppr(seeds, rows=rows), want[rows[0]:rows[1]])
        steps.append(plain_steps(gc, seeds))
    if tol >= 1e-2:
        assert min(steps) < gc.max_iter  # some walks stopped early: the stopping rule was exercised
    if tol <= 1e-7:
        assert max(steps) == gc.max_iter


def test_single_seed_walks_do_not_depend_on_the_seed_weight(store) -> None:
    cat = SongTable.from_store(store)
    gc = GraphComponent(store.projection(), cat, cache_size=0)
    lo, _ = gc.projection.label_ranges["User"]
    want = plain_walk(gc, {lo: 1.0})
    for w in (1.0, 0.37, 3.0, 1e-3):
        assert np.array_equal(gc._ppr({lo: w}), want)


def test_row_walks_share_the_cache_with_full_walks(store) -> None:
    cat = SongTable.from_store(store)
    proj = store.projection()
    gc = GraphComponent(proj, cat, cache_size=8)
    rows = proj.label_ranges["Artist"]
    a, b = seed_sets(gc)[:2]
    full = gc._ppr(a)
    part = gc._ppr(a, rows=rows)  # sliced from the cached full walk
    assert gc.walk_stats == {"hits": 1, "walks": 1}
    assert np.array_equal(part, full[rows[0]:rows[1]]) and not part.flags.writeable
    first = gc._ppr(b, rows=rows)
    assert gc._ppr(b, rows=rows) is first and gc.walk_stats == {"hits": 2, "walks": 2}
    assert np.array_equal(first, gc._ppr(b)[rows[0]:rows[1]])  # the full walk is a walk of its own
    assert gc.walk_stats["walks"] == 3
    gc.clear_walks()
    assert len(gc._walks) == 0
