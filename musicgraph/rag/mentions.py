"""Mention finding: the songs and artists an answer names, resolved against the retrieved evidence.

1. **Mentions** are extracted from the answer text: ``Artist - Title`` lines, ``"Title" by Artist``,
   quoted titles, and catalog names found by n-gram lookup in a :class:`NameIndex` (artist names and
   aliases, multi-word song titles; folded by :func:`musicgraph.normalize.fold`, fuzzy comparison with
   :mod:`difflib`). A numbered or bulleted list item that cites no candidate counts as one unsupported
   mention (this catches invented names in any format). Names the catalog does not know are caught by
   their *shape*: ``Title by Artist`` without quotes, and Title Case spans in running prose ("you could
   also try Lunar Static") that are neither evidence names nor ordinary words (:data:`COMMON_WORDS`, the
   request's words, mood and genre words, catalog tags); a single capitalised word counts only after a
   naming cue (``like``, ``by``, ``try``...) or before ``'s``.
2. Each mention is **resolved** against the candidates: a song is supported when it matches a
   candidate (artist and title both similar, or the title alone when no artist is named); an artist
   is supported when it is a candidate's artist or named in the evidence (:func:`evidence_artists`: a
   seed on a path, or the request). Everything else is unsupported, whether or not the catalog knows it.

Repair (removing what is unsupported) is :func:`musicgraph.rag.grounding.ground`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from musicgraph.graph.results import Result
from musicgraph.normalize import drop_article, fold
from musicgraph.normalize import similarity as similar

if TYPE_CHECKING:
    from musicgraph.graph.store import GraphStore

__all__ = [
    "COMMON_WORDS",
    "LIST_ITEM",
    "Mention",
    "NameEntry",
    "NameIndex",
    "evidence_artists",
    "find_mentions",
    "norm_artist",
    "norm_title",
    "similar",
]

log = logging.getLogger(__name__)

MAX_NGRAM = 8
SONG_MATCH = 0.85
ARTIST_MATCH = 0.88

#: a word (apostrophes of any kind inside it, as :func:`fold` removes them) or an ``&``/``+`` (read "and"):
#: the folded words of a name's tokens are the words of the name's fold, so look-ups agree with the catalog.
_TOKEN = re.compile(r"(?:[^\W_]|['’`])+|[&+]")
_PAREN = re.compile(r"\s*[(\[][^)\]]*[)\]]")
_SUFFIX = re.compile(r"\s+-\s+(?:\d{4}\s+)?(?:remaster|live|radio edit|single|mono|stereo|version).*$", re.I)
_AND_SIGNS = ("&", "+")
LIST_ITEM = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s+")
_SEP = re.compile(r"\s+[-–—]\s+")

#: Words that are often capitalised in an answer without naming a song or artist: sentence starters,
#: function words, music, mood and audio-feature vocabulary, times and places of listening. A Title
#: Case span made only of these (or of the request's words, or mood/genre words) is not a name.
COMMON_WORDS = frozenset(
    """
    a about above after again all also although always am an and another any anything are around as at
    away back be because been before being best better between both but by can could did do does done
    don't down during each either else enjoy enjoyed enough especially even ever every everything feel
    feeling feels few find first for from get gets give go goes going good great had has have here
    hope how however i i'd i'll i'm i've if in include includes including instead into is it it's its
    just keep kind last least less let like likely listen listening look love made make many may maybe
    me might more most much must my need never new next no nor not nothing now of off often on once one
    only or other others our out over own perfect perhaps pick picked picks play played playing please
    plus pretty quite rather really recommend recommendation recommendations recommended request
    requested right same second see seem seems set she should similar simply since so some something
    sometimes song songs still such suggest suggested sure take than thank thanks that that's the their
    them then there these they thing things think third this those though through to together too
    top try trying under up us use used very want was we well were what when where whether which while
    who whom whose why will with within without would yes yet you you'll you're your yours
    album albums artist artists band bands beat beats bpm chorus classic collection cover edit ep fans
    favorite favourite genre genres hit hits instrumental intro key lyric lyrics major minor mix mood
    moods music playlist playlists radio record records remix single singles singer sound sounding
    sounds soundtrack style tempo title titles track tracks tune tunes verse version vibe vibes vocal
    vocals voice artist's song's
    acoustic aggressive angry beautiful bittersweet bright calm calming chill chilled cheerful cozy
    dance danceable dancing dark deep dreamy driving emotional energetic energy euphoric fast gentle
    gloomy groovy happy heavy high hopeful intense joyful laid lively loud low medium mellow
    melancholic melancholy melodic moody nostalgic peaceful powerful quiet relaxed relaxing romantic
    sad sentimental serene slow smooth soft somber soothing strong sweet tender uplifting upbeat warm
    happiness sadness joy love peace calmness anger rage heartbreak nostalgia fun hope
    morning afternoon evening night nights tonight today day days weekend monday tuesday wednesday
    thursday friday saturday sunday spring summer autumn fall winter christmas rain rainy sunny
    party workout gym study studying sleep sleeping drive road trip focus work home
    written performed produced sung recorded released composed covered remixed inspired featured
    english spotify youtube lastfm moodylyrics mpd billboard here's there's let's
    first second third fourth fifth one two three four five six seven eight nine ten
    """.split()
)
#: Lower-case words allowed inside a Title Case name ("Rain on Glass", "Hounds of Love").
_CONNECTORS = frozenset("of the a an in on to for at my your me it is de la le el los las du n o".split())
#: Words after which a single capitalised word is read as a name ("like Zorblatt", "try Zorblatt").
_NAME_CUES = frozenset(
    "like by try from and or hear artist artists band bands singer singers group rapper duo featuring feat "
    "ft including such as vs with".split()
)
#: Leading words trimmed off a span at a sentence start ("Try Lunar Static" names "Lunar Static").
_FILLERS = frozenset(
    "try also listen check play maybe consider hear add then and or but so if you i we here this these that "
    "those it for with like from another next finally lastly plus queue put start end".split()
)


def norm_artist(name: str) -> str:
    """Folded artist name without a leading ``the``."""
    return drop_article(fold(name))


def norm_title(title: str) -> str:
    """Folded title without parentheticals (feat., remaster) and version suffixes."""
    return fold(_SUFFIX.sub("", _PAREN.sub("", title))) or fold(title)


@dataclass(slots=True)
class NameEntry:
    """A nameable catalog item (song or artist) with its normalized names."""

    kind: str
    id: str
    display: str
    artist: str | None = None


@dataclass(slots=True)
class NameIndex:
    """Name index of the catalog: normalized token tuples → entries (artists by name and alias,
    songs by title and alias)."""

    artists: dict[tuple[str, ...], list[NameEntry]] = field(default_factory=dict)
    titles: dict[tuple[str, ...], list[NameEntry]] = field(default_factory=dict)
    #: folded mood, genre and tag names (a Title Case span equal to one is not a song or artist)
    terms: set[str] = field(default_factory=set)
    #: the words of mood and genre names (ordinary words when capitalised: "Indie Rock Vibes")
    term_words: set[str] = field(default_factory=set)

    def add_terms(self, names: Iterable[str], words: bool = False) -> None:
        """Register mood/genre/tag names; with ``words`` their single words become ordinary too."""
        for name in names:
            folded = fold(name)
            if folded:
                self.terms.add(folded)
                if words:
                    self.term_words.update(folded.split())

    def add_artist(self, key: str, name: str, aliases: Iterable[str] = ()) -> None:
        """Index artist ``key`` under ``name`` and ``aliases`` (case- and accent-folded; a leading ``the`` optional)."""
        entry = NameEntry("artist", key, name)
        for alias in {name, *aliases}:
            toks = tuple(fold(alias).split())
            if toks and entry not in self.artists.setdefault(toks, []):
                self.artists[toks].append(entry)
                if toks[0] == "the" and len(toks) > 1:
                    self.artists.setdefault(toks[1:], []).append(entry)

    def add_song(self, key: str, title: str, artist: str | None, aliases: Iterable[str] = ()) -> None:
        """Index song ``key`` under its ``title`` and ``aliases`` (folded, and without bracketed suffixes)."""
        entry = NameEntry("song", key, title, artist)
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

    def find_artist(self, name: str) -> list[NameEntry]:
        """The artists named exactly ``name`` (after folding); empty when none."""
        return self.artists.get(tuple(fold(name).split()), [])

    def find_title(self, title: str) -> list[NameEntry]:
        """The songs titled ``title`` (normalized title first, then the folded text); empty when none."""
        return self.titles.get(tuple(norm_title(title).split()), []) or self.titles.get(
            tuple(fold(title).split()), []
        )

    @classmethod
    def from_results(cls, results: Iterable[Result]) -> NameIndex:
        """An index of the songs and artists of retrieved ``results``."""
        cat = cls()
        cat.add_results(results)
        return cat

    @classmethod
    def from_store(cls, store: GraphStore) -> NameIndex:
        """Index every Artist and Song of ``store`` (cached per store and version)."""
        key = (repr(store), store.version())
        if key in _NAME_INDEXES:
            return _NAME_INDEXES[key]
        cat = cls()
        for node in store.iter_nodes("Artist"):
            cat.add_artist(node.key, node.name, [str(a) for a in node.props.get("aliases") or []])
        for node in store.iter_nodes("Song"):
            cat.add_song(
                node.key, node.name, node.props.get("artist"), [str(a) for a in node.props.get("aliases") or []]
            )
        cat.add_terms((n.name for label in ("Mood", "Genre") for n in store.iter_nodes(label)), words=True)
        cat.add_terms(n.name for n in store.iter_nodes("Tag"))
        log.info("catalog index: %d artist names, %d song titles, %d terms", len(cat.artists), len(cat.titles),
                 len(cat.terms))
        _NAME_INDEXES.clear()
        _NAME_INDEXES[key] = cat
        return cat


_NAME_INDEXES: dict[tuple[str, str], NameIndex] = {}


@dataclass(slots=True)
class Mention:
    """A song or artist named in an answer, with where it is and what it resolved to.

    Attributes:
        kind: ``"song"``, ``"artist"``, or ``"name"`` (a name-shaped span the catalog does not know,
            which could be either).
        start, end: character span in the text.
        artist, title: the names as written (title is None for artist mentions).
        supported: it matches a candidate (songs) or an evidence artist (artists).
        candidate_id: the cited candidate's id, when supported by one.
        in_catalog: the catalog knows the name (for reporting hallucinations vs. unretrieved items).
        source: the pattern that found it (``dash``, ``quoted-by``, ``by``, ``quoted``, ``catalog``,
            ``prose``; ``list-item`` for an item naming nothing known, ``list-item-uncited`` for an
            item naming only evidence artists or other non-candidates).
    """

    kind: str
    start: int
    end: int
    artist: str | None
    title: str | None
    supported: bool = False
    candidate_id: str | None = None
    in_catalog: bool = False
    source: str = ""

    def label(self) -> str:
        if self.kind == "song":
            return f"{self.artist} - {self.title}" if self.artist else f'"{self.title}"'
        return str(self.artist)


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
    if not before or before[-1] in ".!?:\n":
        return True
    prefix = text[text.rfind("\n", 0, pos) + 1 : pos]
    item = LIST_ITEM.match(prefix)  # right after a list marker ("1. ", "- **")
    return bool(item) and not prefix[item.end() :].strip(" \t\"'“‘*[(")


def _clean(part: str) -> str:
    part = re.sub(r"\[\d+\]", "", part)
    return part.strip(" \t\"'“”‘’*_.,;:!?")


class _Resolver:
    def __init__(self, candidates: Sequence[Result], allowed_artists: Iterable[str], catalog: NameIndex):
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


_COMMON_FOLDED = frozenset(fold(w) for w in COMMON_WORDS)
_POSSESSIVE = re.compile(r"['’]s$", re.I)


def _is_cap(tok: _Tok) -> bool:
    head = tok.text.strip("'")[:1]
    return head.isupper()


def _joined(text: str, a: _Tok, b: _Tok) -> bool:
    """Whether two tokens belong to one name: only spaces between them (or one ``-``/``.``)."""
    gap = text[a.end : b.start]
    return (bool(gap) and not gap.strip() and "\n" not in gap) or gap in ("-", ".", "")


def _caps_runs(text: str, toks: Sequence[_Tok]) -> list[tuple[int, int]]:
    """Token ranges ``[i, j)`` of Title Case spans: capitalised tokens joined by spaces, with lower-case
    connectors (``of``, ``the``, ``on``, ``&``...) allowed inside but not at either end."""
    runs: list[tuple[int, int]] = []
    i, n = 0, len(toks)
    while i < n:
        if not _is_cap(toks[i]):
            i += 1
            continue
        j, last = i + 1, i + 1
        while j < n and _joined(text, toks[j - 1], toks[j]):
            if _is_cap(toks[j]):
                last = j + 1
            elif toks[j].norm not in _CONNECTORS and toks[j].text not in _AND_SIGNS:
                break
            j += 1
        runs.append((i, last))
        i = last
    return runs


def _leading_name_words(words: Sequence[str]) -> int:
    """How many leading words form a Title Case name (connectors inside allowed), 1 to 6."""
    n = last = 0
    for w in words[:6]:
        if w[:1].isupper() or w[:1].isdigit():
            n += 1
            last = n
        elif w.lower() in _CONNECTORS or w in _AND_SIGNS:
            n += 1
        else:
            break
    return max(1, last)


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
    catalog: NameIndex | None = None,
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
    cat = catalog if catalog is not None else NameIndex.from_results(candidates)
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

    # ordinary words: never a name on their own (the request's words, mood and genre words, common words)
    vocab = _COMMON_FOLDED | cat.term_words | {w for p in protected for w in fold(p).split()}
    offset = 0
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\n")
        item = LIST_ITEM.match(body)
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
            add(Mention("song", a_start, t_end, artist, title, ok, cid, in_cat, "dash"))
            if item:
                break
        # "Title" by Artist / Title by Artist
        for m in re.finditer(r"[\"“]([^\"”\n]{1,80})[\"”]\s+by\s+([^,.;:()\n]+)", body):
            artist = _clean(m.group(2))
            words = artist.split()
            n = next(
                (n for n in range(min(len(words), 6), 0, -1) if res.artist(" ".join(words[:n]))[0]
                 or cat.find_artist(" ".join(words[:n]))),
                _leading_name_words(words),
            )
            artist = " ".join(words[:n])
            ok, cid, in_cat = res.song(artist, m.group(1))
            add(Mention("song", offset + m.start(), offset + m.end(), artist, _clean(m.group(1)), ok, cid, in_cat, "quoted-by"))
        # Title by Artist, unquoted (only Title Case spans on both sides)
        for title, artist, start, end in _by_pairs(body, vocab):
            ok, cid, in_cat = res.song(artist, title)
            add(Mention("song", offset + start, offset + end, artist, title, ok, cid, in_cat, "by"))
        # a quoted title alone
        for m in re.finditer(r"[\"“]([^\"”\n]{1,80})[\"”]", body):
            title = _clean(m.group(1))
            if not title or title.lower() == "" or len(title.split()) > 12:
                continue
            ok, cid, in_cat = res.song(None, title)
            if not ok and not in_cat and not title[:1].isupper():
                continue  # quoted lower-case words are not titles
            add(Mention("song", offset + m.start(1), offset + m.end(1), None, title, ok, cid, in_cat, "quoted"))
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
                add(Mention("song", start, end, None, written, ok, cid, in_cat, "catalog"))
                found = True
            elif (
                key in cat.artists
                and key not in cand_titles  # a candidate's one-word title ("Om") is not a new artist
                and capitalised
                and (n > 1 or not (_sentence_start(text, start) or key[0] in vocab or key[0] in cat.terms))
            ):  # a one-word artist that is also an ordinary or genre word ("Electronic") needs more
                ok, cid, in_cat = res.artist(written)
                add(Mention("artist", start, end, written, None, ok, cid, True, "catalog"))
                found = True
            elif n > 1 and key in cat.titles and capitalised:
                ok, cid, in_cat = res.song(None, written)
                add(Mention("song", start, end, None, written, ok, cid, True, "catalog"))
                found = True
            if found:
                i += n
                break
        if not found:
            i += 1
    # names the catalog does not know, by their shape: Title Case spans in prose
    evidence_names = [" " + norm_artist(n) + " " for n in names | set(allowed_artists) | res.allowed if n]
    evidence_names += [" " + fold(n) + " " for n in names if n]
    for m in _prose_names(text, toks, taken, vocab, cat, res, evidence_names):
        add(m)
    # a list item must cite a candidate: an item naming none (an invented name the patterns above
    # cannot see, or filler such as "1. Relevance: ...") is itself an unsupported mention
    offset = 0
    for line in text.splitlines(keepends=True):
        item = LIST_ITEM.match(line)
        start, end = offset, offset + len(line.rstrip("\n"))
        offset += len(line)
        if not item or not line[item.end() :].strip():
            continue
        inside = [m for m in mentions if start <= m.start < end]
        if not any(m.candidate_id for m in inside) and all(m.supported for m in inside):
            body = _clean(re.split(r"[:(]", line[item.end() :].rstrip("\n"), maxsplit=1)[0])[:80]
            source = "list-item-uncited" if inside else "list-item"
            name = body.strip("[]()<> ")
            known = bool(name) and bool(cat.find_artist(name) or cat.find_title(name))
            mentions.append(Mention("song", start + item.end(), end, None, body or line.strip(), False, None, known,
                                    source))  # fmt: skip
    mentions.sort(key=lambda m: m.start)
    return mentions


def _by_pairs(body: str, vocab: set[str] | frozenset[str]) -> list[tuple[str, str, int, int]]:
    """``Title by Artist`` pairs in one line, both sides Title Case spans: (title, artist, start, end).

    A leading filler at a sentence start is not part of the title ("Try Moon Custard by ..."), and a
    title made only of ordinary words ("Songs by Radiohead", "Written by ...") is not a song.
    """
    toks = _tokens(body)
    runs = _caps_runs(body, toks)
    ending = {j: i for i, j in runs}
    starting = {i: j for i, j in runs}
    out = []
    for b, tok in enumerate(toks):
        if tok.text != "by" or b == 0 or b + 1 >= len(toks) or b not in ending or b + 1 not in starting:
            continue
        if not (_joined(body, toks[b - 1], tok) and _joined(body, tok, toks[b + 1])):
            continue
        i, j = ending[b], starting[b + 1]
        if _sentence_start(body, toks[i].start):
            while i < b - 1 and toks[i].norm in _FILLERS:
                i += 1
        j = min(j, b + 1 + 6)
        while j > b + 1 and not _is_cap(toks[j - 1]):
            j -= 1
        words = [t.norm for t in toks[i:b]]
        if all(w in vocab or w in _CONNECTORS for w in words):
            continue
        title = body[toks[i].start : toks[b - 1].end]
        artist = _POSSESSIVE.sub("", body[toks[b + 1].start : toks[j - 1].end])
        out.append((title, artist, toks[i].start, toks[j - 1].end))
    return out


def _prose_names(
    text: str,
    toks: Sequence[_Tok],
    taken: Sequence[tuple[int, int]],
    vocab: set[str] | frozenset[str],
    cat: NameIndex,
    res: _Resolver,
    evidence_names: Sequence[str],
) -> list[Mention]:
    """Title Case spans not yet resolved that look like a song or artist name.

    A span of two or more words counts unless all its words are ordinary (``vocab``), it is a
    mood/genre/tag name, or it is (part of) a name the evidence carries; a single word counts only
    after a naming cue (``like``, ``by``, ``try``, ``and``...) or before ``'s``, never at a sentence
    start. Spans that resolve to a candidate or an evidence artist come back supported.
    """
    out: list[Mention] = []

    def covered(t: _Tok) -> bool:
        return any(s <= t.start and t.end <= e for s, e in taken)

    pieces: list[tuple[int, int]] = []
    for i, j in _caps_runs(text, toks):
        k = i
        while k < j:
            if covered(toks[k]):
                k += 1
                continue
            m = k
            while m < j and not covered(toks[m]):
                m += 1
            pieces.append((k, m))
            k = m
    for a, b in pieces:
        while a < b and not _is_cap(toks[a]):
            a += 1
        while b > a and not _is_cap(toks[b - 1]):
            b -= 1
        if a >= b:
            continue
        first = a
        if _sentence_start(text, toks[a].start):  # "Fans of Zorblatt's ..." names "Zorblatt"
            while a < b - 1 and (toks[a].norm in _FILLERS or toks[a].norm in vocab or not _is_cap(toks[a])):
                a += 1
        written = _POSSESSIVE.sub("", text[toks[a].start : toks[b - 1].end])
        words = fold(written).split()
        if not words or all(w in vocab or w in _CONNECTORS or w.isdigit() for w in words):
            continue
        folded = " ".join(words)
        if folded in cat.terms:
            continue
        prev = toks[a - 1].norm if a > 0 else ""
        if b - a == 1:
            possessive = bool(_POSSESSIVE.search(toks[a].text))
            if (a == first and _sentence_start(text, toks[a].start)) or not (prev in _NAME_CUES or possessive):
                continue
        core = list(words)  # without ordinary words at either end: "Moods of Betty" → "Betty"
        while len(core) > 1 and (core[0] in vocab or core[0] in _CONNECTORS):
            core.pop(0)
        while len(core) > 1 and (core[-1] in vocab or core[-1] in _CONNECTORS):
            core.pop()
        keys = {" " + (f[4:] if f.startswith("the ") else f) + " " for f in (folded, " ".join(core))}
        if any(key in name for key in keys for name in evidence_names):
            continue  # (part of) a name the evidence carries
        start, end = toks[a].start, toks[a].start + len(written)
        ok_a, cid_a, _ = res.artist(written)
        ok_s, cid_s, _ = res.song(None, written)
        in_cat = bool(cat.find_artist(written) or cat.find_title(written))
        if ok_s or ok_a:
            kind = "song" if ok_s else "artist"
            out.append(Mention(kind, start, end, written if kind == "artist" else None,
                               written if kind == "song" else None, True, cid_s or cid_a, in_cat, "prose"))  # fmt: skip
            continue
        kind = "artist" if prev in {"by", "like", "from", "artist", "band", "singer", "group"} else "name"
        out.append(Mention(kind, start, end, written, None, False, None, in_cat, "prose"))
    return out


def evidence_artists(candidates: Sequence[Result], request: str = "", catalog: NameIndex | None = None) -> list[str]:
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
