"""The free-text request parser on the invented retrieval catalog (tests/retrieval/conftest.py)."""

from __future__ import annotations

import pytest

from musicgraph.errors import RequestError


def seeds(req):
    return [(s.label, s.key, s.relation.value if s.relation else None) for s in req.seeds]


@pytest.mark.parametrize("text, want", [
    ("electronic artists that fans of Daft Punk listen to", [("Artist", "daft punk", "fans_of")]),
    ("what do daft punk fans listen to", [("Artist", "daft punk", "fans_of")]),
    ("bands Daft Punk listeners also like", [("Artist", "daft punk", "fans_of")]),
    ("people who like Adele also play what?", [("Artist", "adele", "fans_of")]),
    ("songs like Coldplay", [("Artist", "coldplay", "similar_to")]),
    ("something in the style of metalica", [("Artist", "metallica", "similar_to")]),  # typo
    ("songs by Adele", [("Artist", "adele", "performed_by")]),
    ("adele songs", [("Artist", "adele", "performed_by")]),
    ("songs from the same album as Fix You", [("Song", "coldplay|fix you", "same_album")]),
])
def test_relations_from_cues(retriever, text, want):
    assert seeds(retriever.parse(text)) == want


@pytest.mark.parametrize("text, kind, k", [
    ("electronic artists that fans of Daft Punk listen to", "artist", 10),
    ("five bands like Coldplay", "artist", 5),
    ("top 3 albums like Adele", "album", 3),
    ("songs like Queen", "song", 10),
    ("give me 20 tracks", "song", 20),
])
def test_kind_and_k(retriever, text, kind, k):
    req = retriever.parse(text)
    assert (req.kind, req.k) == (kind, k)


def test_tags_become_constraints_and_seed_is_not_an_answer(retriever):
    req = retriever.parse("electronic artists that fans of Daft Punk listen to")
    assert req.constraints.tags == ["electronic"]
    res = retriever.search(req)
    assert res and all(r.kind == "artist" and r.id != "daft punk" for r in res)
    for r in res:  # each answer: its co-listening path and its tag edge
        assert any(p.rels[:2] == ["<-LISTENED_TO", "LISTENED_TO"] and "listeners also play" in p.note for p in r.paths)
        assert any(p.names[0] == "electronic" and p.rels[-1] in ("<-TAGGED", "<-HAS_GENRE") for p in r.paths)


def test_artist_beats_same_named_tag_unless_text_says_tag(retriever):
    # "queen" is an artist and (in the fixture) not a tag; "electronic" is a tag; with a cue the artist wins
    assert seeds(retriever.parse("fans of queen")) == [("Artist", "queen", "fans_of")]
    assert retriever.parse("songs tagged electronic").constraints.tags == ["electronic"]


def test_two_seeds_and_negation(retriever):
    both = retriever.parse("artists that fans of both Justice and Daft Punk listen to")
    assert {s.key for s in both.seeds} == {"justice", "daft punk"} and both.combine == "all"
    assert all(s.relation.value == "fans_of" for s in both.seeds)
    either = retriever.parse("songs like Justice or Adele")
    assert either.combine == "any"
    neg = retriever.parse("happy songs but no Queen and nothing by Coldplay")
    assert {e.key for e in neg.constraints.exclude} == {"queen", "coldplay"}
    assert not {s.key for s in neg.seeds} & {"queen", "coldplay"}


def test_era_popularity_explicit(retriever):
    c = retriever.parse("obscure 90s songs, clean please").constraints
    assert c.years == (1990, 1999) and c.popularity == (None, 50.0) and c.explicit is False
    assert retriever.parse("songs from before 2000").constraints.years == (None, 1999)
    assert retriever.parse("tracks between 2005 and 2010").constraints.years == (2005, 2010)
    assert retriever.parse("popular dance songs").constraints.popularity == (70.0, None)


def test_lower_case_and_moods(retriever):
    req = retriever.parse("sad songs like coldplay")
    assert seeds(req) == [("Artist", "coldplay", "similar_to")]
    assert req.targets.moods == ["sad"] and req.targets.valence is not None


def test_empty_request_is_an_error(retriever):
    with pytest.raises(RequestError, match="empty request"):
        retriever.parse("   ")
