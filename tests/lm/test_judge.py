from __future__ import annotations

import pytest

from musicgraph.lm.adversarial import KINDS, build_set, score
from musicgraph.lm.judge import (
    INVENTED_ARTIST,
    INVENTED_SONG,
    NOT_RETRIEVED,
    WRONG_ARTIST,
    WRONG_MOOD,
    WRONG_POINTER,
    WRONG_YEAR,
    GroundingJudge,
    JudgeCatalog,
    norm,
)

from .conftest import song_result

CANDS = ["velvet foxes|rain on glass", "moonlit harbor|low tide lullaby", "quiet engines|static hearts"]


@pytest.fixture()
def judge(store):
    return GroundingJudge(JudgeCatalog.from_store(store))


@pytest.fixture()
def cands():
    return [song_result(i, k) for i, k in enumerate(CANDS, start=1)]


def kinds(judge, text, cands, request="sad songs for a rainy night"):
    return judge.judge(text, cands, request).kinds()


def test_catalog_reads_stored_facts(store):
    cat = JudgeCatalog.from_store(store)
    song = cat.songs["velvet foxes|rain on glass"]
    assert song.year == 2003 and song.moods == {"sad"} and song.artist == "The Velvet Foxes"
    assert cat.titles.find("rain on glas")[0][1] == "velvet foxes|rain on glass"  # fuzzy
    assert norm("The Velvet Foxes") == "velvet foxes"


@pytest.mark.parametrize("text", [
    "Picks:\n1. The Velvet Foxes - Rain on Glass (2003): sad mood, low energy.\n2. Moonlit Harbor - Low Tide Lullaby: calm.",
    '"Rain on Glass" by The Velvet Foxes [1] has a sad mood.\n"Static Hearts" by Quiet Engines [3] is from 1999.',
    "try rain on glass by the velvet foxes for a rainy night; low tide lullaby by moonlit harbor is calm.",
    "- The Velvet Foxes's Rain on Glass: a sad mood\n- Moonlit Harbor's Low Tide Lullaby: low energy",
    "Perfect For A Rainy Night: the mood is sad and the energy is low. Static Hearts by Quiet Engines fits.",
])  # fmt: skip
def test_clean_answers_pass(judge, cands, text):
    v = judge.judge(text, cands, "sad songs for a rainy night")
    assert not v.findings, [(f.kind, f.span, f.detail) for f in v.findings]
    assert v.true_citations


@pytest.mark.parametrize("text,kind", [
    ('You could also try "Midnight Echoes" by The Velvet Foxes.', INVENTED_SONG),
    ("also try midnight echoes by the paper lanterns for a similar feel.", INVENTED_SONG),
    ("Quiet Night Song is perfect for this too.", INVENTED_SONG),
    ("Zorvane is another great pick here.", INVENTED_SONG),
    ('"Rain on Glass" by The Velvet Foxes sounds like The Crimson Pilots.', INVENTED_ARTIST),
    ('Also good: "Golden Hour" by The Velvet Foxes.', WRONG_ARTIST),
    ('You might also like "Golden Hour" by Sunny Side Up.', NOT_RETRIEVED),
    ('"Rain on Glass" by The Velvet Foxes [1] came out in 1987.', WRONG_YEAR),
    ('"Rain on Glass" by The Velvet Foxes [1] has a cheerful mood.', WRONG_MOOD),
    ('"Rain on Glass" by The Velvet Foxes [2] has a sad mood.', WRONG_POINTER),
])  # fmt: skip
def test_each_error_shape_is_caught(judge, cands, text, kind):
    base = '"Static Hearts" by Quiet Engines [3] has a sad mood.\n'
    assert kind in kinds(judge, base + text, cands)


def test_graph_path_sentences_are_not_read_as_names(judge, cands):
    # the template's path sentences name graph nodes and user numbers: not invented songs, not years
    line = ("1. The Velvet Foxes - Rain on Glass: sad mood; via Moonlit Harbor → listened to by → Last.fm user 1883 "
            "→ listened to → The Velvet Foxes → performs → Rain on Glass.\n")
    v = judge.judge(line, cands, "sad songs like Moonlit Harbor")
    assert not v.findings, [(f.kind, f.span, f.detail) for f in v.findings]
    assert v.true_citations == ["velvet foxes|rain on glass"]
    # the line's head is still judged: an invented song before the path is caught
    bad = line.replace("The Velvet Foxes - Rain on Glass:", "The Velvet Foxes - Midnight Echoes:", 1)
    assert INVENTED_SONG in kinds(judge, bad, cands)


def test_unverifiable_facts_are_not_errors(judge, cands):
    # the store has no instrumentalness for "Low Tide Lullaby": that claim cannot be decided, so it is
    # counted as unverified, not as an error; "calm", "minor key" and "92 BPM" are checked and true
    v = judge.judge('"Low Tide Lullaby" by Moonlit Harbor [2] is calm and instrumental, in a minor key at 92 BPM.',
                    cands, "calm")
    assert not v.findings and v.unverified_facts == 1 and v.checked_facts == v.true_facts >= 3


def test_adversarial_set_and_score(store, judge, cands):
    cat = judge.cat
    contexts = [("sad songs for a rainy night", cands)]
    answers = build_set(contexts, cat, family="test", seed=1)
    assert {a.kind for a in answers if a.bad} <= set(KINDS) and any(not a.bad for a in answers)
    for a in answers:
        if a.kind.startswith("invented"):
            assert norm(a.planted) not in cat.titles.exact
    flagged = [judge.judge(a.text, a.candidates, a.request).hallucinated for a in answers]
    s = score(answers, flagged)
    assert s["recall"] >= 0.9 and s["precision"] >= 0.9
    assert score(answers, [False] * len(answers))["recall"] == 0.0
    with pytest.raises(ValueError, match="family"):
        build_set(contexts, cat, family="other")
