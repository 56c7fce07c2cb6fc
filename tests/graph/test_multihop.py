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
