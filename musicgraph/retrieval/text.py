"""The retrieval tokenizer: one tokenizer for BM25, emotion and linking, and its word lists.

The tokenizer is deliberately simple and deterministic (no NLTK corpora, which cannot be downloaded
here): the words of :func:`musicgraph.normalize.words` (Unicode NFKD folding, lower case,
``[a-z0-9]+`` words with inner apostrophes dropped, "don't" -> "dont"), and an English stop-word
list for BM25 (kept for emotion analysis, where "no" and "not" matter). Name forms live in
:mod:`musicgraph.normalize`.
"""

from __future__ import annotations

from collections.abc import Iterable

from musicgraph.normalize import words

__all__ = ["REQUEST_WORDS", "STOPWORDS", "tokenize", "tokenize_many", "words"]

#: English function words left out of BM25 documents and queries.
STOPWORDS: frozenset[str] = frozenset(
    """
    a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have
    having he her here hers herself him himself his how i if in into is it its itself just me more most
    my myself of off on once only or other our ours ourselves out over own same she should so some such
    than that the their theirs them themselves then there these they this those through to too under
    until up very was we were what when where which while who whom why will with would you your yours
    yourself yourselves im ive id ill youre youve dont cant wont aint isnt thats oh ooh yeah la na da
    """.split()
)

#: Words of a music request that say nothing about the music itself ("play me some songs").
REQUEST_WORDS: frozenset[str] = frozenset(
    """
    song songs music track tracks tune tunes play playlist playlists something some give me want need
    find recommend recommendations please listen listening good great best kind sort type stuff
    list lot any anything similar like sounds sound sounding artist artists band bands singer singers
    fans fan also
    """.split()
)


def tokenize(text: str, stopwords: frozenset[str] = STOPWORDS) -> list[str]:
    """BM25 tokens of ``text``: :func:`words` without stop words and one-letter tokens."""
    return [w for w in words(text) if len(w) > 1 and w not in stopwords]


def tokenize_many(texts: Iterable[str], stopwords: frozenset[str] = STOPWORDS) -> list[list[str]]:
    """:func:`tokenize` over many texts."""
    return [tokenize(t, stopwords) for t in texts]
