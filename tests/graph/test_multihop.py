from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from musicgraph import api
from musicgraph.errors import EmptyStoreError, RequestError, UnknownEntityError
from musicgraph.graph import EmbeddedStore
from musicgraph.graph.multihop import MultiHopScorer


def recommend(store, **kw):
    """``musicgraph.recommend`` on ``store`` (the graph retriever's multi-hop operators)."""
    return api.recommend(store=store, **kw)


@pytest.fixture
def toy(tmp_path):
    """Radiohead and Portishead share 'trip-hop'; Muse shares listeners with Radiohead; Glory Box is Portishead's."""
    s = EmbeddedStore(tmp_path / "toy")
    s.upsert_nodes("Artist", [(k, {"name": n}) for k, n in [
        ("radiohead", "Radiohead"), ("portishead", "Portishead"), ("muse", "Muse"), ("abba", "ABBA")]])
    s.upsert_nodes("Tag", [("trip hop", {"name": "trip-hop"}), ("disco", {"name": "disco"})])
    s.upsert_nodes("User", [(f"hetrec:{i}", {"name": f"user {i}"}) for i in range(4)])
    s.upsert_nodes("Song", [
        ("portishead|glory box", {"title": "Glory Box", "artist": "Portishead"}),
        ("muse|uprising", {"title": "Uprising", "artist": "Muse"}),
        ("abba|dancing queen", {"title": "Dancing Queen", "artist": "ABBA"}),
        ("radiohead|creep", {"title": "Creep", "artist": "Radiohead"}),
    ])
    s.upsert_edges("TAGGED", "Artist", "Tag", [
        ("radiohead", "trip hop", {"weight": 10.0}), ("portishead", "trip hop", {"weight": 30.0}),
        ("abba", "disco", {"weight": 20.0})])
    s.upsert_edges("LISTENED_TO", "User", "Artist", [
        ("hetrec:0", "radiohead", {"weight": 500.0}), ("hetrec:0", "muse", {"weight": 300.0}),
        ("hetrec:1", "radiohead", {"weight": 100.0}), ("hetrec:1", "muse", {"weight": 80.0}),
        ("hetrec:2", "abba", {"weight": 50.0}), ("hetrec:3", "abba", {"weight": 10.0})])
    s.upsert_edges("PERFORMED_BY", "Song", "Artist", [
        ("portishead|glory box", "portishead", {"role": "main"}), ("muse|uprising", "muse", {"role": "main"}),
        ("abba|dancing queen", "abba", {"role": "main"}), ("radiohead|creep", "radiohead", {"role": "main"})])
    yield s
    s.close()


def test_ppr_matches_networkx_pagerank(toy):
    scorer = MultiHopScorer(toy.projection(), restart=0.15, tol=1e-12, max_iter=500, dtype=np.float64)
    proj = scorer.projection
    seed = proj.index("Artist", "radiohead")
    r = scorer.ppr({seed: 1.0})
    g = nx.Graph()
    g.add_nodes_from(range(proj.num_nodes))
    coo = scorer.P.tocoo()
    adj = proj.adjacency(scorer.rel_weights, symmetric=True).tocoo()
    for i, j, w in zip(adj.row, adj.col, adj.data, strict=True):
        if i < j:
            g.add_edge(int(i), int(j), weight=float(w))
    assert coo.nnz == adj.nnz
    ref = nx.pagerank(g, alpha=0.85, personalization={seed: 1.0}, weight="weight", tol=1e-14, max_iter=1000)
    np.testing.assert_allclose(r, [ref[i] for i in range(proj.num_nodes)], atol=1e-8)
    assert abs(r.sum() - 1.0) < 1e-9


def test_ppr_many_equals_single(toy):
    scorer = MultiHopScorer(toy.projection(), dtype=np.float64)
    n = scorer.projection.num_nodes
    seeds = np.zeros((n, 2))
    seeds[0, 0] = 1
    seeds[3, 1] = 1
    many = scorer.ppr_many(seeds)
    np.testing.assert_allclose(many[:, 0], scorer.ppr({0: 1.0}), atol=1e-9)
    np.testing.assert_allclose(many[:, 1], scorer.ppr({3: 1.0}), atol=1e-9)


def test_recommend_artists_with_paths(toy):
    res = recommend(toy, artists=["Radiohead"], k=3, kind="artist")
    names = [r.name for r in res]
    # Muse shares listeners with Radiohead, Portishead the trip-hop tag; ABBA neither
    assert set(names) == {"Muse", "Portishead"} and "Radiohead" not in names
    portishead = next(r for r in res if r.name == "Portishead")
    assert portishead.paths[0].as_list() == ["Radiohead", "TAGGED", "trip-hop", "<-TAGGED", "Portishead"]
    assert "tagged → trip-hop → tag of → Portishead" in portishead.paths[0].sentence()
    assert portishead.paths[0].note == "Radiohead and Portishead are both tagged trip-hop"
    muse = next(r for r in res if r.name == "Muse")
    assert muse.paths[0].note == "100 % of Radiohead's listeners also play Muse (2 of 2)"


def test_recommend_songs_three_hops(toy):
    res = recommend(toy, artists=["Radiohead"], k=5, kind="song")
    ids = [r.id for r in res]
    assert "radiohead|creep" not in ids  # the seed artist's own songs are not "like" it
    glory = next(r for r in res if r.id == "portishead|glory box")
    assert glory.paths[0].as_list() == [
        "Radiohead", "TAGGED", "trip-hop", "<-TAGGED", "Portishead", "<-PERFORMED_BY", "Glory Box"]
    assert glory.artist == "Portishead" and glory.title == "Glory Box"
    # ABBA is unreachable from Radiohead: never padded in with a zero score
    assert "abba|dancing queen" not in ids and all(r.score > 0 for r in res)


def test_exclude_known_for_users(toy):
    res = recommend(toy, user="0", k=5, kind="artist")
    assert res and {r.id for r in res}.isdisjoint({"radiohead", "muse"})
    res = recommend(toy, user="0", k=5, kind="artist", exclude_known=False)
    assert {r.id for r in res[:2]} == {"radiohead", "muse"}


def test_errors(toy, tmp_path):
    with pytest.raises(UnknownEntityError, match="did you mean: Radiohead"):
        recommend(toy, artists=["Radiohed"])
    with pytest.raises(UnknownEntityError, match="unknown user"):
        recommend(toy, user="999")
    with pytest.raises(UnknownEntityError, match="unknown song 'no dash here'"):
        recommend(toy, songs=["no dash here"])
    with pytest.raises(RequestError, match="at least one seed"):
        recommend(toy)
    with pytest.raises(RequestError, match="invalid request: k"):
        recommend(toy, artists=["Radiohead"], k=0)
    with pytest.raises(EmptyStoreError):
        recommend(EmbeddedStore(tmp_path / "empty"), artists=["x"])


# ------------------------------------------------------------------ certified CG solver
def _reference(proj, seeds):
    ref = MultiHopScorer(proj, solver="power", tol=1e-15, max_iter=5000, dtype=np.float64)
    return ref.ppr(seeds)


def test_cg_ppr_is_certified_against_the_converged_power_iteration(fixture_store):
    proj = fixture_store.projection()
    scorer = MultiHopScorer(proj)
    rng = np.random.default_rng(0)
    for _ in range(6):
        seeds = {int(i): float(w) for i, w in zip(rng.integers(0, proj.num_nodes, 3), rng.random(3) + 0.1, strict=True)}
        r, eps = scorer.ppr_certified(seeds)
        exact = _reference(proj, seeds)
        assert 0 < eps <= scorer.cg_tol
        assert np.all(np.abs(r - exact) <= eps * np.sqrt(scorer.degree) + 1e-15)
        assert abs(r.sum() - 1.0) < 1e-9
        np.testing.assert_array_equal(scorer.ppr(seeds), r)


def test_cg_ppr_with_an_isolated_seed_matches_the_power_iteration(toy):
    toy.upsert_nodes("Tag", [("lonely", {"name": "lonely"})])  # no relationship: a dangling node
    proj = toy.projection()
    lonely, radiohead = proj.index("Tag", "lonely"), proj.index("Artist", "radiohead")
    scorer = MultiHopScorer(proj)
    assert scorer.dangling[lonely]
    for seeds in ({lonely: 1.0}, {lonely: 1.0, radiohead: 3.0}):
        r, eps = scorer.ppr_certified(seeds)
        np.testing.assert_allclose(r, _reference(proj, seeds), atol=1e-9)
    many = scorer.ppr_many(np.eye(proj.num_nodes)[:, [lonely, radiohead]])
    np.testing.assert_allclose(many[:, 0], _reference(proj, {lonely: 1.0}), atol=1e-9)
    np.testing.assert_allclose(many[:, 1], _reference(proj, {radiohead: 1.0}), atol=1e-9)


def test_certified_top_accepts_the_exact_ranking_and_rejects_a_loose_bound(fixture_store):
    from musicgraph.graph.multihop import rank_items, resolve_seeds

    proj = fixture_store.projection()
    scorer = MultiHopScorer(proj)
    seeds = resolve_seeds(proj, tags=["pop"]).weights
    r, eps = scorer.ppr_certified(seeds)
    ranked = [i for i, _ in rank_items(scorer, seeds, k=5, kind="song", popularity_damping=0.3, ppr=r)]
    lo, hi = proj.label_ranges["Song"]
    cand = np.arange(lo, hi)[r[lo:hi] > 0]
    assert scorer.certified_top(r, eps, ranked, cand, 0.3)
    assert not scorer.certified_top(r, 1.0, ranked, cand, 0.3)  # a bound this loose certifies nothing


def test_partial_top_k_sort_equals_the_full_lexsort():
    from musicgraph.graph.multihop import _lexsort_top

    rng = np.random.default_rng(1)
    for n, k in ((10, 3), (1000, 10), (5000, 50), (5000, 5000)):
        primary = -np.round(rng.integers(0, 40, n) / 7.0, 15)  # many ties
        secondary = -rng.integers(0, 5, n).astype(float)
        np.testing.assert_array_equal(_lexsort_top(primary, secondary, k), np.lexsort((secondary, primary))[:k])


def test_transition_matrices_equal_the_transposing_construction(fixture_store):
    """P^T and the edge strengths are built from the symmetric adjacency without a transpose: the
    same values in the same order as transposing P (so every walk sums in the same order)."""
    import scipy.sparse as sp

    proj = fixture_store.projection()
    scorer = MultiHopScorer(proj)
    adj = proj.adjacency(scorer.rel_weights, symmetric=True, transform="log1p")
    deg = np.asarray(adj.sum(axis=1)).ravel()
    inv = np.zeros_like(deg)
    inv[deg > 0] = 1.0 / deg[deg > 0]
    P = (sp.diags(inv) @ adj).tocsr()
    S = P.multiply(P.T).sqrt().tocsr()
    S.sort_indices()
    for old, new in ((P.T.tocsr().astype(np.float32), scorer.PT), (S, scorer.S), (P, scorer.P)):
        assert np.array_equal(old.indptr, new.indptr) and np.array_equal(old.indices, new.indices)
        assert np.array_equal(old.data, new.data)
