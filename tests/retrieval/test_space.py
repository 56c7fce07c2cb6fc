"""ItemSpace's catalog mappings and exclusion masks against one look-up per item."""

from __future__ import annotations

import numpy as np
import pytest

from musicgraph.retrieval.catalog import SongTable
from musicgraph.retrieval.metapath import label_nodes
from musicgraph.retrieval.space import ItemSpace


def test_label_nodes_answers_like_projection_index(store) -> None:
    proj = store.projection()
    cat = SongTable.from_store(store)
    for label, keys in (("Song", list(cat.keys)), ("Artist", list(cat.artist_keys))):
        keys = [*keys, "no such key", ""]
        want = [proj.index(label, k) if k else None for k in keys]
        assert label_nodes(proj, label, keys).tolist() == [-1 if w is None else w for w in want]
    assert label_nodes(proj, "NoSuchLabel", ["x"]).tolist() == [-1]


@pytest.mark.parametrize("kind", ["song", "artist", "album", "playlist"])
def test_excluding_artists_rules_out_their_items(store, kind) -> None:
    proj = store.projection()
    space = ItemSpace(proj, SongTable.from_store(store))
    a_lo, a_hi = proj.label_ranges["Artist"]
    owner = space.item_artist(kind)
    s_lo, s_hi = proj.label_ranges["Song"]
    for artists in ([a_lo], [a_lo, a_hi - 1], list(range(a_lo, a_hi, 2))):
        nodes = [*artists, s_lo] if s_hi > s_lo else artists
        want = np.zeros(space.n(kind), dtype=bool)
        for node in nodes:  # one comparison per excluded artist, as the mask was first computed
            if a_lo <= node < a_hi:
                want |= owner == node - a_lo
        if kind == "song" and s_hi > s_lo:
            row = space.item_of_node("song", s_lo)
            if row is not None:
                want[row] = True
        got = space.exclusion_mask(kind, nodes)
        assert np.array_equal(got, want)
        if kind in ("song", "artist"):
            assert got.any()


@pytest.mark.parametrize("seed", range(6))
def test_top_is_the_sorted_prefix_with_ties_to_the_lower_index(seed) -> None:
    from musicgraph.retrieval.space import _top

    rng = np.random.default_rng(seed)
    n_items = int(rng.integers(1, 400))
    scores = rng.choice([0.0, 0.5, 1.0, 2.0, 3.0], size=n_items) if seed % 2 else rng.random(n_items)
    cand = np.flatnonzero((rng.random(n_items) < 0.7) & (scores > 0))
    for n in (1, 3, 10, 50, n_items + 5):
        brute = sorted(cand.tolist(), key=lambda i: (-scores[i], i))[:n]
        assert _top(cand, scores, n).tolist() == brute
