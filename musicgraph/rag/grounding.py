"""Grounding: every song and artist an answer names must be backed by the retrieved evidence.

1. **Mentions** are extracted from the answer text: ``Artist - Title`` lines, ``"Title" by Artist``,
   quoted titles, and catalog names found by n-gram lookup (artist names and aliases, multi-word
   song titles; case and accents folded, fuzzy comparison with :mod:`difflib`). A numbered or
   bulleted list item that cites no candidate counts as one unsupported mention (this catches
   invented names in any format). Limit: an invented, unquoted name in running prose that is not
   in the catalog and not written ``Artist - Title`` is not detected.
2. Each mention is **resolved** against the candidates: a song is supported when it matches a
   candidate (artist and title both similar, or the title alone when no artist is named); an artist
   is supported when it is a candidate's artist or named in the evidence (a seed on a path, or the
   request). Everything else is unsupported, whether or not the catalog knows it.
3. **Repair** removes each list item or sentence that carries an unsupported mention (the caller may
   first regenerate). The result carries the cited candidate ids in the order they are named.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import TYPE_CHECKING

from musicgraph.graph.results import Result

if TYPE_CHECKING:
    from musicgraph.graph.store import GraphStore

log = logging.getLogger(__name__)

MAX_NGRAM = 8
SONG_MATCH = 0.85
ARTIST_MATCH = 0.88

_TOKEN = re.compile(r"[\w']+|&")
_PAREN = re.compile(r"\s*[(\[][^)\]]*[)\]]")
_SUFFIX = re.compile(r"\s+-\s+(?:\d{4}\s+)?(?:remaster|live|radio edit|single|mono|stereo|version).*$", re.I)
_LIST_ITEM = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s+")
_SEP = re.compile(r"\s+[-–—]\s+")


def fold(text: str) -> str:
    """Lower case, accents removed, ``&`` → ``and``, punctuation → spaces, spaces collapsed."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = text.replace("&", " and ").replace("'", "").replace("’", "")
    return " ".join(re.findall(r"\w+", text))


def norm_artist(name: str) -> str:
    """Folded artist name without a leading ``the``."""
    folded = fold(name)
    return folded[4:] if folded.startswith("the ") else folded


def norm_title(title: str) -> str:
    """Folded title without parentheticals (feat., remaster) and version suffixes."""
    return fold(_SUFFIX.sub("", _PAREN.sub("", title))) or fold(title)


def similar(a: str, b: str) -> float:
    """Similarity of two normalized strings in [0, 1]."""
    if a == b:
        return 1.0
    if not a or not b:
        return 0.0
    return SequenceMatcher(None, a, b).ratio()


@dataclass(slots=True)
class CatalogEntry:
    """A nameable catalog item (song or artist) with its normalized names."""

    kind: str
    id: str
    display: str
    artist: str | None = None


@dataclass(slots=True)
class Catalog:
    """Name index of the catalog: normalized token tuples → entries (artists by name and alias,
    songs by title and alias)."""

    artists: dict[tuple[str, ...], list[CatalogEntry]] = field(default_factory=dict)
    titles: dict[tuple[str, ...], list[CatalogEntry]] = field(default_factory=dict)

    def add_artist(self, key: str, name: str, aliases: Iterable[str] = ()) -> None:
        entry = CatalogEntry("artist", key, name)
        for alias in {name, *aliases}:
            toks = tuple(fold(alias).split())
            if toks and entry not in self.artists.setdefault(toks, []):
                self.artists[toks].append(entry)
                if toks[0] == "the" and len(toks) > 1:
                    self.artists.setdefault(toks[1:], []).append(entry)

    def add_song(self, key: str, title: str, artist: str | None, aliases: Iterable[str] = ()) -> None:
        entry = CatalogEntry("song", key, title, artist)
        for alias in {title, *aliases}:
            for form in {fold(alias), norm_title(alias)}:
                toks = tuple(form.split())
                if toks and entry not in self.titles.setdefault(toks, []):
                    self.titles[toks].append(entry)

    def add_results(self, results: Iterable[Result]) -> None:
        """Make sure the candidates themselves are known (their names and artists)."""
        for res in results:
            if res.kind == "song":
                self.add_song(res.id, res.title or res.name, res.artist)
                if res.artist:
                    self.add_artist(norm_artist(res.artist), res.artist)
            else:
                self.add_artist(res.id, res.name)

    def find_artist(self, name: str) -> list[CatalogEntry]:
        return self.artists.get(tuple(fold(name).split()), [])

    def find_title(self, title: str) -> list[CatalogEntry]:
        return self.titles.get(tuple(norm_title(title).split()), []) or self.titles.get(
            tuple(fold(title).split()), []
        )

    @classmethod
    def from_results(cls, results: Iterable[Result]) -> Catalog:
        cat = cls()
        cat.add_results(results)
        return cat

    @classmethod
    def from_store(cls, store: GraphStore) -> Catalog:
        """Index every Artist and Song of ``store`` (cached per store and version)."""
        key = (repr(store), store.version())
        if key in _CATALOGS:
            return _CATALOGS[key]
        cat = cls()
        for node in store.iter_nodes("Artist"):
            cat.add_artist(node.key, node.name, [str(a) for a in node.props.get("aliases") or []])
        for node in store.iter_nodes("Song"):
            cat.add_song(
                node.key, node.name, node.props.get("artist"), [str(a) for a in node.props.get("aliases") or []]
            )
        log.info("catalog index: %d artist names, %d song titles", len(cat.artists), len(cat.titles))
        _CATALOGS.clear()
        _CATALOGS[key] = cat
        return cat


_CATALOGS: dict[tuple[str, str], Catalog] = {}


@dataclass(slots=True)
class Mention:
    """A song or artist named in an answer, with where it is and what it resolved to.

    Attributes:
        kind: ``"song"`` or ``"artist"``.
        start, end: character span in the text.
        artist, title: the names as written (title is None for artist mentions).
        supported: it matches a candidate (songs) or an evidence artist (artists).
        candidate_id: the cited candidate's id, when supported by one.
        in_catalog: the catalog knows the name (for reporting hallucinations vs. unretrieved items).
    """

    kind: str
    start: int
    end: int
    artist: str | None
    title: str | None
    supported: bool = False
    candidate_id: str | None = None
    in_catalog: bool = False

    def label(self) -> str:
        if self.kind == "song":
            return f"{self.artist} - {self.title}" if self.artist else f'"{self.title}"'
        return str(self.artist)


@dataclass(slots=True)
class GroundingReport:
    """The outcome of :func:`ground`.

    Attributes:
        text: the repaired answer (unsupported list items and sentences removed).
        original: the text as generated.
        mentions: every mention found in the original.
        cited_ids: supported candidate ids in order of first mention in the repaired text.
        removed: the list items / sentences removed.
    """

    text: str
    original: str
    mentions: list[Mention]
    cited_ids: list[str]
    removed: list[str] = field(default_factory=list)

    @property
    def unsupported(self) -> list[Mention]:
        return [m for m in self.mentions if not m.supported]

    @property
    def hallucinated(self) -> bool:
        """Whether the original named anything the evidence does not support."""
        return bool(self.unsupported)


class _Tok:
    __slots__ = ("text", "norm", "start", "end")

    def __init__(self, m: re.Match[str]):
        self.text = m.group(0)
        self.norm = fold(self.text) or self.text.lower()
        self.start = m.start()
        self.end = m.end()


def _tokens(text: str) -> list[_Tok]:
    return [_Tok(m) for m in _TOKEN.finditer(text)]


def _sentence_start(text: str, pos: int) -> bool:
    before = text[:pos].rstrip(" \t\"'“‘*")
    return not before or before[-1] in ".!?:\n" or bool(_LIST_ITEM.match(text[text.rfind("\n", 0, pos) + 1 : pos + 1]))


def _clean(part: str) -> str:
    part = re.sub(r"\[\d+\]", "", part)
    return part.strip(" \t\"'“”‘’*_.,;:!?")


class _Resolver:
    def __init__(self, candidates: Sequence[Result], allowed_artists: Iterable[str], catalog: Catalog):
        self.catalog = catalog
        self.songs = [
            (r, norm_artist(r.artist or ""), norm_title(r.title or r.name)) for r in candidates if r.kind == "song"
        ]
        self.artist_results = {norm_artist(r.name): r for r in candidates if r.kind == "artist"}
        allowed = {norm_artist(a) for a in allowed_artists if a}
        allowed |= {a for _, a, _ in self.songs if a}
        allowed |= set(self.artist_results)
        # names on explanation paths are evidence too (seed artists and songs), though not citable
        self.path_titles: set[str] = set()
        for r in candidates:
            for path in r.paths:
                for ref, name in zip(path.nodes, path.names, strict=False):
                    if ref.label == "Artist":
                        allowed.add(norm_artist(name))
                    elif ref.label == "Song" and ref.key != r.id:
                        self.path_titles.add(norm_title(name))
        self.allowed = allowed

    def song(self, artist: str | None, title: str) -> tuple[bool, str | None, bool]:
        nt = norm_title(title)
        na = norm_artist(artist) if artist else None
        best: tuple[float, Result | None] = (0.0, None)
        for res, ra, rt in self.songs:
            ts = similar(nt, rt)
            if na is None:
                score = ts if ts >= 0.9 else 0.0
            else:
                sa = similar(na, ra)
                score = min(ts, sa)
                if ts == 1.0 and sa >= 0.6:
                    score = max(score, SONG_MATCH)
            if score > best[0]:
                best = (score, res)
        in_cat = bool(self.catalog.find_title(title))
        if best[1] is not None and best[0] >= SONG_MATCH:
            return True, best[1].id, in_cat
        if nt in self.path_titles:
            return True, None, in_cat
        return False, None, in_cat

    def artist(self, name: str) -> tuple[bool, str | None, bool]:
        na = norm_artist(name)
        in_cat = bool(self.catalog.find_artist(name))
        for allowed in self.allowed:
            if similar(na, allowed) >= ARTIST_MATCH:
                res = self.artist_results.get(allowed)
                return True, (res.id if res else None), in_cat
        return False, None, in_cat


def _known_artist_suffix(words: list[str], resolver: _Resolver) -> int:
    """How many trailing words of ``words`` form a known artist name (0 if none)."""
    for n in range(min(len(words), 6), 0, -1):
        name = " ".join(words[-n:])
        if resolver.artist(name)[0] or resolver.catalog.find_artist(name):
            return n
    return 0


def find_mentions(
    text: str,
    candidates: Sequence[Result],
    catalog: Catalog | None = None,
    allowed_artists: Iterable[str] = (),
    protected: Iterable[str] = (),
) -> list[Mention]:
    """Every song and artist mention in ``text``, resolved against ``candidates``.

    Args:
        text: the generated answer.
        candidates: the retrieved results the answer may name.
        catalog: the name index (defaults to one built from the candidates only).
        allowed_artists: further artist names the evidence supports (path seeds, the request's).
        protected: further strings (the request) whose text is not a mention.
    """
    cat = catalog if catalog is not None else Catalog.from_results(candidates)
    if catalog is not None:
        cat.add_results(candidates)
    res = _Resolver(candidates, allowed_artists, cat)
    mentions: list[Mention] = []
    taken: list[tuple[int, int]] = []
    # evidence strings as written (candidate titles, path node names, the request): a name found
    # inside one of them is part of that evidence, not a new mention
    names = {r.title or r.name for r in candidates} | {r.display() for r in candidates} | set(protected)
    names |= {n for r in candidates for p in r.paths for n in p.names}
    lowered = text.lower()
    shields: list[tuple[int, int]] = []
    for name in names:
        needle = name.strip().lower()
        if len(needle) < 3:
            continue
        pos = lowered.find(needle)
        while pos >= 0:
            shields.append((pos, pos + len(needle)))
            pos = lowered.find(needle, pos + 1)

    def add(m: Mention) -> None:
        if any(m.start < e and s < m.end for s, e in taken):
            return
        if not m.supported and any(s <= m.start and m.end <= e for s, e in shields):
            return
        mentions.append(m)
        taken.append((m.start, m.end))

    offset = 0
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\n")
        item = _LIST_ITEM.match(body)
        head = item.end() if item else 0
        # "Artist - Title" (the first separator of a list item, or any in prose)
        for sep in _SEP.finditer(body, head):
            left = body[head : sep.start()]
            right = body[sep.end() :]
            right_title = re.split(r"\s*[(:;,]|\s*\.(?:\s|$)|\s+\[|\s+—|\s+because\b|\s+by\b", right, maxsplit=1)[0]
            title = _clean(right_title)
            t_words = right.split()[:20]
            for n in range(len(t_words), 0, -1):  # the longest known title at the start
                prefix = _clean(" ".join(t_words[:n]))
                if prefix and (res.song(None, prefix)[0] or cat.find_title(prefix)):
                    title = prefix
                    break
            if not title:
                continue
            words = _clean(left).split()
            if not words:
                continue
            if item and sep.start() - head < 80:
                artist_words = words
            else:
                n = _known_artist_suffix(words, res)
                if n == 0:
                    caps = []
                    for w in reversed(words):
                        if not w[:1].isupper() or len(caps) >= 4:
                            break
                        caps.insert(0, w)
                    n = len(caps)
                if n == 0:
                    continue
                artist_words = words[-n:]
            artist = " ".join(artist_words)
            a_start = offset + body.find(artist_words[0], head)
            t_end = offset + sep.end() + right.find(title) + len(title)
            ok, cid, in_cat = res.song(artist, title)
            add(Mention("song", a_start, t_end, artist, title, ok, cid, in_cat))
            if item:
                break
        # "Title" by Artist / Title by Artist
        for m in re.finditer(r"[\"“]([^\"”\n]{1,80})[\"”]\s+by\s+([^,.;:()\n]+)", body):
            artist = _clean(m.group(2))
            words = artist.split()
            n = next(
                (n for n in range(min(len(words), 6), 0, -1) if res.artist(" ".join(words[:n]))[0]
                 or cat.find_artist(" ".join(words[:n]))),
                min(len(words), 4),
            )
            artist = " ".join(words[:n])
            ok, cid, in_cat = res.song(artist, m.group(1))
            add(Mention("song", offset + m.start(), offset + m.end(), artist, _clean(m.group(1)), ok, cid, in_cat))
        # a quoted title alone
        for m in re.finditer(r"[\"“]([^\"”\n]{1,80})[\"”]", body):
            title = _clean(m.group(1))
            if not title or title.lower() == "" or len(title.split()) > 12:
                continue
            ok, cid, in_cat = res.song(None, title)
            if not ok and not in_cat and not title[:1].isupper():
                continue  # quoted lower-case words are not titles
            add(Mention("song", offset + m.start(1), offset + m.end(1), None, title, ok, cid, in_cat))
        offset += len(line)

    # catalog names by n-gram lookup
    toks = _tokens(text)
    cand_titles = {tuple(rt.split()) for _, _, rt in res.songs if rt}
    i = 0
    while i < len(toks):
        found = False
        for n in range(min(MAX_NGRAM, len(toks) - i), 0, -1):
            span = toks[i : i + n]
            if any(text[a.end : b.start].strip(" '") for a, b in zip(span, span[1:], strict=False)):
                continue  # punctuation inside: not one name
            key = tuple(t.norm for t in span)
            start, end = span[0].start, span[-1].end
            written = text[start:end]
            capitalised = all(t.text[:1].isupper() or t.norm in {"the", "of", "a", "and", "in", "to", "on"}
                              for t in span) and span[0].text[:1].isupper()
            if key in cand_titles and (n > 1 or len(key[0]) >= 4):
                ok, cid, in_cat = res.song(None, written)
                add(Mention("song", start, end, None, written, ok, cid, in_cat))
                found = True
            elif key in cat.artists and capitalised and (n > 1 or not _sentence_start(text, start)):
                ok, cid, in_cat = res.artist(written)
                add(Mention("artist", start, end, written, None, ok, cid, True))
                found = True
            elif n > 1 and key in cat.titles and capitalised:
                ok, cid, in_cat = res.song(None, written)
                add(Mention("song", start, end, None, written, ok, cid, True))
                found = True
            if found:
                i += n
                break
        if not found:
            i += 1
    # a list item must cite a candidate: an item naming none (an invented name the patterns above
    # cannot see, or filler such as "1. Relevance: ...") is itself an unsupported mention
    offset = 0
    for line in text.splitlines(keepends=True):
        item = _LIST_ITEM.match(line)
        start, end = offset, offset + len(line.rstrip("\n"))
        offset += len(line)
        if not item or not line[item.end() :].strip():
            continue
        inside = [m for m in mentions if start <= m.start < end]
        if not any(m.candidate_id for m in inside) and all(m.supported for m in inside):
            body = _clean(re.split(r"[:(]", line[item.end() :], maxsplit=1)[0])[:80]
            mentions.append(Mention("song", start + item.end(), end, None, body or line.strip(), False, None, False))
    mentions.sort(key=lambda m: m.start)
    return mentions


def _units(text: str) -> list[tuple[int, int]]:
    """Spans of list items (whole lines) and sentences (elsewhere)."""
    spans: list[tuple[int, int]] = []
    offset = 0
    for line in text.splitlines(keepends=True):
        if _LIST_ITEM.match(line) or len(line.strip()) == 0:
            spans.append((offset, offset + len(line)))
        else:
            pos = 0
            for m in re.finditer(r"(?<=[.!?])\s+(?=\S)", line):
                spans.append((offset + pos, offset + m.end()))
                pos = m.end()
            spans.append((offset + pos, offset + len(line)))
        offset += len(line)
    return spans


def _renumber(text: str) -> str:
    out, n = [], 0
    for line in text.splitlines():
        m = re.match(r"^(\s*)\d+([.)])\s+", line)
        if m:
            n += 1
            line = f"{m.group(1)}{n}{m.group(2)} " + line[m.end() :]
        out.append(line)
    return "\n".join(out).strip()


def ground(
    text: str,
    candidates: Sequence[Result],
    catalog: Catalog | None = None,
    allowed_artists: Iterable[str] = (),
    protected: Iterable[str] = (),
) -> GroundingReport:
    """Check ``text`` against ``candidates`` and remove what they do not support.

    Returns a :class:`GroundingReport` whose ``text`` names only supported songs and artists and
    whose ``cited_ids`` lists the candidates it names.
    """
    allowed_artists, protected = list(allowed_artists), list(protected)
    mentions = find_mentions(text, candidates, catalog, allowed_artists, protected)
    bad = [m for m in mentions if not m.supported]
    removed: list[str] = []
    repaired = text
    if bad:
        keep = []
        for s, e in _units(text):
            if any(m.start < e and s < m.end for m in bad):
                removed.append(text[s:e].strip())
            else:
                keep.append(text[s:e])
        repaired = _renumber("".join(keep))
        for m in bad:
            log.info("grounding removed unsupported %s mention %r", m.kind, m.label())
    final = find_mentions(repaired, candidates, catalog, allowed_artists, protected) if bad else mentions
    if any(not m.supported for m in final):  # should not happen; be safe and drop them too
        return ground(repaired, candidates, catalog, allowed_artists, protected)
    cited = list(dict.fromkeys(m.candidate_id for m in final if m.candidate_id))
    return GroundingReport(text=repaired, original=text, mentions=mentions, cited_ids=cited, removed=removed)


def evidence_artists(candidates: Sequence[Result], request: str = "", catalog: Catalog | None = None) -> list[str]:
    """Artist names the evidence supports besides the candidates': path nodes that are artists,
    and catalog artists named in the request."""
    names: list[str] = []
    for res in candidates:
        for path in res.paths:
            for ref, name in zip(path.nodes, path.names, strict=False):
                if ref.label == "Artist":
                    names.append(name)
    if request and catalog is not None:
        toks = _tokens(request)
        for i in range(len(toks)):
            for n in range(min(MAX_NGRAM, len(toks) - i), 0, -1):
                key = tuple(t.norm for t in toks[i : i + n])
                if key in catalog.artists:
                    names.append(request[toks[i].start : toks[i + n - 1].end])
                    break
    return list(dict.fromkeys(names))
