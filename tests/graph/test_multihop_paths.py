"""The vectorized explanation paths of MultiHopScorer against a brute-force enumeration (invented graph)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from musicgraph.graph.multihop import MultiHopScorer
from musicgraph.graph.projection import Projection


@pytest.fixture(scope="module")
def scorer() -> MultiHopScorer:
    """A random typed graph: 12 artists, 6 tags, 8 users, 30 songs (all invented)."""
    rng = np.random.default_rng(7)
    ranges = {"Song": (0, 30), "Artist": (30, 42), "Tag": (42, 48), "User": (48, 56)}
    n = 56
    keys = np.array([f"n{i}" for i in range(n)], dtype=object)
    names = np.array([f"node {i}" for i in range(n)], dtype=object)

    def rel(src: tuple[int, int], dst: tuple[int, int], m: int, weighted: bool) -> object:
        import scipy.sparse as sp

        rows = rng.integers(*src, m)
        cols = rng.integers(*dst, m)
        vals = rng.integers(1, 50, m).astype(np.float64) if weighted else np.ones(m)
        mat = sp.coo_matrix((vals, (rows, cols)), shape=(n, n)).tocsr()
        mat.sum_duplicates()
        return mat

    matrices = {
        "PERFORMED_BY": rel(ranges["Song"], ranges["Artist"], 40, False),
        "TAGGED": rel(ranges["Artist"], ranges["Tag"], 30, True),
        "LISTENED_TO": rel(ranges["User"], ranges["Artist"], 35, True),
        "IN_PLAYLIST": rel(ranges["Song"], ranges["Tag"], 25, False),  # stands in for any song-level type
    }
    proj = Projection(keys=keys, names=names, label_ranges=ranges, matrices=matrices, version="test")
    return MultiHopScorer(proj)


def brute_force(sc: MultiHopScorer, seeds: list[int], target: int, max_hops: int, relevance: np.ndarray | None):
    """Every simple path of <= max_hops hops from a seed to target (no seed or target inside), scored."""
    S = sc.S.toarray()
    lo, hi = sc._user_range
    rel = None if relevance is None else np.sqrt(np.maximum(relevance / relevance.mean(), 1e-12))

    def pen(i: int) -> float:
        base = sc.user_path_penalty if lo <= i < hi else 1.0
        return base * (float(rel[i]) if rel is not None else 1.0)

    out = []
    n = S.shape[0]
    blocked = set(seeds) | {target}
    for s in dict.fromkeys(seeds):
        if s == target:
            continue
        if S[s, target] > 0:
            out.append((S[s, target], (s, target)))
        if max_hops >= 2:
            for m in range(n):
                if m not in blocked and S[s, m] > 0 and S[m, target] > 0:
                    out.append((S[s, m] * S[m, target] * pen(m), (s, m, target)))
        if max_hops >= 3:
            for a, b in itertools.permutations(range(n), 2):
                if a in blocked or (b in blocked and b != target) or b == s:
                    continue
                if S[s, a] > 0 and S[a, b] > 0 and S[b, target] > 0:
                    out.append((S[s, a] * S[a, b] * S[b, target] * (pen(a) * pen(b)), (s, a, b, target)))
    return out


@pytest.mark.parametrize("max_hops", [1, 2, 3])
def test_best_path_score_matches_brute_force(scorer: MultiHopScorer, max_hops: int) -> None:
    rng = np.random.default_rng(max_hops)
    checked = 0
    for trial in range(40):
        seeds = [int(x) for x in rng.integers(30, 56, 1 + trial % 3)]
        target = int(rng.integers(0, 30))
        relevance = scorer.ppr({s: 1.0 for s in seeds}) if trial % 2 else None
        got = scorer.paths(seeds, target, max_hops=max_hops, top=1, relevance=relevance)
        want = brute_force(scorer, seeds, target, max_hops, relevance)
        if not want:
            assert got == []
            continue
        best = max(w for w, _ in want)
        assert got and got[0].score == pytest.approx(best, rel=1e-12)
        # the returned path is a real path with that score
        nodes = tuple(int(scorer.projection.index(r.label, r.key)) for r in got[0].nodes)
        assert any(p == nodes and w == pytest.approx(best, rel=1e-12) for w, p in want)
        checked += 1
    assert checked >= (3 if max_hops == 1 else 10)


def test_relationship_names_match_the_per_pair_lookup(scorer: MultiHopScorer) -> None:
    """The one-table relationship look-up picks what the per-matrix binary searches pick."""

    def reference(u: int, v: int) -> str:
        best, best_w = "RELATED_TO", -1.0
        for rel, mat in scorer.projection.matrices.items():
            w_rel = scorer.rel_weights.get(rel, 0.0)
            if w_rel == 0.0 or mat.nnz == 0:
                continue
            fwd = scorer._weight(mat, u, v)
            if fwd and fwd * w_rel > best_w:
                best, best_w = rel, fwd * w_rel
            bwd = scorer._weight(mat, v, u)
            if bwd and bwd * w_rel > best_w:
                best, best_w = f"<-{rel}", bwd * w_rel
        return best

    us, vs = np.nonzero(scorer.S.toarray())
    us = np.concatenate([us, [0, 1, 2]])  # and a few unlinked pairs
    vs = np.concatenate([vs, [1, 2, 3]])
    assert scorer._rels_between(us, vs) == [reference(int(u), int(v)) for u, v in zip(us, vs, strict=True)]
    assert scorer._rel_between(int(us[0]), int(vs[0])) == reference(int(us[0]), int(vs[0]))


def test_prefer_short_equals_two_hops_then_three(scorer: MultiHopScorer) -> None:
    rng = np.random.default_rng(11)
    fell_through = 0
    for trial in range(60):
        seeds = [int(x) for x in rng.integers(30, 56, 1 + trial % 3)]
        target = int(rng.integers(0, 30))
        relevance = scorer.ppr({s: 1.0 for s in seeds})
        relevance.setflags(write=False)  # the mean is then remembered between calls
        want = scorer.paths(seeds, target, max_hops=2, top=2, relevance=relevance)
        if not want:
            fell_through += 1
            want = scorer.paths(seeds, target, max_hops=3, top=2, relevance=relevance)
        got = scorer.paths(seeds, target, max_hops=3, top=2, relevance=relevance, prefer_short=True)
        assert [(p.as_list(), p.score) for p in got] == [(p.as_list(), p.score) for p in want]
    assert fell_through > 0
