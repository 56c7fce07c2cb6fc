"""Name matching for API search results: how sure are we that a hit is the entity we asked for?

Names are compared in the name form of :mod:`musicgraph.normalize` (the one the graph keys use:
case and accents folded, ``&``/``+`` → ``and``, punctuation dropped) with a leading ``The`` dropped;
a trailing parenthesised or `` - `` suffix is ignored for titles (``Song (Remastered)`` ~ ``Song``).
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

from musicgraph.normalize import drop_article, fold

_SUFFIX = re.compile(r"\s*(?:[\(\[][^\)\]]*[\)\]]|\s-\s.*)$")


def name_similarity(a: str, b: str) -> float:
    """Similarity of two names in [0, 1]: 1.0 when their normalized forms are equal."""
    na, nb = drop_article(fold(a or "")), drop_article(fold(b or ""))
    if not na or not nb:
        return 0.0
    if na == nb:
        return 1.0
    return SequenceMatcher(None, na, nb).ratio()


def title_similarity(a: str, b: str) -> float:
    """Like :func:`name_similarity`, also trying both titles without a trailing version suffix."""
    best = name_similarity(a, b)
    if best < 1.0:
        sa, sb = _SUFFIX.sub("", a or ""), _SUFFIX.sub("", b or "")
        if (sa, sb) != (a, b):
            best = max(best, 0.97 * name_similarity(sa, sb))
    return best


def year_of(date: str | None) -> int | None:
    """The year of an ISO-like date (``2014``, ``2014-06``, ``2014-06-20``), else None."""
    if not date:
        return None
    m = re.match(r"^\s*(\d{4})", str(date))
    if not m:
        return None
    year = int(m.group(1))
    return year if 1000 <= year <= 2999 else None
