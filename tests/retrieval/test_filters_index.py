"""filter_mask's inverted indexes give the masks of the plain per-row scans."""

from __future__ import annotations

import dataclasses

import numpy as np

from musicgraph.normalize import word_form
from musicgraph.retrieval.catalog import SongTable
from musicgraph.retrieval.filters import filter_mask, rows_with_any, warm_indexes


def test_masks_equal_per_row_scans(store) -> None:
    cat = SongTable.from_store(store)
    warm_indexes(cat)
    for names in (["Daft Punk"], ["coldplay", "ADELE"], ["daft punk"], ["nobody"]):
        want = np.array([word_form(a) in {word_form(n) for n in names} | set(names) or ak in set(names)
                         for a, ak in zip(cat.artists, cat.artist_keys, strict=True)])
        assert np.array_equal(filter_mask(cat, {"artists": names}), want & cat.alive)
        assert np.array_equal(filter_mask(cat, {"exclude_artists": names}), ~want & cat.alive)
    for column, name in ((cat.tags, "tags"), (cat.genres, "genres"), (cat.moods, "moods")):
        for wanted in (["Electronic"], ["sad", "calm"], ["pop", "ambient"], ["none such"]):
            want = np.array([any(x.lower() in {w.lower() for w in wanted} for x in vs) for vs in column])
            assert np.array_equal(rows_with_any(column, wanted), want)
            assert np.array_equal(filter_mask(cat, {name: wanted}), want & cat.alive)
    keys = [cat.keys[0], cat.keys[3], "not a key"]
    assert np.flatnonzero(filter_mask(cat, {"keys": keys})).tolist() == [0, 3]
    assert filter_mask(cat, {"exclude_keys": keys}).sum() == cat.alive.sum() - 2


def test_a_new_catalog_gets_fresh_indexes(store) -> None:
    cat = SongTable.from_store(store)
    before = filter_mask(cat, {"artists": ["Adele"]})
    renamed = dataclasses.replace(cat, artists=["Adele" if a == "Coldplay" else a for a in cat.artists])
    after = filter_mask(renamed, {"artists": ["Adele"]})
    assert after.sum() > before.sum()
    assert np.array_equal(filter_mask(cat, {"artists": ["Adele"]}), before)
