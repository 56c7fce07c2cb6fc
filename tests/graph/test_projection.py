"""The projection and its memory-mapped cache: exact round trip, keys stored by their own length (a
long title must not widen every row), damaged files refused, the fast SQL reading equal to the generic one."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from musicgraph.graph import EmbeddedStore
from musicgraph.graph.projection import PROJECTION_CACHE, Projection, build_projection


class _Generic:
    """A store seen only through the generic interface (no ``projection_tables``)."""

    def __init__(self, store):
        self.store = store

    def version(self):
        return self.store.version()

    def iter_nodes(self, label):
        return self.store.iter_nodes(label)

    def iter_edges(self, rel):
        return self.store.iter_edges(rel)


def _same(a: Projection, b: Projection) -> None:
    assert list(a.keys) == list(b.keys) and list(a.names) == list(b.names)
    assert a.label_ranges == b.label_ranges and a.version == b.version
    assert set(a.matrices) == set(b.matrices)
    for rel in a.matrices:
        x, y = a.matrices[rel], b.matrices[rel]
        assert x.shape == y.shape
        assert np.array_equal(x.indptr, y.indptr) and np.array_equal(x.indices, y.indices)
        assert np.array_equal(x.data, y.data), rel


def test_fast_reading_equals_node_by_node(fixture_store):
    _same(build_projection(fixture_store), build_projection(_Generic(fixture_store)))


def test_cache_round_trip_is_exact_and_memory_mapped(fixture_store, tmp_path):
    proj = build_projection(fixture_store)
    path = tmp_path / "p.bin"
    proj.save(path)
    loaded = Projection.load(path)
    _same(proj, loaded)
    assert loaded.keys.dtype == object
    mat = next(m for m in loaded.matrices.values() if m.nnz)
    assert not mat.data.flags.writeable and not mat.data.flags.owndata  # a view of the read-only mapping
    # scipy operations on the mapped matrices work as on ordinary ones
    dense = sum(m.toarray() for m in proj.matrices.values())
    assert np.array_equal(sum(m.toarray() for m in loaded.matrices.values()), dense)


def test_long_key_does_not_widen_the_cache(tmp_path):
    """Issue 15: a 2,000-character title made the cache 7x larger and a 10 MB one made every recommend
    allocate TiB, because keys were stored as fixed-width text sized to the longest key."""
    store = EmbeddedStore(tmp_path / "s")
    store.upsert_nodes("Artist", [(f"artist {i}", {"name": f"Artist {i}"}) for i in range(2000)])
    store.upsert_nodes("Song", [(f"artist {i}|song", {"title": "Song"}) for i in range(2000)])
    store.upsert_edges("PERFORMED_BY", "Song", "Artist", [(f"artist {i}|song", f"artist {i}", {}) for i in range(2000)])
    store.projection()
    small = (store.path / PROJECTION_CACHE).stat().st_size
    long_title = "x" * 2_000_000
    store.upsert_nodes("Song", [(f"artist 0|{long_title}", {"title": long_title})])
    store.upsert_edges("PERFORMED_BY", "Song", "Artist", [(f"artist 0|{long_title}", "artist 0", {})])
    store.projection()
    big = (store.path / PROJECTION_CACHE).stat().st_size
    # the long key and name add their own bytes (2 x 2 MB), not 4,001 rows x 2M characters x 4 bytes
    assert big - small < 4 * len(long_title) + 100_000
    again = EmbeddedStore(store.path).projection()
    i = again.index("Song", f"artist 0|{long_title}")
    assert i is not None and again.names[i] == long_title
    from musicgraph.graph.multihop import recommend

    assert recommend(store, artists=["Artist 0"], k=3, kind="artist", n_paths=0) is not None


def test_damaged_cache_is_refused_and_rebuilt(fixture_store, tmp_path, caplog):
    proj = build_projection(fixture_store)
    path = tmp_path / "p.bin"
    proj.save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated"):
        Projection.load(path)
    path.write_bytes(b"not a projection at all")
    with pytest.raises(ValueError, match="not a projection cache"):
        Projection.load(path)
    store = EmbeddedStore(tmp_path / "s")
    store.upsert_nodes("Artist", [("a", {"name": "A"})])
    store.projection()
    cache = store.path / PROJECTION_CACHE
    cache.write_bytes(cache.read_bytes()[:100])
    fresh = EmbeddedStore(store.path)
    assert fresh.projection().index("Artist", "a") == 0
    assert "ignoring unreadable projection cache" in caplog.text


def test_index_by_binary_search_and_for_unsorted_keys():
    keys = np.array(["b", "a", "c"], dtype=object)  # hand-made, not sorted: falls back to a table
    proj = Projection(keys=keys, names=keys.copy(), label_ranges={"Artist": (0, 3)},
                      matrices={"TAGGED": sp.csr_matrix((3, 3))})
    assert [proj.index("Artist", k) for k in ("a", "b", "c", "d")] == [1, 0, 2, None]
    sorted_keys = np.array(["a", "b", "c", "x", "y"], dtype=object)
    proj = Projection(keys=sorted_keys, names=sorted_keys.copy(), label_ranges={"Artist": (0, 3), "Tag": (3, 5)},
                      matrices={})
    assert [proj.index("Artist", k) for k in ("a", "c", "x", "")] == [0, 2, None, None]
    assert proj.index("Tag", "y") == 4 and proj.index("Tag", "a") is None and proj.index("Song", "a") is None
    assert not proj._index  # a few look-ups: binary searches, no table
    for _ in range(Projection.TABLE_AFTER):
        proj.index("Artist", "b")
    assert "Artist" in proj._index and "Tag" not in proj._index  # many: the label got a dictionary
    assert [proj.index("Artist", k) for k in ("a", "b", "c", "zz")] == [0, 1, 2, None]


def test_derived_tables_are_kept_beside_the_cache_for_the_same_version(tmp_path):
    from musicgraph.graph.multihop import MultiHopScorer

    store = EmbeddedStore(tmp_path / "s")
    store.upsert_nodes("Artist", [("a", {"name": "A"}), ("b", {"name": "B"})])
    store.upsert_nodes("Tag", [("t", {"name": "t"})])
    store.upsert_edges("TAGGED", "Artist", "Tag", [("a", "t", {"weight": 2.0}), ("b", "t", {"weight": 1.0})])
    scorer = MultiHopScorer(store.projection())
    table = scorer._rel_table()
    sides = list(store.path.glob(f"{PROJECTION_CACHE}.reltable-*.npz"))
    assert len(sides) == 1
    again = MultiHopScorer(EmbeddedStore(store.path).projection())  # a new process: loaded, not rebuilt
    loaded = again._rel_table()
    assert np.array_equal(loaded[0][0], table[0][0]) and loaded[1] == table[1]
    # a new version of the store: the old table is not used, and goes when the new cache is written
    store.upsert_edges("TAGGED", "Artist", "Tag", [("b", "t", {"weight": 5.0})])
    proj = store.projection()
    assert proj.derived(sides[0].name.split(".")[-2]) is None
    assert not sides[0].exists()


def test_key_table_is_shared_and_kept_only_up_to_table_max(monkeypatch):
    from musicgraph.retrieval.metapath import label_nodes

    keys = np.array(["a", "b", "c", "x", "y"], dtype=object)
    proj = Projection(keys=keys, names=keys.copy(), label_ranges={"Artist": (0, 3), "Tag": (3, 5)}, matrices={})
    table = proj.key_table("Artist")
    assert table == {"a": 0, "b": 1, "c": 2} and proj.key_table("Artist") is table  # built once, kept
    assert proj.key_table("Song") == {}
    assert label_nodes(proj, "Artist", ["c", "", "zz", "a"]).tolist() == [2, -1, -1, 0]
    assert proj._index["Artist"] is table  # label_nodes used the shared table, no copy of its own
    assert [proj.index("Artist", k) for k in ("a", "b", "c", "zz")] == [0, 1, 2, None]
    monkeypatch.setattr(Projection, "TABLE_MAX", 1)
    big = Projection(keys=keys, names=keys.copy(), label_ranges={"Tag": (3, 5)}, matrices={})
    assert big.key_table("Tag") == {"x": 3, "y": 4} and not big._index  # above TABLE_MAX: not kept
