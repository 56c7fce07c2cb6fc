from __future__ import annotations

from musicgraph.rag.grounding import Catalog, evidence_artists, find_mentions, fold, ground

from .conftest import ARTISTS, SONGS, song_result


def catalog_with_all() -> Catalog:
    cat = Catalog()
    for key, name in ARTISTS.items():
        cat.add_artist(key, name)
    for key, artist, title, *_ in SONGS:
        cat.add_song(key, title, ARTISTS[artist])
    return cat


CANDS = [song_result(1, "velvet foxes|rain on glass"), song_result(2, "moonlit harbor|low tide lullaby")]


def test_fold_handles_case_accents_and_ampersand():
    assert fold("Björk & The  Sisters!") == "bjork and the sisters"


def test_invented_song_is_removed_and_citations_kept():
    text = (
        "Here you go:\n"
        "1. The Velvet Foxes - Rain on Glass (2003): sad mood.\n"
        "2. The Zorblatts - Moon Custard: a lost classic.\n"
        "3. Moonlit Harbor - Low Tide Lullaby: calm mood."
    )
    rep = ground(text, CANDS, catalog_with_all())
    assert rep.hallucinated
    assert [m.label() for m in rep.unsupported] == ["The Zorblatts - Moon Custard"]
    assert not rep.unsupported[0].in_catalog
    assert "Zorblatts" not in rep.text and "Moon Custard" not in rep.text
    assert rep.cited_ids == ["velvet foxes|rain on glass", "moonlit harbor|low tide lullaby"]
    assert "2. Moonlit Harbor - Low Tide Lullaby" in rep.text  # renumbered
    # the repaired text grounds cleanly
    assert not ground(rep.text, CANDS, catalog_with_all()).hallucinated


def test_catalog_song_that_was_not_retrieved_is_unsupported():
    text = 'The Velvet Foxes - Rain on Glass fits. You could also try "Golden Hour" by Sunny Side Up.'
    rep = ground(text, CANDS, catalog_with_all())
    bad = rep.unsupported
    assert bad and all(m.in_catalog for m in bad)
    assert "Golden Hour" not in rep.text and "Sunny Side Up" not in rep.text
    assert rep.cited_ids == ["velvet foxes|rain on glass"]


def test_fuzzy_and_alias_matches_are_supported():
    text = "1. Velvet Foxes - Rain On Glas\n2. moonlit harbour - Low Tide Lullaby (live)"
    rep = ground(text, CANDS, catalog_with_all())
    assert not rep.hallucinated, [m.label() for m in rep.unsupported]
    assert rep.cited_ids == ["velvet foxes|rain on glass", "moonlit harbor|low tide lullaby"]


def test_prose_mentions_and_unknown_artist():
    text = "Rain on Glass is perfect for tonight. Quiet Engines would also work. Low Tide Lullaby closes it."
    rep = ground(text, CANDS, catalog_with_all())
    assert [m.label() for m in rep.unsupported] == ["Quiet Engines"]
    assert rep.text == "Rain on Glass is perfect for tonight. Low Tide Lullaby closes it."
    assert rep.cited_ids == ["velvet foxes|rain on glass", "moonlit harbor|low tide lullaby"]


def test_path_seed_and_request_artists_are_evidence():
    cat = catalog_with_all()
    allowed = evidence_artists(CANDS, "sad songs like Glass Lanterns", cat)
    assert "The Velvet Foxes" in allowed and "Glass Lanterns" in allowed
    rep = ground("Because you like Glass Lanterns: Moonlit Harbor - Low Tide Lullaby.", CANDS, cat, allowed)
    assert not rep.hallucinated
    assert rep.cited_ids == ["moonlit harbor|low tide lullaby"]


def test_find_mentions_without_catalog_uses_candidates_only():
    mentions = find_mentions("1. Moonlit Harbor - Low Tide Lullaby", CANDS)
    assert len(mentions) == 1 and mentions[0].supported


def test_list_items_citing_nothing_are_removed():
    text = "Picks:\n1. [Aberceldysde la Sierra](#)\n2. Moonlit Harbor - Low Tide Lullaby\n3. Relevance: pick what you like"
    rep = ground(text, CANDS, catalog_with_all())
    assert rep.hallucinated and len(rep.unsupported) == 2
    assert rep.text == "Picks:\n1. Moonlit Harbor - Low Tide Lullaby"
    assert rep.cited_ids == ["moonlit harbor|low tide lullaby"]
