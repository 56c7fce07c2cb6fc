"""Relation operators against brute force, and the aggregates their explanations state."""

from __future__ import annotations

import re

import numpy as np
import pytest

from musicgraph.retrieval.request import Relation, Request, Seed
from musicgraph.retrieval.resources import GraphResources


@pytest.fixture(scope="module")
def res(store, index_dir, vad):
    from musicgraph.retrieval.index import IndexBundle

    return GraphResources(store, IndexBundle.load(index_dir, dense=False), vad=vad)


def _listeners(store) -> dict[str, set[str]]:
    fans: dict[str, set[str]] = {}
    for e in store.iter_edges("LISTENED_TO"):
        fans.setdefault(e.dst.key, set()).add(e.src.key)
    return fans


def test_fans_of_is_the_damped_shared_listener_count(store, res):
    ops, space = res.ops, res.space
    fans = _listeners(store)
    seed = space.projection.index("Artist", "daft punk")
    got = ops.score(Relation.FANS_OF, seed).artist
    for a in fans:
        item = space.projection.index("Artist", a) - space.a_lo
        shared = len(fans[a] & fans["daft punk"]) if a != "daft punk" else 0
        want = shared / (len(fans[a]) + ops.k0) ** ops.beta
        assert got[item] == pytest.approx(want)
    # an artist nobody listens to with Daft Punk's fans scores 0
    assert got[space.projection.index("Artist", "adele") - space.a_lo] == 0


def test_hub_damping_ranks_a_specific_artist_above_a_hub(store, tmp_path, vad):
    """Two artists share the same 3 listeners with the seed; the one with 50 more listeners ranks lower."""
    from musicgraph.graph.embedded import EmbeddedStore

    s = EmbeddedStore(tmp_path / "hub")
    s.upsert_nodes("Artist", [(a, {"name": a}) for a in ("seed", "hub", "niche")])
    users = [f"hetrec:{i}" for i in range(60)]
    s.upsert_nodes("User", [(u, {}) for u in users])
    edges = [(u, a, {"weight": 1}) for u in users[:3] for a in ("seed", "hub", "niche")]
    edges += [(u, "hub", {"weight": 1}) for u in users[3:53]]
    s.upsert_edges("LISTENED_TO", "User", "Artist", edges)
    r = GraphResources(s, vad=vad)
    from musicgraph.retrieval.graph_retriever import GraphRetriever

    out = GraphRetriever(resources=r).search(Request(seeds=[Seed(label="Artist", name="seed", relation="fans_of")],
                                                     kind="artist", k=2))
    assert [x.id for x in out] == ["niche", "hub"]
    # the explanation states the aggregate: 3 of the seed's 3 listeners play each
    assert re.match(r"100 % of seed's listeners also play niche \(3 of 3\)", out[0].paths[0].note)


def test_explanation_numbers_match_the_graph(store, res):
    from musicgraph.retrieval.graph_retriever import GraphRetriever

    fans = _listeners(store)
    out = GraphRetriever(resources=res).search(
        Request(seeds=[Seed(label="Artist", name="Justice", relation="fans_of")], kind="artist", k=3))
    assert out
    for r in out:
        path = r.paths[0]
        m = re.search(r"\(([\d,]+) of ([\d,]+)\)", path.note)
        assert m, path.note
        shared, total = (int(x.replace(",", "")) for x in m.groups())
        assert total == len(fans["justice"]) and shared == len(fans["justice"] & fans[r.id])
        # the witness is a real common listener
        witness = path.nodes[1].key
        assert witness in fans["justice"] and witness in fans[r.id]


def test_listened_by_excludes_known_and_names_the_users_artist(store, res):
    from musicgraph.retrieval.graph_retriever import GraphRetriever

    out = GraphRetriever(resources=res).search(Request(seeds=[Seed(label="User", name="3", key="hetrec:3")],
                                                       kind="artist", k=5))
    known = {e.dst.key for e in store.iter_edges("LISTENED_TO") if e.src.key == "hetrec:3"}
    assert out and not ({r.id for r in out} & known)
    for r in out:
        assert r.paths and r.paths[0].nodes[0].key == "hetrec:3"


def test_tag_constraint_edge_and_combine_all(store, res):
    from musicgraph.retrieval.graph_retriever import GraphRetriever

    g = GraphRetriever(resources=res)
    out = g.search(Request(seeds=[Seed(label="Artist", name="Daft Punk", relation="fans_of")],
                           constraints={"tags": ["french house"]}, kind="song", k=5))
    assert out and all(r.artist in ("Justice",) for r in out)
    for r in out:
        assert len(r.paths) == 2  # one per seed relation, one per constraint
        assert r.paths[1].names[0] == "french house" and "tagged french house" in r.paths[1].note
    # combine all: only answers related to both seeds
    both = g.search(Request(seeds=[Seed(label="Artist", name="Daft Punk", relation="fans_of"),
                                   Seed(label="Artist", name="Metallica", relation="fans_of")],
                            combine="all", kind="artist", k=10))
    fans = _listeners(store)
    for r in both:
        assert fans[r.id] & fans["daft punk"] and fans[r.id] & fans["metallica"]
    anyof = g.search(Request(seeds=[Seed(label="Artist", name="Daft Punk", relation="fans_of"),
                                    Seed(label="Artist", name="Metallica", relation="fans_of")],
                             combine="any", kind="artist", k=10))
    assert len(anyof) > len(both)


def test_unknown_names_raise_with_suggestions(res):
    from musicgraph.errors import UnknownEntityError
    from musicgraph.retrieval.graph_retriever import GraphRetriever

    g = GraphRetriever(resources=res)
    with pytest.raises(UnknownEntityError, match="did you mean: Daft Punk"):
        g.search(Request(seeds=[Seed(label="Artist", name="Daft Punkk")]))
    with pytest.raises(UnknownEntityError, match="tag or genre"):
        g.search(Request(seeds=[Seed(label="Artist", name="Daft Punk")], constraints={"tags": ["zydeco"]}))


def test_membership_relations_restrict_answers(store, res):
    from musicgraph.retrieval.graph_retriever import GraphRetriever

    g = GraphRetriever(resources=res)
    out = g.search(Request(seeds=[Seed(label="Artist", name="Adele", relation="performed_by")], k=10))
    assert {r.id for r in out} == {"adele|someone like you", "adele|rolling in the deep"}
    scores = np.array([r.score for r in out])
    assert (scores > 0).all()


def test_the_artist_walk_of_listened_by_is_the_full_walks_artist_scores(res):
    """listened_by's walk share computes only the artist rows of the last step: the same numbers bit for bit."""
    ops, space = res.ops, res.space
    u_lo, u_hi = space.ranges["User"]
    seeds = [{u: 1.0} for u in range(u_lo, u_hi)] + [{space.a_lo: 1.0}, {space.a_lo + 1: 1.0}]
    for s in seeds:
        res.walker.clear_walks(keep_moods=False)
        part = ops._walk_artist_scores(s)  # a walk of the artist rows
        full = ops._walk_scores(s).artist  # a full walk of its own
        assert np.array_equal(part, full)
    assert np.all(ops._walk_artist_scores({space.a_lo: 1.0})[0] == 0.0)  # the seed is not its own answer


def test_user_paths_are_the_same_with_the_per_user_cache(store, res, index_dir, vad):
    from musicgraph.retrieval.index import IndexBundle

    fresh = GraphResources(store, IndexBundle.load(index_dir, dense=False), vad=vad).ops
    ops, space = res.ops, res.space
    ops.PROFILE_CACHE = 2  # users come and go: hits, misses and a cleared cache
    u_lo, u_hi = space.ranges["User"]
    checked = 0
    for _ in range(2):
        for u in range(u_lo, u_hi):
            for a in range(space.a_hi - space.a_lo):
                fresh._profiles.clear()
                fresh._profile_fans_cache.clear()
                want = fresh.user_path(u, a, None)
                got = ops.user_path(u, a, None)
                assert (got is None) == (want is None)
                if got is not None:
                    assert got.as_list() == want.as_list() and got.note == want.note
                    checked += 1
    assert checked > 0 and len(ops._profiles) <= 2


def test_shared_listeners_and_the_witness_against_a_sorted_merge(res):
    ops = res.ops
    wt = ops.WT
    n_art = ops.a_hi - ops.a_lo
    pairs = 0
    for y in range(n_art):
        for a in range(n_art):
            uy, wy = wt.indices[wt.indptr[y]:wt.indptr[y + 1]], wt.data[wt.indptr[y]:wt.indptr[y + 1]]
            ua, wa = wt.indices[wt.indptr[a]:wt.indptr[a + 1]], wt.data[wt.indptr[a]:wt.indptr[a + 1]]
            common, iy, ia = np.intersect1d(uy, ua, assume_unique=True, return_indices=True)
            got, strength = ops._shared_listeners(y, a)
            assert got.tolist() == common.tolist()
            assert np.array_equal(strength, np.minimum(wy[iy], wa[ia]))
            if len(common):
                pairs += 1
                assert ops._witness(y, a) == int(common[np.lexsort((common, -np.minimum(wy[iy], wa[ia])))[0]])
    assert pairs > n_art  # artists with shared listeners other than themselves


def test_component_ranks_count_the_allowed_items_scored_higher(store, res):
    from musicgraph.retrieval.assembly import assemble, prepare, seed_scores

    requests = [Request(seeds=[Seed(label=label, name=name, key=key)], kind=kind, k=8)
                for kind in ("song", "artist")
                for label, name, key in (("User", "3", "hetrec:3"), ("User", "2", "hetrec:2"),
                                         ("Artist", str(res.projection.names[res.space.a_lo]), None))]
    checked, ranks = 0, set()
    for req in requests:
        prep = prepare(res, req)
        scores, _ = seed_scores(res, prep)
        selected = res.space.select(req.kind, scores, prep.mask, req.k)
        out = assemble(res, prep, selected, {"graph": scores}, paths=False)
        allowed = scores[prep.mask]
        allowed = allowed[allowed > 0]
        for sel, r in zip(selected, out, strict=True):
            assert r.ranks["graph"] == 1 + int(np.count_nonzero(allowed > scores[sel.item]))
            checked += 1
            ranks.add(r.ranks["graph"])
    assert checked >= 2 and max(ranks) > 1
