"""Name matching for API search results: how sure are we that a hit is the entity we asked for?

The API clients live below the graph layer (data flows loaders → graph), so this module has its
own light normalization rather than importing :mod:`musicgraph.graph.resolve`: case and accents
folded, ``&`` → ``and``, punctuation dropped, a leading ``The`` dropped, and a trailing
parenthesised or `` - `` suffix ignored for titles (``Song (Remastered)`` ~ ``Song``).
"""

from __future__ import annotations

import re
import unicodedata
from difflib import SequenceMatcher

_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)
_THE = re.compile(r"^the\s+")
_SUFFIX = re.compile(r"\s*(?:[\(\[][^\)\]]*[\)\]]|\s-\s.*)$")


def normalize_name(text: str) -> str:
    """Folded comparison form of an artist or song name."""
    text = unicodedata.normalize("NFKC", text or "").strip().lower()
    text = text.replace("&", " and ").replace("+", " and ")
    text = re.sub(r"['’`´]", "", text)
    text = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    text = _NON_WORD.sub(" ", text).replace("_", " ")
    return _THE.sub("", " ".join(text.split()))


def name_similarity(a: str, b: str) -> float:
    """Similarity of two names in [0, 1]: 1.0 when their normalized forms are equal."""
    na, nb = normalize_name(a), normalize_name(b)
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
