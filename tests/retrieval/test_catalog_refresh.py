"""SongTable.refresh (the incremental catalog read) equals a full from_store after store changes."""

from __future__ import annotations

import numpy as np

from musicgraph.graph.embedded import EmbeddedStore
from musicgraph.retrieval.catalog import SongTable

COLUMNS = ("keys", "titles", "artists", "artist_keys", "albums", "genres", "tags", "moods", "lyrics_refs")


def _assert_same(a: SongTable, b: SongTable) -> None:
    for c in COLUMNS:
        assert getattr(a, c) == getattr(b, c), c
    assert np.array_equal(a.alive, b.alive)
    assert np.array_equal(np.isnan(a.features), np.isnan(b.features))
    assert np.allclose(np.nan_to_num(a.features), np.nan_to_num(b.features))
    assert np.array_equal(a.estimated_flags(), b.estimated_flags())
    assert np.array_equal(a.explicit_flags(), b.explicit_flags())
    for c in ("artist_names", "artist_aliases", "artist_tags", "tag_names", "genre_names", "mood_names"):
        assert getattr(a, c) == getattr(b, c), c


def test_refresh_equals_from_store_after_adds_updates_deletes_and_tags(tmp_path, populate_store):
    store = EmbeddedStore(tmp_path / "s")
    populate_store(store)
    old = SongTable.from_store(store)
    victim, updated = old.keys[0], old.keys[1]
    tagged_artist = old.artist_keys[2]
    # a new song by a new artist with a new genre, mood and song tag; a featured guest
    store.upsert_nodes("Artist", [("new band", {"name": "New Band", "aliases": ["NB"]}), ("guest", {"name": "Guest"})])
    store.upsert_nodes("Song", [("new band|first light", {"title": "First Light", "energy": 0.7, "explicit": True,
                                                          "genres": ["shoegaze"]})])
    store.upsert_nodes("Genre", [("dream pop", {"name": "dream pop"})])
    store.upsert_nodes("Tag", [("hazy", {"name": "hazy"})])
    store.upsert_edges("PERFORMED_BY", "Song", "Artist", [("new band|first light", "guest", {"role": "featured"}),
                                                         ("new band|first light", "new band", {"role": "main"})])
    store.upsert_edges("HAS_GENRE", "Song", "Genre", [("new band|first light", "dream pop", {})])
    store.upsert_edges("HAS_MOOD", "Song", "Mood", [("new band|first light", "relaxed", {})])
    store.upsert_edges("TAGGED", "Song", "Tag", [("new band|first light", "hazy", {})])
    # an updated song, new weighted tags on an existing artist, a deleted song
    store.upsert_nodes("Song", [(updated, {"title": "Renamed", "album": "Other", "danceability": 0.1})])
    store.upsert_edges("TAGGED", "Artist", "Tag", [(tagged_artist, "hazy", {"weight": 99})])
    store.delete_nodes("Song", [victim])

    want = SongTable.from_store(store, previous=old)
    got = old.refresh(store, {"new band|first light", updated, victim}, {"new band", "guest", tagged_artist})
    _assert_same(got, want)
    assert got.row("new band|first light") == len(old)  # appended
    assert got.row(victim) is None and not got.alive[old.keys.index(victim)]
    assert got.tags[old.rows_of_artist(tagged_artist)[0]][0] == "hazy"  # heaviest tag first, on every song
    store.close()


def test_refresh_of_nothing_is_the_same_catalog(tmp_path, populate_store):
    store = EmbeddedStore(tmp_path / "s")
    populate_store(store)
    old = SongTable.from_store(store)
    _assert_same(old.refresh(store, set()), SongTable.from_store(store, previous=old))
    store.close()
