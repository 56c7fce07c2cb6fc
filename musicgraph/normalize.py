"""Text normalization: the one home of how names and words are folded for comparison.

Every layer (loaders, graph, retrieval, rag) compares names through this module, so that a key
built from a name and a look-up of the same name written elsewhere always agree. It imports only the
standard library and sits below the loaders.

Two forms, for two jobs:

* :func:`fold` — the **name form** used for merge keys and name look-ups (graph keys, API match
  scores, answer grounding): Unicode compatibility-normalized, lower case, accents removed, ``&``
  and ``+`` read as ``and``, apostrophes removed without a space (``Don't`` → ``dont``), every other
  punctuation mark a space, spaces collapsed. Letters of non-Latin scripts are kept, so names in
  other scripts still get distinct keys. A leading article is *not* removed by :func:`fold`;
  :func:`drop_article` does that where a key wants it (artist keys, API name matching).
* :func:`words` / :func:`word_form` — the **request form**: what the request tokenizer reads
  (``[a-z0-9]`` words, inner apostrophes dropped, so non-Latin letters drop out). Entity linking and
  catalog filters key names by :func:`word_form` because the request's words are looked up there.

:func:`fold_accents` is the first step of every tokenizer (lower case, accents removed, curly
apostrophes straightened; punctuation kept for the tokenizer to read).

Where the five former folders disagreed, the choices are: ``+`` is ``and`` everywhere (as the graph
keys always had it; the request tokenizer and grounding used to drop it), apostrophes (``'``, ``’`` and the backtick)
are removed without a space (``´`` is a space: NFKC makes it a space and a combining mark), underscores
are spaces, and ``"the the"`` keeps its article.
"""

from __future__ import annotations

import re
import unicodedata
from difflib import SequenceMatcher

__all__ = ["drop_article", "fold", "fold_accents", "similarity", "spell_and", "word_form", "words"]

_AND = re.compile(r"[&+]")
_APOSTROPHES = re.compile(r"['’`´]")
_NON_WORD = re.compile(r"[^a-z0-9]+")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")
_ARTICLE = "the "


def fold_accents(text: str) -> str:
    """Lower-case ``text`` and strip accents (``"Beyoncé"`` → ``"beyonce"``); ``’`` becomes ``'``.

    Punctuation is kept: this is the first step of a tokenizer, not a comparison form.
    """
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower().replace("\u2019", "'")


def spell_and(text: str) -> str:
    """``&`` and ``+`` read as the word ``and`` (``"Simon & Garfunkel"`` → ``"Simon  and  Garfunkel"``)."""
    return _AND.sub(" and ", text)


def fold(text: str) -> str:
    """The name form of ``text``: the comparison form of every key and name look-up.

    >>> fold("Beyoncé"), fold("Simon & Garfunkel"), fold("Don't Stop"), fold("Florence + the Machine")
    ('beyonce', 'simon and garfunkel', 'dont stop', 'florence and the machine')
    """
    text = unicodedata.normalize("NFKC", text).strip().lower()
    text = _APOSTROPHES.sub("", spell_and(text))
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    if stripped.isascii():
        return _NON_WORD.sub(" ", stripped).strip()
    # Keep letters of other scripts; drop only punctuation and symbols.
    kept = "".join(ch if (ch.isalnum() or ch.isspace()) else " " for ch in stripped)
    return " ".join(kept.split())


def drop_article(folded: str) -> str:
    """A folded name without a leading ``the`` (``"the beatles"`` → ``"beatles"``).

    ``"the the"`` stays as it is (the band The The is not "the"), and so does ``"the"`` alone.
    """
    if folded.startswith(_ARTICLE):
        rest = folded[len(_ARTICLE) :].strip()
        if rest and rest != "the":
            return rest
    return folded


def similarity(a: str, b: str) -> float:
    """Similarity in [0, 1] of two names already in one comparison form: 1.0 when equal (also both
    empty), 0.0 when only one is empty, else :class:`difflib.SequenceMatcher`'s ratio."""
    if a == b:
        return 1.0
    if not a or not b:
        return 0.0
    return SequenceMatcher(None, a, b).ratio()


def words(text: str) -> list[str]:
    """The word tokens of ``text`` as the request tokenizer reads them: accents folded, lower case,
    ``[a-z0-9]`` words with inner apostrophes removed (``"don't"`` → ``"dont"``); stop words kept."""
    return [w.replace("'", "") for w in _WORD.findall(fold_accents(text))]


def word_form(text: str) -> str:
    """The request form of a name: its :func:`words` (``&``/``+`` read as ``and``) joined by single spaces.

    >>> word_form("Simon & Garfunkel"), word_form("Beyoncé"), word_form("Guns N' Roses")
    ('simon and garfunkel', 'beyonce', 'guns n roses')
    """
    return " ".join(words(spell_and(text)))
