"""Entity resolution: normalized keys that let artists and songs from different sources merge.

There are no shared ids across the datasets, so artists and songs are matched by normalized names.
The rules are deliberately conservative — two different songs must never collapse into one:

* Names are folded by :func:`musicgraph.normalize.fold` (``Beyoncé`` → ``beyonce``, case dropped,
  ``&``/``+`` become ``and``, punctuation dropped, whitespace collapsed).
* Artists: a leading ``The`` is dropped (``The Beatles`` = ``Beatles``). Featured artists
  (``X feat. Y``, ``X ft. Y``, ``X featuring Y``) are split off; commas are **not** split
  (``Earth, Wind & Fire`` is one artist).
* Titles: featuring credits (``(feat. Y)``, ``- feat. Y``) and edition suffixes that do not change the
  recording's identity (``- Remastered 2011``, ``(Radio Edit)``, ``- Single Version``, ``(Album Version)``,
  ``(Explicit)``, ``(Mono)``…) are dropped. Suffixes that make a different recording are kept:
  remix, live, acoustic, instrumental, demo, cover, reprise, part numbers, language versions.

Keys: ``artist_key(name)``, ``title_key(title)``, ``song_key(artist, title)`` = ``"<artist>|<title>"``.

User keys are ``<source>:<id>``, and this module is their one definition: :func:`hetrec_key`
(``hetrec:2``; also the raw HetRec artist ids of the GNN's file source), :func:`personal_key`
(``me:<name>``, a person's own imported listening history) and :func:`user_key`, which turns what a
caller passes as ``user=`` (``"2"``, ``"hetrec:2"``, ``"me:alice"``) into the node key.
"""

from __future__ import annotations

import re
from functools import lru_cache

from musicgraph.normalize import drop_article, fold

__all__ = [
    "HETREC",
    "PERSONAL",
    "artist_key",
    "fold",
    "hetrec_key",
    "is_personal",
    "normalize_tag",
    "personal_key",
    "song_key",
    "source_prefix",
    "split_featured",
    "title_key",
    "user_key",
]

_FEAT = r"(?:feat\.?|ft\.?|featuring|feat\b)"
_FEAT_SPLIT = re.compile(rf"\s+(?:{_FEAT})\s+", re.IGNORECASE)
_FEAT_PAREN = re.compile(rf"\s*[\(\[]\s*{_FEAT}\s+([^\)\]]*)[\)\]]", re.IGNORECASE)
_FEAT_DASH = re.compile(rf"\s+-\s+{_FEAT}\s+(.*)$", re.IGNORECASE)
_WITH_PAREN = re.compile(r"\s*[\(\[]\s*with\s+([^\)\]]*)[\)\]]", re.IGNORECASE)

# Words that make a suffix an edition of the same recording (dropped)...
_EDITION = (
    r"remaster(?:ed)?|re-?master(?:ed)?|radio edit|single version|album version|edit(?:ed)?|"
    r"explicit|clean|mono|stereo|original mix|original version|deluxe(?: edition| version)?|"
    r"bonus track|from .*soundtrack|from .*"
)
# ...unless one of these is in it (a different recording, kept).
_DIFFERENT = re.compile(
    r"\b(remix|mix|live|acoustic|instrumental|demo|cover|reprise|karaoke|unplugged|version en|"
    r"spanish|french|part|pt\.?|vol\.?|dub|extended|rework|session|orchestral|piano)\b",
    re.IGNORECASE,
)
_EDITION_DASH = re.compile(rf"\s+-\s+(?P<suffix>(?:[^-]*?\b(?:{_EDITION})\b[^-]*))$", re.IGNORECASE)
_EDITION_PAREN = re.compile(rf"\s*[\(\[](?P<suffix>[^\)\]]*\b(?:{_EDITION})\b[^\)\]]*)[\)\]]", re.IGNORECASE)


def split_featured(artist: str) -> tuple[str, list[str]]:
    """Split ``"X feat. Y & Z"`` into (``"X"``, [``"Y & Z"``]). Commas and ``&`` are not split."""
    parts = _FEAT_SPLIT.split(artist.strip(), maxsplit=1)
    main = parts[0].strip()
    featured = [parts[1].strip()] if len(parts) > 1 and parts[1].strip() else []
    return main, featured


@lru_cache(maxsize=200_000)
def artist_key(name: str) -> str:
    """The merge key of an artist name (main artist only; featured credits removed)."""
    main, _ = split_featured(name)
    if not any(ch.isalnum() for ch in main):
        # Names made only of symbols ("+/-", "!!!") keep their own characters: folding would empty them.
        return "".join(main.split()).lower() or name
    return drop_article(fold(main)) or main.strip().lower()


def _strip_title(title: str) -> str:
    t = title.strip()
    t = _FEAT_PAREN.sub("", t)
    t = _WITH_PAREN.sub("", t)
    t = _FEAT_DASH.sub("", t)
    for _ in range(3):  # "Song - 2011 Remaster (Mono)"
        changed = False
        for pattern in (_EDITION_PAREN, _EDITION_DASH):
            m = pattern.search(t)
            if m and not _DIFFERENT.search(m.group("suffix")):
                t = (t[: m.start()] + t[m.end() :]).strip()
                changed = True
        if not changed:
            break
    return t


def title_featured(title: str) -> list[str]:
    """Featured artists credited in a title: ``"Song (feat. Y)"`` → [``"Y"``]."""
    out = [m.group(1).strip() for m in _FEAT_PAREN.finditer(title)]
    out += [m.group(1).strip() for m in _WITH_PAREN.finditer(title)]
    m = _FEAT_DASH.search(title)
    if m:
        out.append(m.group(1).strip())
    return [o for o in out if o]


@lru_cache(maxsize=400_000)
def title_key(title: str) -> str:
    """The merge key of a song title (edition suffixes and featuring credits removed)."""
    key = fold(_strip_title(title))
    return key or fold(title) or title.strip().lower()


def song_key(artist: str, title: str) -> str:
    """``"<artist key>|<title key>"``."""
    return f"{artist_key(artist)}|{title_key(title)}"


def normalize_tag(tag: str) -> str:
    """Tag/genre/mood normalization: folded, single spaces, ``-``/``_`` treated as spaces."""
    return fold(tag.replace("_", " "))


# ------------------------------------------------------------------------------ user keys
#: Source prefix of the HetRec Last.fm users (and of raw HetRec artist ids in the GNN's file source).
HETREC = "hetrec"
#: The source prefix of user keys that come as bare ids (HetRec users: ``"2"`` -> ``"hetrec:2"``).
DEFAULT_USER_SOURCE = HETREC
#: Source prefix of people's own imported listening histories (``musicgraph me import``).
PERSONAL = "me"
_PERSONAL_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


def source_prefix(source: str) -> str:
    """``"<source>:"``, the prefix every key from ``source`` starts with (``source_prefix(HETREC)``)."""
    return f"{source}:"


def hetrec_key(source_id: str | int) -> str:
    """``hetrec:<id>``: a HetRec user (or, in the GNN's raw-file source, a HetRec artist id)."""
    return f"{source_prefix(HETREC)}{source_id}"


def personal_key(name: str) -> str:
    """``me:<name>``, the User key of a person's imported history.

    ``name`` is lower-cased; it must be 1-64 letters, digits, ``_``, ``.`` or ``-`` (it names the
    profile on the command line), else ValueError.
    """
    n = name.strip().lower()
    if n.startswith(source_prefix(PERSONAL)):
        n = n[len(source_prefix(PERSONAL)) :]
    if not _PERSONAL_NAME.match(n):
        raise ValueError(f"profile name {name!r}: use 1-64 letters, digits, '_', '.' or '-' (e.g. 'alice')")
    return f"{source_prefix(PERSONAL)}{n}"


def user_key(user: str | int, source: str = DEFAULT_USER_SOURCE) -> str:
    """The key of a User node: ``"<source>:<id>"``; a key that already has a source (``hetrec:2``,
    a personal profile ``me:alice``) is kept.

    >>> user_key("2"), user_key("hetrec:2"), user_key("7", source="me"), user_key("me:alice")
    ('hetrec:2', 'hetrec:2', 'me:7', 'me:alice')
    """
    text = str(user).strip()
    return text if ":" in text else f"{source_prefix(source)}{text}"


def is_personal(key: str) -> bool:
    """Whether a User key belongs to an imported personal history (``me:<name>``)."""
    return str(key).startswith(source_prefix(PERSONAL))
