"""GraphComponent's walk cache and sparse early steps: same vectors as the plain power iteration."""

from __future__ import annotations

import numpy as np

from musicgraph.retrieval.catalog import SongTable
from musicgraph.retrieval.graph import GraphComponent
from musicgraph.retrieval.query import Seed


def plain_walk(gc: GraphComponent, seed_index: dict[int, float]) -> np.ndarray:
    """The original float32 power iteration (full matrix-vector product every step)."""
    sc = gc.scorer
    s = np.zeros(gc.projection.num_nodes, dtype=np.float32)
    for idx, w in seed_index.items():
        s[idx] += w
    s /= s.sum()
    r = s.copy()
    damp = np.float32(1.0 - sc.restart)
    for _ in range(gc.max_iter):
        dangling = r[sc.dangling].sum()
        r_next = damp * (gc.walk_matrices().PT @ r) + (np.float32(sc.restart) + damp * dangling) * s
        err = float(np.abs(r_next - r).sum())
        r = r_next
        if err < gc.tol:
            break
    return r.astype(np.float64)


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
