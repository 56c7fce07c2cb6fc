"""The synthetic catalog generator: deterministic, factor 1 is the source itself, every copy keeps the
source's shapes (degrees), and the rewired share of social edges connects the copies."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from musicgraph.graph import EmbeddedStore
from musicgraph.graph.store import content_checksum
from musicgraph.graph.synthetic import COPIED, copy_key, write_synthetic


@pytest.fixture(scope="module")
def tripled(fixture_store, tmp_path_factory):
    store = EmbeddedStore(tmp_path_factory.mktemp("x3"))
    report = write_synthetic(fixture_store, store, 3, seed=0, mix=0.5)
    return store, report


def test_same_inputs_same_graph_and_factor_one_is_the_source(fixture_store, tripled, tmp_path):
    again = EmbeddedStore(tmp_path / "again")
    write_synthetic(fixture_store, again, 3, seed=0, mix=0.5)
    assert content_checksum(again) == content_checksum(tripled[0])
    other = EmbeddedStore(tmp_path / "other")
    write_synthetic(fixture_store, other, 3, seed=1, mix=0.5)
    assert content_checksum(other) != content_checksum(tripled[0])  # the seed drives the rewiring
    one = EmbeddedStore(tmp_path / "one")
    write_synthetic(fixture_store, one, 1)
    assert content_checksum(one) == content_checksum(fixture_store)


def test_counts_and_shapes(fixture_store, tripled):
    store, report = tripled
    src_nodes, nodes = fixture_store.count_nodes(), store.count_nodes()
    for label, n in src_nodes.items():
        assert nodes[label] == (3 * n if label in COPIED else n), label
    assert report.nodes == nodes
    # every copy of an artist has its original's songs, tags and genres (structural edges are not rewired)
    def degrees(st, rel, end):  # per (label, key): HAS_GENRE and TAGGED start at songs and at artists
        return Counter((getattr(e, end).label, getattr(e, end).key) for e in st.iter_edges(rel))

    for rel, end in (("PERFORMED_BY", "dst"), ("TAGGED", "src"), ("HAS_GENRE", "src")):
        src_deg, deg = degrees(fixture_store, rel, end), degrees(store, rel, end)
        for (label, key), d in src_deg.items():
            assert [deg[(label, copy_key(key, label, c))] for c in range(3)] == [d] * 3, (rel, key)


def _copy(key: str) -> int:
    return int(key.rpartition("~")[2]) if "~" in key else 0


def test_social_edges_cross_copies(tripled):
    store, _ = tripled
    edges = list(store.iter_edges("LISTENED_TO"))
    crossed = [e for e in edges if _copy(e.src.key) != _copy(e.dst.key)]
    # mix=0.5 moves half of the edges to a random copy, a third of which is their own
    assert 0 < len(crossed) < len(edges)
    weights = np.array([e.props["weight"] for e in store.iter_edges("LISTENED_TO")])
    assert weights.min() > 0


def test_bad_arguments(fixture_store, tmp_path):
    with pytest.raises(ValueError, match="factor"):
        write_synthetic(fixture_store, EmbeddedStore(tmp_path / "a"), 0)
    with pytest.raises(ValueError, match="mix"):
        write_synthetic(fixture_store, EmbeddedStore(tmp_path / "b"), 2, mix=1.5)
