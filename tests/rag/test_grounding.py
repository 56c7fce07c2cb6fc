from __future__ import annotations

from musicgraph.graph.results import Result
from musicgraph.normalize import fold
from musicgraph.rag.grounding import ground
from musicgraph.rag.mentions import NameIndex, evidence_artists, find_mentions

from .conftest import ARTISTS, SONGS, song_result


def catalog_with_all() -> NameIndex:
    cat = NameIndex()
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


# --- names the catalog does not know, caught by their shape --------------------------------------------------


def _cat_with_terms() -> NameIndex:
    cat = catalog_with_all()
    cat.add_terms(["sad", "calm", "happy", "indie pop"], words=True)
    cat.add_terms(["melancholic", "dreamy", "indie"])
    return cat


def test_unquoted_title_by_invented_artist_is_unsupported():
    text = "The Velvet Foxes - Rain on Glass fits. Try Midnight Echoes by Crimson Parade tonight."
    rep = ground(text, CANDS, _cat_with_terms())
    assert [(m.kind, m.artist, m.title) for m in rep.unsupported] == [("song", "Crimson Parade", "Midnight Echoes")]
    assert not rep.unsupported[0].in_catalog
    assert rep.text == "The Velvet Foxes - Rain on Glass fits."
    assert rep.cited_ids == ["velvet foxes|rain on glass"]


def test_invented_title_by_a_real_candidate_artist_is_unsupported():
    rep = ground("You could play Midnight Echoes by The Velvet Foxes.", CANDS, _cat_with_terms())
    assert [m.label() for m in rep.unsupported] == ["The Velvet Foxes - Midnight Echoes"]
    assert rep.text == "" and rep.cited_ids == []


def test_quoted_title_by_invented_artist_stops_at_the_name():
    rep = ground('"Midnight Echoes" by Crimson Parade is lovely. Low Tide Lullaby is calm.', CANDS, _cat_with_terms())
    assert [m.label() for m in rep.unsupported] == ["Crimson Parade - Midnight Echoes"]
    assert rep.text == "Low Tide Lullaby is calm."


def test_bare_invented_names_in_prose_are_unsupported():
    text = (
        "Rain on Glass by The Velvet Foxes is the saddest. If you like it, Lunar Static would also work. "
        "Fans of Zorblatt's records will agree. Low Tide Lullaby closes the night."
    )
    rep = ground(text, CANDS, _cat_with_terms())
    assert sorted(m.label() for m in rep.unsupported) == ["Lunar Static", "Zorblatt"]
    assert all(not m.in_catalog for m in rep.unsupported)
    assert rep.text == "Rain on Glass by The Velvet Foxes is the saddest. Low Tide Lullaby closes the night."
    assert rep.cited_ids == ["velvet foxes|rain on glass", "moonlit harbor|low tide lullaby"]


def test_single_word_after_a_cue_is_a_name_but_not_at_a_sentence_start():
    rep = ground("Rain on Glass fits. You could also try Zorblatt.", CANDS, _cat_with_terms())
    assert [m.label() for m in rep.unsupported] == ["Zorblatt"]
    rep = ground("Rain on Glass fits. Honestly it is the one.", CANDS, _cat_with_terms())
    assert not rep.hallucinated


def test_invented_name_in_a_numbered_list_next_to_a_real_one():
    text = "1. Rain on Glass, or Purple Skyline by Nobody Real: sad mood.\n2. Moonlit Harbor - Low Tide Lullaby: calm."
    rep = ground(text, CANDS, _cat_with_terms())
    assert [m.label() for m in rep.unsupported] == ["Nobody Real - Purple Skyline"]
    assert rep.text == "1. Moonlit Harbor - Low Tide Lullaby: calm."


def test_ordinary_capitalised_words_question_words_and_evidence_names_are_not_hallucinations():
    cat = _cat_with_terms()
    text = (
        "Picks for \"sad songs like Crimson Parade\":\n"
        "1. The Velvet Foxes - Rain on Glass (2003): Sad Mood, Low Energy, Minor Key; via The Velvet Foxes → "
        "melancholic → Moonlit Harbor.\n"
        "2. Moonlit Harbor - Low Tide Lullaby: Indie Pop with Dreamy Vocals. Perfect For A Rainy Sunday Night!\n"
        "Since you like Crimson Parade, Songs by The Velvet Foxes fit. Written by Moonlit Harbor, Low Tide Lullaby "
        "is calm; Velvet Foxes' Rain on Glass too. Spotify lists them as Indie."
    )
    rep = ground(text, CANDS, cat, protected=["sad songs like Crimson Parade"])
    assert not rep.hallucinated, [m.label() for m in rep.unsupported]
    assert rep.text == text
    assert rep.cited_ids == ["velvet foxes|rain on glass", "moonlit harbor|low tide lullaby"]


def test_partial_and_misspelled_evidence_names_are_supported():
    text = "Foxes fans: Rain on Glas by Velvet Foxes. Moonlit Harbour's Low Tide Lullaby is calm."
    rep = ground(text, CANDS, _cat_with_terms())
    assert not rep.hallucinated, [m.label() for m in rep.unsupported]
    assert rep.cited_ids == ["velvet foxes|rain on glass", "moonlit harbor|low tide lullaby"]


def test_catalog_terms_come_from_the_store(store):
    cat = NameIndex.from_store(store)
    assert {"sad", "indie pop", "melancholic"} <= cat.terms
    assert "pop" in cat.term_words and "melancholic" not in cat.term_words  # tags count as whole names only


def test_a_capitalised_common_noun_after_of_is_not_a_name():
    text = "Rain on Glass: sad mood; why: sad → Moods of Happiness. A touch of Melancholy too."
    rep = ground(text, CANDS, _cat_with_terms())
    assert not rep.hallucinated, [m.label() for m in rep.unsupported]


def test_evidence_name_wrapped_in_ordinary_words_is_not_a_name():
    rep = ground("1. Moonlit Harbor - Low Tide Lullaby | why: calm → Moods of Glass Lanterns", CANDS,
                 _cat_with_terms(), allowed_artists=["Glass Lanterns"])  # fmt: skip
    assert not rep.hallucinated, [m.label() for m in rep.unsupported]
    rep = ground("1. Moonlit Harbor - Low Tide Lullaby | why: calm → Moods of Glass Spiders", CANDS, _cat_with_terms())
    assert [m.label() for m in rep.unsupported] == ["Moods of Glass Spiders"]


def test_one_word_catalog_artist_that_is_a_genre_word_is_not_a_mention():
    cat = _cat_with_terms()
    cat.add_artist("electronic", "Electronic")
    cat.add_terms(["dance/electronic", "electronic"], words=True)
    text = "1. The Velvet Foxes - Rain on Glass (2003): low energy; Dance/Electronic; via rock → genre of → Rain on Glass."
    rep = ground(text, CANDS, cat)
    assert not rep.hallucinated, [m.label() for m in rep.unsupported]
    rep = ground("1. The Velvet Foxes - Rain on Glass: fans of Sunny Side Up agree.", CANDS, cat)
    assert [m.label() for m in rep.unsupported] == ["Sunny Side Up"]  # mid-line catalog artists still count


def test_one_word_candidate_title_that_is_also_a_catalog_artist_is_not_an_artist_mention():
    cat = _cat_with_terms()
    cat.add_artist("om", "Om")
    cat.add_song("jane|om", "Om", "Jane Winther")
    cands = [*CANDS, Result(rank=3, kind="song", id="jane|om", name="Om", score=0.3, artist="Jane Winther", title="Om")]
    text = "1. Jane Winther - Om: via meditation → genre of → Jane Winther → performs → Om."
    rep = ground(text, cands, cat)
    assert not rep.hallucinated, [m.label() for m in rep.unsupported]
    assert rep.cited_ids == ["jane|om"]


def test_repeated_list_items_are_dropped_and_prose_repeats_kept():
    text = (
        "1. The Velvet Foxes - Rain on Glass\n"
        "2. Moonlit Harbor - Low Tide Lullaby\n"
        "3. The Velvet Foxes - Rain on Glass\n"
        "4. The Velvet Foxes - Rain on Glass\n"
        "Rain on Glass is the one to start with."
    )
    rep = ground(text, CANDS, catalog_with_all())
    assert not rep.hallucinated  # repeats are not inventions
    assert rep.text.count("1. The Velvet Foxes - Rain on Glass") == 1
    assert "3." not in rep.text and "4." not in rep.text  # dropped, the list renumbered
    assert rep.text.endswith("Rain on Glass is the one to start with.")  # prose may name a song again
    assert rep.cited_ids == ["velvet foxes|rain on glass", "moonlit harbor|low tide lullaby"]
    assert len(rep.removed) == 2
