"""The one normalizer: keys built from a name and look-ups of the same name written elsewhere agree."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from musicgraph.graph.resolve import (
    artist_key,
    hetrec_key,
    is_personal,
    personal_key,
    split_featured,
    user_key,
)
from musicgraph.lm import judge
from musicgraph.loaders.matching import name_similarity
from musicgraph.normalize import drop_article, fold, fold_accents, similarity, spell_and, word_form, words
from musicgraph.rag import mentions
from musicgraph.rag.mentions import NameIndex, _tokens
from musicgraph.retrieval.parser import normalize_words

_LETTERS = string.ascii_letters + string.digits + "éüñçøÅßЖж"
#: names as they are written: letters (some accented or in other scripts), spaces, and the signs
#: the folders used to disagree on.
NAMES = st.text(alphabet=_LETTERS + "    &+-,.!/'’`´_", min_size=1, max_size=30)
#: names without apostrophes, dots and commas (which the request tokenizer reads as possessives,
#: initials and punctuation tokens).
PLAIN_NAMES = st.text(alphabet=string.ascii_letters + string.digits + "éüñç    &+-", min_size=1, max_size=30)


def test_pinned_forms() -> None:
    assert fold("Beyoncé") == "beyonce"
    assert fold("Simon & Garfunkel") == fold("Simon + Garfunkel") == "simon and garfunkel"
    assert fold("Don't Stop") == fold("Don’t Stop") == fold("Don`t Stop") == "dont stop"
    assert fold("Don´t Stop") == "don t stop"  # NFKC makes the acute accent a space and a combining mark
    assert fold("AC/DC") == "ac dc"
    assert fold("Сплин") == "сплин"  # other scripts keep their letters
    assert drop_article("the beatles") == "beatles"
    assert drop_article("the the") == "the the"
    assert drop_article("the") == "the"
    assert word_form("Simon & Garfunkel") == "simon and garfunkel"
    assert word_form("Florence + the Machine") == "florence and the machine"
    assert words("Don't STOP") == ["dont", "stop"]
    assert fold_accents("Beyoncé’s") == "beyonce's"
    assert spell_and("a&b") == "a and b"


@given(NAMES)
def test_fold_is_idempotent(name: str) -> None:
    assert fold(fold(name)) == fold(name)


@given(PLAIN_NAMES)
def test_word_form_is_what_the_request_tokenizer_reads(name: str) -> None:
    """Entity linking keys names by ``word_form``; the parser looks up the words it reads."""
    assert word_form(name) == " ".join(normalize_words(name))


@given(NAMES)
def test_loader_matching_agrees_with_graph_artist_keys(name: str) -> None:
    """The API matcher compares names in the form the graph keys artists by."""
    _, featured = split_featured(name)
    if featured or not any(ch.isalnum() for ch in name):
        return  # featured credits are split off, symbol-only names keep their symbols
    assert drop_article(fold(name)) == artist_key(name)
    assert name_similarity(name, name.strip().lower()) == 1.0


@settings(max_examples=200)
@given(NAMES)
def test_grounding_lookup_finds_what_the_catalog_indexed(name: str) -> None:
    """The tokens an answer is read in fold to the words the catalog keyed the name by."""
    key = tuple(fold(name).split())
    if not key:
        return
    toks = tuple(t.norm for t in _tokens(name) if fold(t.text))
    assert toks == key
    cat = NameIndex()
    cat.add_artist("k", name)
    assert [e.id for e in cat.find_artist(name)] == ["k"]


def test_user_keys_are_built_in_one_place() -> None:
    assert hetrec_key(2) == user_key("2") == user_key("hetrec:2") == "hetrec:2"
    assert personal_key("Alice") == user_key("me:alice") == "me:alice"
    assert is_personal(personal_key("bob")) and not is_personal(hetrec_key(3))


def test_name_similarity_of_folded_forms_is_one_function() -> None:
    """The judge and the mention finder compare folded names with the same :func:`similarity`."""
    assert judge.similarity is similarity and mentions.similar is similarity
    assert similarity("", "") == 1.0 and similarity("abba", "abba") == 1.0
    assert similarity("abba", "") == 0.0 and similarity("", "abba") == 0.0
    assert similarity("abba", "abbe") == 0.75
