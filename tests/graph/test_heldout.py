from __future__ import annotations

import numpy as np

from musicgraph.graph.heldout import heldout_projection


def test_heldout_removes_listening_and_the_users_own_tags(fixture_store, fixture_data_dir):
    proj = fixture_store.projection()
    listened = proj.matrices["LISTENED_TO"].tocoo()
    used = proj.matrices["USED_TAG"]
    # pick a listening pair whose user also tagged that artist in the fixture data
    from musicgraph.graph.resolve import artist_key, normalize_tag
    from musicgraph.loaders import hetrec

    names = {a.source_id: a.name for a in hetrec.iter_artists(fixture_data_dir)}
    tags = {t.tag_id: normalize_tag(t.name) for t in hetrec.iter_tags(fixture_data_dir)}
    triples = [(f"hetrec:{t.user_id}", artist_key(names[t.artist_id]), tags.get(t.tag_id))
               for t in hetrec.iter_tag_assignments(fixture_data_dir) if t.artist_id in names]
    listened_pairs = {(str(proj.keys[r]), str(proj.keys[c])) for r, c in zip(listened.row, listened.col, strict=True)}
    user, artist, tag = next(t for t in triples if (t[0], t[1]) in listened_pairs and t[2])
    held = heldout_projection(proj, [(user, artist)], fixture_data_dir)
    u, a, t = proj.index("User", user), proj.index("Artist", artist), proj.index("Tag", tag)
    assert proj.matrices["LISTENED_TO"][u, a] > 0 and held.matrices["LISTENED_TO"][u, a] == 0
    # the user's uses of that tag drop by their assignments on the hidden artist
    own = sum(1 for tu, ta, tt in triples if tu == user and ta == artist and tt == tag)
    assert held.matrices["USED_TAG"][u, t] == used[u, t] - own
    # nothing else changes
    assert held.matrices["LISTENED_TO"].nnz == proj.matrices["LISTENED_TO"].nnz - 1
    assert np.array_equal(held.matrices["FRIEND_OF"].toarray(), proj.matrices["FRIEND_OF"].toarray())


def test_without_held_out_pairs_the_tag_matrices_are_rebuilt_identically(fixture_store, fixture_data_dir):
    proj = fixture_store.projection()
    same = heldout_projection(proj, [], fixture_data_dir)
    for rel in ("TAGGED", "USED_TAG", "LISTENED_TO"):
        assert (same.matrices[rel] != proj.matrices[rel]).nnz == 0, rel


def test_without_song_moods_drops_only_those_songs_mood_edges(fixture_store):
    from musicgraph.graph.heldout import without_song_moods

    proj = fixture_store.projection()
    mood = proj.matrices["HAS_MOOD"].tocoo()
    lo, hi = proj.label_ranges["Song"]
    song_rows = sorted({int(r) for r in mood.row if lo <= r < hi})
    assert len(song_rows) >= 2, "the fixture has labelled songs"
    hidden = str(proj.keys[song_rows[0]])
    held = without_song_moods(proj, [hidden, "no such song"])
    assert held.matrices["HAS_MOOD"][song_rows[0]].nnz == 0
    assert held.matrices["HAS_MOOD"][song_rows[1]].nnz == proj.matrices["HAS_MOOD"][song_rows[1]].nnz
    assert held.matrices["HAS_MOOD"].nnz == mood.nnz - proj.matrices["HAS_MOOD"][song_rows[0]].nnz
    assert held.matrices["PERFORMED_BY"] is proj.matrices["PERFORMED_BY"]
