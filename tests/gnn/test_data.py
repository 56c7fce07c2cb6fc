from __future__ import annotations

import numpy as np
import pytest
import torch

from musicgraph.gnn.data import (
    co_listening_edges,
    make_train_graph,
    reverse_type,
    standardize,
    store_to_hetero,
)
from musicgraph.gnn.splits import hetrec_split


def test_export_has_every_type_reverse_edges_and_features(store, tmp_path):
    data, keys = store_to_hetero(store, cache_dir=tmp_path / "cache")
    counts = store.count_nodes()
    for t in ("User", "Artist", "Tag", "Song"):
        assert data[t].num_nodes == counts[t] == len(keys[t])
        assert data[t].x.shape[0] == counts[t]
    assert list(keys["Artist"]) == sorted(keys["Artist"])
    edges = store.count_edges()
    for et in [("User", "LISTENED_TO", "Artist"), ("Artist", "TAGGED", "Tag"), ("Song", "PERFORMED_BY", "Artist")]:
        assert data[et].edge_index.shape[1] == edges[et[1]]
        rev = data[reverse_type(et)].edge_index
        assert torch.equal(rev, data[et].edge_index.flip(0))
        assert data[et].edge_weight.shape[0] == edges[et[1]]
    # one known edge maps back to its keys
    e = data["User", "LISTENED_TO", "Artist"].edge_index[:, 0]
    u, a = keys["User"][int(e[0])], keys["Artist"][int(e[1])]
    assert any(n.key == a for _, n in store.neighbors("User", u, "LISTENED_TO", "out"))
    # songs carry standardized audio features (+ missing fraction) after the degree column
    assert data["Song"].x.shape[1] > 2
    assert data["Song"].x[:, 1:].abs().max() < 10


def test_export_is_cached_and_deterministic(store, tmp_path):
    d1, _ = store_to_hetero(store, cache_dir=tmp_path / "c")
    files = list((tmp_path / "c").glob("hetero-*.pt"))
    assert len(files) == 1
    d2, _ = store_to_hetero(store, cache_dir=tmp_path / "c")
    d3, _ = store_to_hetero(store, cache_dir=tmp_path / "other")
    et = ("Artist", "TAGGED", "Tag")
    assert torch.equal(d1[et].edge_index, d2[et].edge_index) and torch.equal(d1[et].edge_index, d3[et].edge_index)
    store.upsert_nodes("Tag", [("tag99", {"name": "tag99"})])  # a change invalidates the cache
    d4, k4 = store_to_hetero(store, cache_dir=tmp_path / "c")
    assert d4["Tag"].num_nodes == d1["Tag"].num_nodes + 1 and "tag99" in list(k4["Tag"])


def test_standardize_handles_missing_and_constant_columns():
    raw = np.array([[1.0, np.nan, 5.0], [3.0, np.nan, 5.0]])
    z = standardize(raw)
    assert z.shape == (2, 4)
    assert np.allclose(z[:, 0], [-1, 1]) and np.allclose(z[:, 1], 0) and np.allclose(z[:, 2], 0)
    assert np.allclose(z[:, 3], 1 / 3)


def test_no_held_out_edge_reaches_message_passing(store, tmp_path):
    data, keys = store_to_hetero(store, cache_dir=tmp_path / "c")
    split = hetrec_split(store, seed=3)
    graph = make_train_graph(data, keys, split)
    graph.check_no_leak(split)
    inter = graph.edge_index[("User", "LISTENED_TO", "Artist")]
    assert inter.shape[1] == len(split.train_user)
    held = {(int(graph.user_map[u]), int(graph.item_map[i])) for u, i in zip(*split.test, strict=True)}
    held |= {(int(graph.user_map[u]), int(graph.item_map[i])) for u, i in zip(*split.valid, strict=True)}
    for et, ei in graph.edge_index.items():
        if {et[0], et[2]} == {"User", "Artist"}:
            pairs = ei.T.tolist() if et[0] == "User" else ei.flip(0).T.tolist()
            assert not held & {tuple(p) for p in pairs}
    # the degree feature counts training edges only
    full_deg = data["User"].x[:, 0]
    assert (graph.x["User"][:, 0] <= full_deg + 1e-6).all() and (graph.x["User"][:, 0] < full_deg).any()
    # and the check catches a leak
    u, i = split.test_user[0], split.test_item[0]
    extra = torch.tensor([[int(graph.user_map[u])], [int(graph.item_map[i])]])
    graph.edge_index[("User", "LISTENED_TO", "Artist")] = torch.cat([inter, extra], 1)
    with pytest.raises(AssertionError, match="held-out"):
        graph.check_no_leak(split)


def test_edge_type_filter_and_missing_keys(store, tmp_path):
    data, keys = store_to_hetero(store, cache_dir=tmp_path / "c")
    split = hetrec_split(store, seed=0)
    g = make_train_graph(data, keys, split, edge_types=[("User", "FRIEND_OF", "User")])
    assert {et[1] for et in g.edge_index} == {"LISTENED_TO", "rev_LISTENED_TO", "FRIEND_OF", "rev_FRIEND_OF"}
    split.item_keys = split.item_keys.copy()
    split.item_keys[0] = "no such artist"
    with pytest.raises(ValueError, match="missing from the graph"):
        make_train_graph(data, keys, split)


def test_tables_from_hetrec_can_hide_the_tags_of_held_out_pairs(fixture_data_dir):
    """HetRec tags are (user, artist, tag) triples: a held-out pair's tags must not reach message passing."""
    from musicgraph.gnn.data import tables_from_hetrec
    from musicgraph.loaders import hetrec

    known = {f"hetrec:{a.source_id}" for a in hetrec.iter_artists(fixture_data_dir)}
    tag_names = {t.tag_id: t.name.strip().lower() for t in hetrec.iter_tags(fixture_data_dir)}
    triples = [(f"hetrec:{a.user_id}", f"hetrec:{a.artist_id}", tag_names[a.tag_id])
               for a in hetrec.iter_tag_assignments(fixture_data_dir)
               if a.tag_id in tag_names and f"hetrec:{a.artist_id}" in known]
    user, artist, tag = triples[0]
    full = tables_from_hetrec(fixture_data_dir)
    hidden = tables_from_hetrec(fixture_data_dir, exclude_pairs={(user, artist)})

    def weight(tables, rel, src_type, src_key):
        et = next(e for e in tables.edges if e[1] == rel)
        s, t, w = tables.edges[et]
        if tag not in list(tables.keys["Tag"]):
            return 0.0  # the tag's only assignments were hidden
        si = list(tables.keys[src_type]).index(src_key)
        ti = list(tables.keys["Tag"]).index(tag)
        hits = [float(x) for a, b, x in zip(s, t, w, strict=True) if a == si and b == ti]
        return hits[0] if hits else 0.0

    own = sum(1 for u, a, t in triples if u == user and a == artist and t == tag)
    assert weight(hidden, "USED_TAG", "User", user) == weight(full, "USED_TAG", "User", user) - own
    assert weight(hidden, "TAGGED", "Artist", artist) == weight(full, "TAGGED", "Artist", artist) - own


def test_store_training_view_hides_the_tags_of_held_out_pairs(fixture_store, fixture_data_dir, tmp_path):
    """The store path swaps in tag edges rebuilt without held-out pairs (same as graph.heldout)."""
    from musicgraph.gnn.data import store_to_hetero
    from musicgraph.gnn.source import EmbeddedSource, held_pairs
    from musicgraph.gnn.splits import hetrec_split
    from musicgraph.graph.heldout import tag_matrices_without

    split = hetrec_split(fixture_store, seed=1)
    data, keys = store_to_hetero(fixture_store, cache_dir=tmp_path)
    before = int(data[("User", "USED_TAG", "Tag")].edge_weight.sum().round())
    held = held_pairs(split)
    EmbeddedSource(fixture_store, fixture_data_dir, own=False).hide_heldout(data, keys, held)
    _, used = tag_matrices_without(fixture_store.projection(), fixture_data_dir, held)
    et = ("User", "USED_TAG", "Tag")
    assert data[et].edge_index.shape[1] == used.nnz
    assert data[("Tag", "rev_USED_TAG", "User")].edge_index.shape[1] == used.nnz
    assert before >= int(data[et].edge_weight.sum().round())


def _brute_force_knn(rows, cols, n_cols, k):
    sets = [set(rows[cols == c].tolist()) for c in range(n_cols)]
    out = set()
    for a in range(n_cols):
        sims = []
        for b in range(n_cols):
            inter = len(sets[a] & sets[b])
            if a != b and inter:
                sims.append((-inter / (np.sqrt(len(sets[a])) * np.sqrt(len(sets[b]))), b))
        for _, b in sorted(sims)[:k]:
            out |= {(a, b), (b, a)}
    return out


@pytest.mark.parametrize("k,seed", [(1, 0), (3, 1), (5, 2)])
def test_co_listening_edges_match_brute_force_item_knn(k, seed):
    rng = np.random.default_rng(seed)
    rows, cols = rng.integers(0, 30, 200), rng.integers(0, 25, 200)
    e = co_listening_edges(rows, cols, 30, 25, k)
    got = {tuple(p) for p in e.T.tolist()}
    assert got == _brute_force_knn(rows, cols, 25, k)  # top-k by cosine, ties by index, symmetric
    assert e.shape[1] == len(got) and all(a != b for a, b in got)


def test_knn_edges_come_from_training_interactions_only(store, tmp_path):
    data, keys = store_to_hetero(store, cache_dir=tmp_path / "c")
    split = hetrec_split(store, seed=3)
    graph = make_train_graph(data, keys, split, item_knn=3, user_knn=2)
    graph.check_no_leak(split)
    ei = graph.edge_index[("Artist", "CO_LISTENED", "Artist")]
    assert ei.shape[1] > 0 and ("User", "CO_LISTENED", "User") in graph.edge_index
    # built from the training pairs: the same edges as co_listening_edges over them, in node ids
    want = graph.item_map[co_listening_edges(split.train_user, split.train_item, split.num_users, split.num_items, 3)]
    assert torch.equal(ei, want)
    # changing held-out interactions does not change them
    import dataclasses

    moved = dataclasses.replace(split, test_item=np.roll(split.test_item, 1))
    again = make_train_graph(data, keys, moved, item_knn=3)
    assert torch.equal(again.edge_index[("Artist", "CO_LISTENED", "Artist")], ei)
