from __future__ import annotations

import pytest

from musicgraph.graph import EmbeddedStore
from musicgraph.graph import ingest as ingest_mod
from musicgraph.graph.ingest import STAGE_NAMES, ingest, source_stats
from musicgraph.graph.store import content_checksum
from musicgraph.loaders.base import DataNotFoundError


def test_fixture_ingest_builds_the_graph(fixture_store):
    nodes = fixture_store.count_nodes()
    edges = fixture_store.count_edges()
    for label in ("Song", "Artist", "Tag", "User", "Playlist", "Mood", "Genre", "Album"):
        assert nodes[label] > 0, label
    for rel in ("PERFORMED_BY", "LISTENED_TO", "TAGGED", "FRIEND_OF", "IN_PLAYLIST", "HAS_MOOD", "HAS_GENRE"):
        assert edges[rel] > 0, rel
    # every song has exactly one main artist
    for song in fixture_store.iter_nodes("Song"):
        roles = [e.props.get("role") for e, _ in fixture_store.neighbors("Song", song.key, "PERFORMED_BY", "out")]
        assert roles.count("main") == 1, song.key


def test_ingest_twice_gives_the_same_graph(tmp_path, fixture_data_dir, fixture_store):
    store = EmbeddedStore(tmp_path / "s")
    ingest(store, fixture_data_dir, progress=False)
    first = content_checksum(store)
    report = ingest(store, fixture_data_dir, progress=False)
    assert all(s.resumed for s in report.stages)  # checkpoints skip finished stages
    ingest(store, fixture_data_dir, progress=False, force=True)  # and forced reruns change nothing
    assert content_checksum(store) == first == content_checksum(fixture_store)


def test_ingest_resumes_after_a_crash(tmp_path, fixture_data_dir, fixture_store, monkeypatch):
    store = EmbeddedStore(tmp_path / "crash")
    real_flush = ingest_mod.GraphBuffer.flush
    calls = {"n": 0}

    def crashing_flush(self, st):
        calls["n"] += 1
        if calls["n"] == 4:  # die half-way through the stage list, after writing part of a stage
            label, rows = next(iter(self.nodes.items()))
            st.upsert_nodes(label, list(rows.items())[: max(1, len(rows) // 2)])
            raise KeyboardInterrupt("simulated kill")
        return real_flush(self, st)

    monkeypatch.setattr(ingest_mod.GraphBuffer, "flush", crashing_flush)
    with pytest.raises(KeyboardInterrupt):
        ingest(store, fixture_data_dir, progress=False)
    done = [n for n in STAGE_NAMES if store.get_meta(f"ingest:stage:{n}")]
    assert 0 < len(done) < len(STAGE_NAMES)
    monkeypatch.setattr(ingest_mod.GraphBuffer, "flush", real_flush)
    report = ingest(store, fixture_data_dir, progress=False)
    assert [s.name for s in report.stages if s.resumed] == done
    assert content_checksum(store) == content_checksum(fixture_store)


def test_missing_data_dir_is_a_clear_error(tmp_path):
    store = EmbeddedStore(tmp_path / "s")
    with pytest.raises(DataNotFoundError, match="MUSICGRAPH_DATA_DIR"):
        ingest(store, tmp_path / "nowhere", progress=False)


def test_unknown_stage(tmp_path, fixture_data_dir):
    with pytest.raises(ValueError, match="unknown ingest stage"):
        ingest(EmbeddedStore(tmp_path / "s"), fixture_data_dir, stages=["nope"], progress=False)


def test_source_stats_counts_merges(fixture_store):
    stats = source_stats(fixture_store)
    assert stats["Artist"]["total"] == fixture_store.count_nodes()["Artist"]
    assert stats["Artist"]["by_source"]["hetrec"] > 0
    assert stats["Song"]["merged_from_several_sources"] >= 0
