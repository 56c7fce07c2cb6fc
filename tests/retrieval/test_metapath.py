"""Co-listening meta-path: exact shared-listener counts, song inheritance, witnessed explanation paths."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from musicgraph.graph.embedded import EmbeddedStore
from musicgraph.retrieval.metapath import CoListening, song_artist_nodes

# invented listening data: user -> {artist: plays}
LISTENS = {
    "u1": {"y": 10, "a": 5, "b": 1},
    "u2": {"y": 3, "a": 40},
    "u3": {"y": 7, "c": 2},
    "u4": {"a": 9, "b": 9, "c": 9},
    "u5": {"b": 4},
    "u6": {"b": 1},
}
SONGS = {"y|s1": "y", "a|s1": "a", "a|s2": "a", "b|s1": "b", "c|s1": "c", "d|s1": "d"}


@pytest.fixture()
def proj(tmp_path):
    store = EmbeddedStore(tmp_path / "s")
    store.upsert_nodes("Artist", [(a, {"name": a.upper()}) for a in "abcdy"])
    store.upsert_nodes("User", [(f"hetrec:{u}", {"source": "hetrec"}) for u in LISTENS])
    store.upsert_nodes("Song", [(s, {"title": s}) for s in SONGS])
    store.upsert_edges("LISTENED_TO", "User", "Artist",
                       [(f"hetrec:{u}", a, {"weight": w}) for u, d in LISTENS.items() for a, w in d.items()])
    store.upsert_edges("PERFORMED_BY", "Song", "Artist", [(s, a, {}) for s, a in SONGS.items()])
    p = store.projection()
    store.close()
    return p


def _brute_share(y: str, a: str) -> float:
    fans_y = {u for u, d in LISTENS.items() if y in d}
    fans_a = {u for u, d in LISTENS.items() if a in d}
    return len(fans_y & fans_a) / len(fans_y)


def test_shares_equal_brute_force_counts(proj):
    cl = CoListening(proj)
    assert cl.available
    for y in "abcy":
        node = proj.index("Artist", y)
        got = cl.shares({node: 1.0})
        for a in "abcdy":
            want = 0.0 if a == y else _brute_share(y, a)
            assert got[proj.index("Artist", a) - cl.a_lo] == pytest.approx(want), (y, a)
            if a != y:
                assert cl.pair_share(node, proj.index("Artist", a)) == pytest.approx(want)


def test_several_seeds_are_a_weighted_mean(proj):
    cl = CoListening(proj)
    y, c = proj.index("Artist", "y"), proj.index("Artist", "c")
    got = cl.shares({y: 3.0, c: 1.0})
    a = proj.index("Artist", "a") - cl.a_lo
    assert got[a] == pytest.approx((3 * _brute_share("y", "a") + 1 * _brute_share("c", "a")) / 4)
    assert got[y - cl.a_lo] == 0 and got[c - cl.a_lo] == 0  # seeds are not their own answers


def test_songs_inherit_their_artists_share(proj):
    keys = list(SONGS)
    cl = CoListening(proj, song_artist_nodes(proj, [SONGS[k] for k in keys] + ["nobody"]))
    s = cl.song_shares({proj.index("Artist", "y"): 1.0})
    assert len(s) == len(keys) + 1 and s[-1] == 0.0  # an unknown artist scores 0, no crash
    for i, k in enumerate(keys):
        assert s[i] == pytest.approx(0.0 if SONGS[k] == "y" else _brute_share("y", SONGS[k]))
    order = [keys[i] for i in np.argsort(-s[:-1], kind="stable")]
    assert order[:2] == ["a|s1", "a|s2"]  # 2 of y's 3 fans play a


def test_witness_is_the_shared_listener_who_plays_both_most(proj):
    cl = CoListening(proj)
    y, a, d = (proj.index("Artist", x) for x in "yad")
    # u1 plays y 10 / a 5 (min 5), u2 plays y 3 / a 40 (min 3): u1 is the stronger witness
    assert proj.ref(cl.witness(y, a)).key == "hetrec:u1"
    assert cl.witness(y, d) is None  # nobody listens to d


def test_path_is_a_real_chain_of_stored_edges(proj):
    cl = CoListening(proj)
    y, a, b = (proj.index("Artist", x) for x in "yab")
    song = proj.index("Song", "a|s2")
    p = cl.path([b, y], song, a)
    assert p is not None
    assert [n.key for n in p.nodes] == ["y", "hetrec:u1", "a", "a|s2"]  # y shares more fans with a than b
    assert p.score == pytest.approx(_brute_share("y", "a"))
    for src, rel, dst in p.edges():
        m = proj.matrices[rel]
        assert m[proj.index(src.label, src.key), proj.index(dst.label, dst.key)] > 0, (src, rel, dst)
    assert "listened to" in p.sentence()
    assert cl.path([y], proj.index("Song", "d|s1"), proj.index("Artist", "d")) is None


def test_no_listening_data_means_unavailable_and_zero(tmp_path):
    store = EmbeddedStore(tmp_path / "s")
    store.upsert_nodes("Artist", [("a", {"name": "A"})])
    p = store.projection()
    store.close()
    cl = CoListening(p)
    assert not cl.available
    assert not cl.shares({p.index("Artist", "a"): 1.0}).any()


def test_matches_networkx_on_random_bipartite_graph(tmp_path):
    nx = pytest.importorskip("networkx")
    rng = np.random.default_rng(3)
    users, artists = [f"u{i}" for i in range(40)], [f"a{i}" for i in range(15)]
    edges = {(u, a) for u, a in itertools.product(users, artists) if rng.random() < 0.2}
    store = EmbeddedStore(tmp_path / "r")
    store.upsert_nodes("Artist", [(a, {"name": a}) for a in artists])
    store.upsert_nodes("User", [(u, {}) for u in users])
    store.upsert_edges("LISTENED_TO", "User", "Artist", [(u, a, {"weight": 1}) for u, a in edges])
    p = store.projection()
    store.close()
    g = nx.Graph()
    g.add_edges_from(edges)
    cl = CoListening(p)
    for y in artists[:5]:
        if y not in g:
            continue
        got = cl.shares({p.index("Artist", y): 1.0})
        fy = set(g[y])
        for a in artists:
            want = 0.0 if a == y or a not in g else len(fy & set(g[a])) / len(fy)
            assert got[p.index("Artist", a) - cl.a_lo] == pytest.approx(want)


# ------------------------------------------------------------- inside the graph component
@pytest.fixture()
def component_store(tmp_path):
    store = EmbeddedStore(tmp_path / "g")
    store.upsert_nodes("Artist", [(a, {"name": a.upper()}) for a in "abcdy"])
    store.upsert_nodes("User", [(f"hetrec:{u}", {"source": "hetrec"}) for u in LISTENS])
    store.upsert_nodes("Song", [(s, {"title": s.split("|")[1], "artist": SONGS[s].upper()}) for s in SONGS])
    store.upsert_nodes("Tag", [("rock", {"name": "rock"})])
    store.upsert_edges("LISTENED_TO", "User", "Artist",
                       [(f"hetrec:{u}", a, {"weight": w}) for u, d in LISTENS.items() for a, w in d.items()])
    store.upsert_edges("PERFORMED_BY", "Song", "Artist", [(s, a, {}) for s, a in SONGS.items()])
    # b and c are tagged rock; a (the strongest co-listened artist) is not
    store.upsert_edges("TAGGED", "Artist", "Tag", [("b", "rock", {"weight": 5}), ("c", "rock", {"weight": 5})])
    yield store
    store.close()


def _component(store, weight):
    from musicgraph.retrieval.catalog import SongTable
    from musicgraph.retrieval.graph import GraphComponent

    cat = SongTable.from_store(store)
    return GraphComponent(store.projection(), cat, colisten_weight=weight), cat


def test_artist_seed_ranks_by_co_listening_and_explains_with_the_meta_path(component_store):
    g, cat = _component(component_store, 0.95)
    y = g.projection.index("Artist", "y")
    gs = g.score({y: 1.0})
    order = [cat.keys[r] for r in np.argsort(-gs.scores, kind="stable") if gs.scores[r] > 0]
    assert set(order[:2]) == {"a|s1", "a|s2"}  # 2 of y's 3 fans play a; b and c 1 of 3 each
    assert "y|s1" not in order[:2]
    paths = g.paths(gs, cat.row("a|s1"), top=2)
    assert [n.key for n in paths[0].nodes] == ["y", "hetrec:u1", "a", "a|s1"]
    off, _ = _component(component_store, 0.0)  # weight 0: the plain walk, no meta-path explanation
    p0 = off.paths(off.score({y: 1.0}), cat.row("a|s1"), top=2)
    assert all(p.rels[:2] != ["<-LISTENED_TO", "LISTENED_TO"] or p.score != paths[0].score for p in p0)


def test_conjunctive_request_explains_each_side(component_store):
    g, cat = _component(component_store, 0.95)
    y, rock = g.projection.index("Artist", "y"), g.projection.index("Tag", "rock")
    gs = g.score({y: 1.0, rock: 1.0})
    best = cat.keys[int(np.argmax(gs.scores))]
    assert best in {"b|s1", "c|s1"}  # co-listened *and* tagged rock; a (untagged) loses
    paths = g.paths(gs, cat.row(best), top=2)
    starts = {p.nodes[0].key for p in paths}
    assert starts == {"y", "rock"}
    meta = next(p for p in paths if p.nodes[0].key == "y")
    assert meta.rels[:2] == ["<-LISTENED_TO", "LISTENED_TO"]
