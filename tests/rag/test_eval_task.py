"""The RAG evaluation task's question builder (labelled "<mood> like <artist>" requests)."""

from __future__ import annotations

from musicgraph.evaluation.tasks.rag import MIN_QUESTIONS, mood_artist_questions

from .conftest import ARTISTS, SONGS

PHRASINGS = {"sad": ["sad songs", "songs to cry to"], "happy": ["happy songs"], "angry": ["angry songs"]}


def test_mood_artist_questions_use_artists_labelled_with_that_mood(store):
    qs = mood_artist_questions(store, PHRASINGS, 8)
    assert len(qs) == 8 and len({t for t, _, _ in qs}) == 8
    labelled = {(m, ARTISTS[s[1]]) for s in SONGS for m in s[8]}
    for text, mood, artist in qs:
        assert (mood, artist) in labelled
        assert text.endswith(f" like {artist}") and text.split(" like ")[0] in PHRASINGS[mood]
    assert "angry" not in {m for _, m, _ in qs}  # no song carries it
    assert qs == mood_artist_questions(store, PHRASINGS, 8)  # deterministic


def test_mood_artist_questions_stop_at_what_the_store_can_label(store):
    capacity = 2 * len({s[1] for s in SONGS if "sad" in s[8]}) + len({s[1] for s in SONGS if "happy" in s[8]})
    qs = mood_artist_questions(store, PHRASINGS, MIN_QUESTIONS)
    assert len(qs) == capacity < MIN_QUESTIONS
