"""An independent grounding judge: is every song an answer recommends real, retrieved and described truly?

It is written separately from the repair detector of :mod:`musicgraph.rag.grounding` and works
differently, so that "hallucination after grounding" is not graded by the detector that did the
repair:

* **Where names are.** Instead of recognising names by their shape (Title Case, quotes), the judge
  reads the *reference slots* of an answer: the object of a recommendation verb ("try …", "check out
  …", "put on …"), the head of a list item (before ``:``/``—``), the subject of a recommending
  sentence ("… is perfect for …", "… fits …"), both sides of ``by`` and of ``Artist - Title``, and
  quoted text. A slot must resolve to something; lower-case and ordinary-word names are caught
  because of *where* they stand, not how they look. In addition every word n-gram is looked up in
  the whole catalog, so a real song named anywhere is found.
* **Against what.** Every slot is matched, exactly and fuzzily (character-trigram candidates, then
  :func:`difflib.SequenceMatcher`), against the **whole catalog** (31k titles, 27k artists), not
  only the candidates, so the verdict says *which* error it is: a name the catalog does not know
  (invented), a real song credited to the wrong artist, a real song that was not retrieved, an
  artist outside the evidence.
* **Facts.** Each line or sentence that cites exactly one song is checked against the *stored*
  facts of that song (the store, not the evidence text): years and decades, mood words (mood labels,
  or valence/energy when unlabelled), audio-feature words (energy, acoustic, danceable,
  instrumental, key, BPM), genres, tags, and "fans of X" claims (the two artists share HetRec
  listeners). A claim that contradicts the store is an error; one the store cannot decide is
  counted as unverified, not as an error.

:func:`judge` returns a :class:`Verdict`; ``Verdict.hallucinated`` is true when any reference or
fact error was found. ``Verdict.true_citations`` are the evidence songs the answer names correctly
(right title, right artist), used to count the true citations a repair step removed.
"""

from __future__ import annotations

import html
import logging
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from musicgraph.normalize import similarity

if TYPE_CHECKING:
    from musicgraph.graph.results import Result
    from musicgraph.graph.store import GraphStore

log = logging.getLogger(__name__)

#: similarity (0..1) above which two folded names are the same name
NAME_MATCH = 0.88

# ---------------------------------------------------------------------------------- text helpers
_APOS = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-"})


def norm(text: str) -> str:
    """Fold a name for comparison: accents, case, ``&``→``and``, punctuation and a leading "the"
    removed, a bracketed or " - Remastered"-style suffix dropped."""
    text = unicodedata.normalize("NFKD", html.unescape(text).translate(_APOS))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = re.sub(r"\s*[(\[][^)\]]*[)\]]", "", text)
    text = re.sub(r"\s+-\s+.*(remaster|version|edit|mix|mono|stereo|live).*$", "", text)
    text = text.replace("&", " and ")
    text = re.sub(r"[^\w\s']", " ", text).replace("'", "")
    words = text.split()
    if words and words[0] == "the" and len(words) > 1:
        words = words[1:]
    return " ".join(words)


def _trigrams(text: str) -> set[str]:
    t = f"  {text} "
    return {t[i : i + 3] for i in range(len(t) - 2)}


def title_match(said: str, title: str) -> float:
    """Similarity of a title as written and a stored title, also without a " - Acoustic"-style
    suffix or bracket on either side."""
    a, b = norm(said), norm(title)
    best = similarity(a, b)
    for x, y in ((a, norm(re.split(r"\s+-\s+", title)[0])), (norm(re.split(r"\s+-\s+", said)[0]), b)):
        if x and y:
            best = max(best, similarity(x, y))
    return best


# ---------------------------------------------------------------------------------- the facts
@dataclass(slots=True)
class SongFacts:
    """What the store says about one song."""

    key: str
    title: str
    artist: str
    artist_key: str
    year: int | None = None
    moods: set[str] = field(default_factory=set)
    genres: set[str] = field(default_factory=set)
    features: dict[str, float] = field(default_factory=dict)


class NameIndex:
    """Exact and fuzzy look-up of folded names (character-trigram candidates, then difflib)."""

    def __init__(self) -> None:
        self.exact: dict[str, list[str]] = defaultdict(list)
        self._grams: dict[str, list[int]] = defaultdict(list)
        self._names: list[str] = []

    def add(self, name: str, key: str) -> None:
        folded = norm(name)
        if not folded:
            return
        if key not in self.exact[folded]:
            if not self.exact[folded]:
                idx = len(self._names)
                self._names.append(folded)
                for g in _trigrams(folded):
                    self._grams[g].append(idx)
            self.exact[folded].append(key)

    def find(self, name: str, threshold: float = NAME_MATCH, limit: int = 8) -> list[tuple[float, str]]:
        """``(similarity, key)`` of the names matching ``name``, best first (exact matches 1.0)."""
        folded = norm(name)
        if not folded:
            return []
        if folded in self.exact:
            return [(1.0, k) for k in self.exact[folded]]
        grams = _trigrams(folded)
        counts: Counter[int] = Counter()
        for g in grams:
            ids = self._grams.get(g)
            if ids is not None and len(ids) < 4000:  # very common trigrams say nothing
                counts.update(ids)
        out = []
        for idx, shared in counts.most_common(40):
            if shared < 0.5 * len(grams):
                break
            cand = self._names[idx]
            s = similarity(folded, cand)
            if s >= threshold:
                out += [(s, k) for k in self.exact[cand]]
        out.sort(key=lambda x: -x[0])
        return out[:limit]


class JudgeCatalog:
    """The whole catalog as the judge sees it: songs with their stored facts, artists, listeners,
    and the vocabularies of moods, genres and tags."""

    def __init__(self) -> None:
        self.songs: dict[str, SongFacts] = {}
        self.titles = NameIndex()
        self.artists = NameIndex()
        self.artist_names: dict[str, str] = {}
        self.artist_genres: dict[str, set[str]] = defaultdict(set)
        self.artist_tags: dict[str, set[str]] = defaultdict(set)
        self.listeners: dict[str, set[str]] = defaultdict(set)
        self.moods: set[str] = set()
        self.genres: set[str] = set()
        self.tags: set[str] = set()

    def add_artist(self, key: str, name: str, aliases: Iterable[str] = ()) -> None:
        """Register artist ``key`` under its ``name`` and ``aliases`` (fuzzy-matched by the judge)."""
        self.artist_names[key] = name
        for n in {name, *aliases}:
            self.artists.add(n, key)

    def add_song(self, facts: SongFacts, aliases: Iterable[str] = ()) -> None:
        """Register a song's facts, found by their title (``aliases`` are not indexed)."""
        self.songs[facts.key] = facts
        self.titles.add(facts.title, facts.key)

    @classmethod
    def from_store(cls, store: GraphStore) -> JudgeCatalog:
        """Read every song, artist, mood/genre/tag edge and listening edge of ``store``."""
        cat = cls()
        for n in store.iter_nodes("Artist"):
            cat.add_artist(n.key, str(n.props.get("name") or n.name), [str(a) for a in n.props.get("aliases") or []])
        main: dict[str, str] = {}
        for e in store.iter_edges("PERFORMED_BY"):
            if e.props.get("role") in (None, "main") and e.src.key not in main:
                main[e.src.key] = e.dst.key
        names = {label: {n.key: n.name for n in store.iter_nodes(label)} for label in ("Mood", "Genre", "Tag")}
        cat.moods = {v.lower() for v in names["Mood"].values()}
        cat.genres = {norm(v) for v in names["Genre"].values()}
        cat.tags = {norm(v) for v in names["Tag"].values()}
        song_moods: dict[str, set[str]] = defaultdict(set)
        for e in store.iter_edges("HAS_MOOD"):
            if e.src.label == "Song":
                song_moods[e.src.key].add(names["Mood"].get(e.dst.key, e.dst.key).lower())
        song_genres: dict[str, set[str]] = defaultdict(set)
        for e in store.iter_edges("HAS_GENRE"):
            g = norm(names["Genre"].get(e.dst.key, e.dst.key))
            if e.src.label == "Song":
                song_genres[e.src.key].add(g)
            else:
                cat.artist_genres[e.src.key].add(g)
        for e in store.iter_edges("TAGGED"):
            if e.src.label == "Artist":
                cat.artist_tags[e.src.key].add(norm(names["Tag"].get(e.dst.key, e.dst.key)))
        for e in store.iter_edges("LISTENED_TO"):
            cat.listeners[e.dst.key].add(e.src.key)
        feats = ("energy", "valence", "danceability", "acousticness", "instrumentalness", "tempo", "mode")
        for n in store.iter_nodes("Song"):
            p = n.props
            artist_key = main.get(n.key, n.key.split("|", 1)[0])
            year = p.get("year")
            cat.add_song(SongFacts(
                key=n.key, title=str(p.get("title") or n.name), artist=str(p.get("artist") or ""),
                artist_key=artist_key,
                year=int(year) if isinstance(year, (int, float)) and not isinstance(year, bool) else None,
                moods=song_moods.get(n.key, set()), genres=song_genres.get(n.key, set()),
                features={f: float(p[f]) for f in feats if isinstance(p.get(f), (int, float)) and not isinstance(p.get(f), bool)},
            ))  # fmt: skip
        return cat

    def song_artist_ok(self, song: SongFacts, artist: str) -> bool:
        """Whether ``artist`` names the song's artist (main credit, or one of a "A & B" credit)."""
        a = norm(artist)
        if not a:
            return False
        if similarity(a, norm(song.artist)) >= NAME_MATCH:
            return True
        keys = {k for _, k in self.artists.find(artist)}
        if song.artist_key in keys:
            return True
        parts = [norm(x) for x in re.split(r"\s*(?:&|,| and | feat\.? | ft\.? | with )\s*", song.artist) if x.strip()]
        return any(similarity(a, p) >= NAME_MATCH for p in parts)


# ---------------------------------------------------------------------------------- findings
#: reference errors
INVENTED_SONG = "invented-song"
INVENTED_ARTIST = "invented-artist"
WRONG_ARTIST = "wrong-artist"
NOT_RETRIEVED = "not-retrieved"
ARTIST_NOT_IN_EVIDENCE = "artist-not-in-evidence"
UNRESOLVED = "unresolved-reference"
WRONG_POINTER = "wrong-pointer"
#: fact errors
WRONG_YEAR = "wrong-year"
WRONG_MOOD = "wrong-mood"
WRONG_FEATURE = "wrong-feature"
WRONG_GENRE = "wrong-genre"
WRONG_LINK = "wrong-link"
REFERENCE_ERRORS = frozenset({INVENTED_SONG, INVENTED_ARTIST, WRONG_ARTIST, NOT_RETRIEVED, ARTIST_NOT_IN_EVIDENCE,
                              UNRESOLVED, WRONG_POINTER})  # fmt: skip
FACT_ERRORS = frozenset({WRONG_YEAR, WRONG_MOOD, WRONG_FEATURE, WRONG_GENRE, WRONG_LINK})


@dataclass(slots=True)
class Finding:
    """One error: its kind, the text that carries it and a detail."""

    kind: str
    span: str
    detail: str = ""


@dataclass(slots=True)
class Verdict:
    """The judge's reading of one answer."""

    findings: list[Finding] = field(default_factory=list)
    true_citations: list[str] = field(default_factory=list)
    checked_facts: int = 0
    true_facts: int = 0
    unverified_facts: int = 0

    @property
    def hallucinated(self) -> bool:
        """Whether the judge found any error."""
        return bool(self.findings)

    @property
    def reference_errors(self) -> list[Finding]:
        """Errors of what is named: an invented song or artist, a wrong artist, a song not retrieved, an
        artist not in the evidence, an unresolved reference, a wrong pointer."""
        return [f for f in self.findings if f.kind in REFERENCE_ERRORS]

    @property
    def fact_errors(self) -> list[Finding]:
        """Errors of what is said about a named song: its year, mood, audio features, genre or graph link."""
        return [f for f in self.findings if f.kind in FACT_ERRORS]

    def kinds(self) -> set[str]:
        """The kinds of error found."""
        return {f.kind for f in self.findings}


# ---------------------------------------------------------------------------------- vocabularies
#: words that open a slot naming what to listen to
CUES = ("try", "check out", "listen to", "put on", "play", "queue", "queue up", "add", "go with", "start with",
        "how about", "consider", "don't miss", "dont miss", "recommend", "i recommend", "i suggest", "suggest",
        "i'd suggest", "you could try", "there's", "there is", "spin", "give", "enjoy", "pick", "also", "then")  # fmt: skip
#: verbs after the subject of a recommending sentence
PREDICATES = ("is", "are", "was", "has", "fits", "suits", "brings", "offers", "carries", "sounds", "feels",
              "captures", "delivers", "works", "makes", "sets", "keeps", "would", "will", "should", "could",
              "might", "can", "comes", "stays", "adds", "matches", "gives", "belongs", "remains")  # fmt: skip
#: words a non-name subject or object is made of (descriptions of the music, pronouns, quantities)
PLAIN_WORDS = frozenset(
    """a an the this that these those it its it's they them their one ones each every both all most many some
    any few several other another first second third fourth fifth last next pick picks song songs track tracks
    tune tunes number numbers choice choices option options selection list answer request song's track's
    mood moods energy tempo sound sounds vibe vibes feel feeling beat beats rhythm melody melodies lyrics lyric
    vocals voice key tone style genre genres title titles record records album albums sounding
    low high medium slow fast quick loud quiet soft gentle calm sad happy angry relaxed energetic chill mellow
    melancholic melancholy gloomy cheerful joyful upbeat peaceful dreamy dark bright warm cool heavy light
    acoustic danceable instrumental minor major bpm tempo valence danceability acousticness
    evening night morning afternoon day rainy sunny weekend party workout study studying sleep drive driving
    run running dinner focus reading cooking commute
    and or with for of to in on at by from as but so very more less quite rather really also too just
    you your yours i me my we us our he she him her his listeners listener fans fan people everyone
    great good nice perfect ideal lovely fine solid strong favourite favorite classic pure real true
    here there now then when while because if what which who how why where
    is are was were be been being has have had do does did can could would should will might may must
    no not none nothing something anything everything""".split()
)
MOOD_LEXICON: dict[str, str] = {
    "sad": "sad", "melancholic": "sad", "melancholy": "sad", "gloomy": "sad", "sorrowful": "sad", "heartbroken": "sad",
    "depressing": "sad", "mournful": "sad", "happy": "happy", "cheerful": "happy", "joyful": "happy",
    "joyous": "happy", "sunny": "happy", "feel-good": "happy", "calm": "calm", "peaceful": "calm", "tranquil": "calm",
    "serene": "calm", "relaxed": "relaxed", "relaxing": "relaxed", "chill": "relaxed", "mellow": "relaxed",
    "laid-back": "relaxed", "energetic": "energetic", "high-energy": "energetic", "pumped": "energetic",
    "angry": "angry", "aggressive": "angry", "furious": "angry", "rage": "angry",
}  # fmt: skip
#: moods that cannot describe the same song
OPPOSITE: dict[str, set[str]] = {
    "sad": {"happy", "energetic"}, "happy": {"sad", "angry"}, "calm": {"energetic", "angry"},
    "relaxed": {"angry", "energetic"}, "energetic": {"calm", "sad", "relaxed"}, "angry": {"calm", "relaxed", "happy"},
}  # fmt: skip

#: a graph-path sentence of the evidence ("via Daft Punk → listened to by → Last.fm user 2 → … → Song"),
#: up to the end of its line: its nodes are the graph's own, so it is not read for references or
#: facts (a user number is not a year); the song the line recommends is judged from the line's head
_PATH = re.compile(r"\bvia\s+[^\n]*?→[^\n]*?(?=\.?\s*(?:\n|$))")
_POINTER_CITE = re.compile(r'"([^"\n]+)"\s+by\s+([^\n]+?)\s*\[(\d{1,2})\](?!\s*\[\d)')
_QUOTED = re.compile(r'"([^"\n]{2,80})"|“([^”\n]{2,80})”|(?<![\w])\'([^\'\n]{3,60})\'(?![\w])')
_YEAR = re.compile(r"\b(1[89]\d\d|20[0-3]\d)\b")
_DECADE = re.compile(r"\b(?:the\s+)?(?:(19)?([5-9])0s|(20)([0-2])0s|(?:'|’)([5-9]0)s)\b", re.I)
_BPM = re.compile(r"\b(\d{2,3})\s*bpm\b", re.I)
_SENT = re.compile(r"(?<![A-Z]\.)(?<!^\d\.)(?<!^\d\d\.)(?<=[.!?])\s+(?=[A-Z\"“\[0-9])")
_LIST = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s+")
_WORD = re.compile(r"[\w'’&.-]+")


def _units(text: str) -> list[str]:
    """Lines, then sentences within them."""
    out = []
    for line in text.splitlines():
        if line.strip():
            out += [s for s in _SENT.split(line.strip()) if s.strip()]
    return out


def _words(text: str) -> list[str]:
    return [w.strip(".,;:!?'’\"") for w in _WORD.findall(text)]


def _plain(span: str, extra: set[str], names: frozenset[str] | set[str] = frozenset()) -> bool:
    """Whether ``span`` is description, not a name: every word is ordinary (:data:`PLAIN_WORDS`,
    mood words, numbers) or a word of the request or evidence (``extra``), except that the words
    left may together form a genre, tag or mood name of the catalog (``names``, folded)."""
    words = [w.lower() for w in _words(span) if w]
    if not words:
        return False
    rest = [w for w in words if not (w in PLAIN_WORDS or w in extra or w.isdigit() or w in MOOD_LEXICON)]
    return not rest or norm(" ".join(rest)) in names


# ---------------------------------------------------------------------------------- the judge
@dataclass(slots=True)
class _Evidence:
    cands: list[SongFacts]
    numbers: dict[int, SongFacts]
    ids: set[str]
    artists: set[str]  # folded names allowed as artists (candidates' artists, path nodes, request)
    names: set[str]  # folded names of everything the evidence names (for "not a reference" spans)
    words: set[str]  # words of the request and of the evidence's descriptions


class GroundingJudge:
    """Judges answers against the evidence they were written from and the whole catalog.

    Args:
        catalog: :class:`JudgeCatalog` of the store.
    """

    def __init__(self, catalog: JudgeCatalog):
        self.cat = catalog
        common_tags = Counter(t for tags in catalog.artist_tags.values() for t in tags)
        #: descriptive names: genres, moods and tags that at least 20 artists carry
        self.vocab_names = frozenset(catalog.genres | catalog.moods | {t for t, c in common_tags.items() if c >= 20})

    # ----------------------------------------------------------------------------- evidence
    def _evidence(self, candidates: Sequence[Result], request: str) -> _Evidence:
        cands, numbers = [], {}
        artists: set[str] = set()
        names: set[str] = set()
        words = {w.lower() for w in _words(request)}
        for i, r in enumerate(candidates, start=1):
            facts = self.cat.songs.get(r.id)
            if facts is None:  # a result the store does not know (tests, artists): facts from the result
                facts = SongFacts(r.id, r.title or r.name, r.artist or "", (r.artist or "").lower())
            cands.append(facts)
            numbers[i] = facts
            artists.add(norm(facts.artist))
            names.update({norm(facts.title), norm(facts.artist)})
            for p in r.paths:
                for n in p.names:
                    names.add(norm(n))
                    if not n.lower().startswith("last.fm user"):
                        artists.add(norm(n))
            for vals in (r.evidence or {}).values():
                for v in vals:
                    words.update(x.lower() for x in _words(str(v)))
        # the request's own names: any catalog artist it names is allowed
        toks = _words(request)
        for n in range(min(6, len(toks)), 0, -1):
            for i in range(len(toks) - n + 1):
                span = " ".join(toks[i : i + n])
                if norm(span) in self.cat.artists.exact:
                    artists.add(norm(span))
                    names.add(norm(span))
        return _Evidence(cands, numbers, {c.key for c in cands}, artists, names, words)

    # ----------------------------------------------------------------------------- references
    def _resolve(self, title: str | None, artist: str | None, ev: _Evidence, span: str, v: Verdict) -> SongFacts | None:
        """Resolve a (title, artist) reference; record a finding when it is not a true citation."""
        if title:
            # 1. the evidence
            best = None
            for c in ev.cands:
                s = title_match(title, c.title)
                if s >= NAME_MATCH and (best is None or s > best[0]):
                    best = (s, c)
            if best is not None:
                c = best[1]
                if artist and not self.cat.song_artist_ok(c, artist):
                    # the right title with the wrong artist, unless another candidate has both
                    if not any(title_match(title, o.title) >= NAME_MATCH and self.cat.song_artist_ok(o, artist)
                               for o in ev.cands):  # fmt: skip
                        v.findings.append(Finding(WRONG_ARTIST, span, f"{c.title!r} is by {c.artist}, not {artist}"))
                        return None
                    c = next(o for o in ev.cands if title_match(title, o.title) >= NAME_MATCH
                             and self.cat.song_artist_ok(o, artist))  # fmt: skip
                if c.key not in v.true_citations:
                    v.true_citations.append(c.key)
                return c
            # 2. the whole catalog
            hits = [self.cat.songs[k] for _, k in self.cat.titles.find(title)]
            if artist:
                both = [h for h in hits if self.cat.song_artist_ok(h, artist)]
                if both:
                    v.findings.append(Finding(NOT_RETRIEVED, span, f"{both[0].artist} - {both[0].title} was not retrieved"))
                elif hits:
                    v.findings.append(Finding(WRONG_ARTIST, span, f"{title!r} exists, by {hits[0].artist}, not {artist}"))
                else:
                    v.findings.append(Finding(INVENTED_SONG, span, f"no song {title!r} by {artist} in the catalog"))
                return None
            if hits:
                v.findings.append(Finding(NOT_RETRIEVED, span, f"{hits[0].artist} - {hits[0].title} was not retrieved"))
            else:
                v.findings.append(Finding(INVENTED_SONG, span, f"no song {title!r} in the catalog"))
            return None
        if artist:
            self._artist(artist, ev, span, v)
        return None

    def _artist(self, artist: str, ev: _Evidence, span: str, v: Verdict) -> bool:
        a = norm(artist)
        if any(similarity(a, x) >= NAME_MATCH for x in ev.artists):
            return True
        if self.cat.artists.find(artist):
            v.findings.append(Finding(ARTIST_NOT_IN_EVIDENCE, span, f"{artist} is not in the evidence"))
        else:
            v.findings.append(Finding(INVENTED_ARTIST, span, f"no artist {artist!r} in the catalog"))
        return False

    def _slot(self, text: str, ev: _Evidence, v: Verdict, extra: set[str]) -> SongFacts | None:
        """A reference slot without explicit structure: a title, an artist, ``X by Y``, ``Y - X``,
        ``Y's X``, or description (then nothing to check)."""
        text = text.strip(" ,;:.!?-\"'“”")
        text = re.sub(r"^(?:the\s+(?:song|track|tune)\s+|songs?\s+|tracks?\s+)", "", text, flags=re.I)
        if not text or _plain(text, extra, self.vocab_names):
            return None
        if self._is_title(text, ev):  # a title may itself hold "by", " - " or "'s"
            return self._resolve(text, None, ev, text, v)
        m = re.match(r"(.+?)\s+by\s+(.+)$", text, flags=re.I)
        if m:
            return self._resolve(m.group(1), self._best_artist(m.group(2), ev), ev, text, v)
        m = re.match(r"(.+?)\s+-\s+(.+)$", text)
        if m:
            a, b = m.group(1), m.group(2)
            if self._known_artist(a, ev):
                return self._resolve(b, a, ev, text, v)
            if self._known_artist(b, ev):
                return self._resolve(a, b, ev, text, v)
        m = re.match(r"(.+?)'s\s+(.+)$", text)
        if m and self._known_artist(m.group(1), ev):
            if _plain(m.group(2), extra, self.vocab_names):
                return None
            return self._resolve(m.group(2), m.group(1), ev, text, v)
        if self._is_title(text, ev):
            return self._resolve(text, None, ev, text, v)
        if self._known_artist(text, ev) and any(similarity(norm(text), x) >= NAME_MATCH for x in ev.artists):
            return None
        if norm(text) in self.cat.genres or norm(text) in self.cat.tags or norm(text) in ev.names:
            return None
        if self.cat.artists.find(text):
            v.findings.append(Finding(ARTIST_NOT_IN_EVIDENCE, text, f"{text} is not in the evidence"))
            return None
        return self._resolve(text, None, ev, text, v)

    def _names_title(self, text: str, ev: _Evidence) -> bool:
        """Whether ``text`` (or its part after ``Artist's``) is a candidate's or a catalog title."""
        m = re.match(r"(.+?)'s\s+(.+)$", text.strip())
        parts = [text] + ([m.group(2)] if m else [])
        return any(self._is_title(p, ev) or norm(p) in self.cat.titles.exact for p in parts)

    def _best_title_found(self, span: str, ev: _Evidence) -> bool:
        words = span.strip().split()[-12:]
        for n in range(len(words), 0, -1):
            cand = " ".join(words[-n:]).strip(" -,;:.!?\"'")
            if "," in cand and cand and (self._is_title(cand, ev) or norm(cand) in self.cat.titles.exact):
                return True
        return False

    def _best_title(self, span: str, ev: _Evidence) -> str:
        """The title that ends ``span`` (the text before "by"): the longest word suffix (at most 12
        words) that is a candidate's or a catalog title, else the text after the last sentence break."""
        words = span.strip().split()[-12:]
        for n in range(len(words), 0, -1):
            cand = " ".join(words[-n:]).strip(" -,;:.!?\"'")
            if cand and (self._is_title(cand, ev) or norm(cand) in self.cat.titles.exact):
                return cand
        return re.split(r"\.\s+", span)[-1].strip(" -,;:.!?\"'")

    def _known_artist(self, name: str, ev: _Evidence) -> bool:
        return bool(any(similarity(norm(name), x) >= NAME_MATCH for x in ev.artists) or self.cat.artists.find(name))

    def _best_artist(self, span: str, ev: _Evidence) -> str:
        """The artist named at the start of ``span`` (the text after "by"): the longest prefix that is
        a known artist, else the words up to the first word that cannot belong to a name."""
        words = span.strip().split()
        for n in range(min(len(words), 8), 0, -1):
            cand = " ".join(words[:n]).strip(" ,;:.!?")
            if all(w.lower() in PLAIN_WORDS for w in cand.split()):  # "The" is also a band's folded name
                continue
            if cand and self._known_artist(cand, ev):
                return cand
        stop = {"is", "are", "has", "fits", "for", "from", "with", "brings", "would", "will", "to", "as", "on",
                "if", "when", "because", "which", "that", "it", "its", "in", "at", "sounds", "feels", "keeps"}
        out = []
        for w in words:
            if w.lower().strip(",;:.!?") in stop:
                break
            out.append(w)
            if re.search(r"[,;:.!?]$", w):
                break
        return " ".join(out).strip(" ,;:.!?") or span

    def _is_title(self, text: str, ev: _Evidence) -> bool:
        return any(title_match(text, c.title) >= NAME_MATCH for c in ev.cands)

    # ----------------------------------------------------------------------------- facts
    def _facts(self, unit: str, song: SongFacts, ev: _Evidence, v: Verdict) -> None:
        low = unit.lower()
        body = _POINTER_CITE.sub(" ", unit)
        body = re.sub(r'"[^"]*"', " ", body)  # a title may hold years and mood words
        body = re.sub(r"-\s+\d{4}\s+(?:remaster(?:ed)?|mix|version|edit|remix)\b", " ", body, flags=re.I)
        for name in {song.title, re.split(r"\s+-\s+", song.title)[0]}:
            if len(name) > 2:
                body = re.sub(re.escape(name), " ", body, flags=re.I)
        for m in _YEAR.finditer(body):
            year = int(m.group(1))
            self._check(v, song.year is None, song.year == year, WRONG_YEAR, unit,
                        f"{song.title} is from {song.year}, not {year}")  # fmt: skip
        for m in _DECADE.finditer(body):
            digits = m.group(0).lower().lstrip("the ").strip("'’s")
            start = None
            if m.group(2):
                start = 1900 + 10 * int(m.group(2))
            elif m.group(4) is not None:
                start = 2000 + 10 * int(m.group(4))
            elif m.group(5):
                start = 1900 + int(m.group(5))
            if start is not None:
                ok = song.year is not None and start <= song.year <= start + 9
                self._check(v, song.year is None, ok, WRONG_YEAR, unit, f"{song.title} is from {song.year}, not the {digits}")
        words = [w.lower() for w in _words(re.sub(r'"[^"]*"', " ", body))]
        claimed = {MOOD_LEXICON[w] for w in words if w in MOOD_LEXICON}
        # "happy-sounding"/"sad-sounding" are feature claims (valence), checked below
        claimed -= {m for m in ("happy", "sad") if f"{m}-sounding" in low and f"{m} mood" not in low}
        f = song.features
        for mood in claimed:
            if song.moods:
                ok = mood in song.moods or (mood == "relaxed" and "calm" in song.moods) or (mood == "calm" and "relaxed" in song.moods)
                bad = bool(OPPOSITE.get(mood, set()) & song.moods) and not ok
                self._check(v, not ok and not bad, ok, WRONG_MOOD, unit,
                            f"{song.title} is labelled {sorted(song.moods)}, not {mood}")  # fmt: skip
            else:
                val, en = f.get("valence"), f.get("energy")
                verdict = _mood_from_features(mood, val, en)
                self._check(v, verdict is None, bool(verdict), WRONG_MOOD, unit,
                            f"{song.title} (valence {val}, energy {en}) does not sound {mood}")  # fmt: skip
        for phrase, feat, test in _FEATURE_CLAIMS:
            if re.search(phrase, low):
                value = f.get(feat)
                self._check(v, value is None, value is not None and test(value), WRONG_FEATURE, unit,
                            f"{song.title}: {feat} = {value}")  # fmt: skip
        for m in _BPM.finditer(unit):
            tempo = f.get("tempo")
            self._check(v, tempo is None, tempo is not None and abs(tempo - float(m.group(1))) <= 3, WRONG_FEATURE,
                        unit, f"{song.title}: tempo {tempo}, not {m.group(1)} BPM")  # fmt: skip
        genres = song.genres | self.cat.artist_genres.get(song.artist_key, set())
        folded = f" {norm(body)} "
        for g in self.cat.genres:
            if len(g) > 3 and f" {g} " in folded and g not in self.cat.moods and g not in PLAIN_WORDS:
                if g in genres or any(g in x or x in g for x in genres):
                    v.checked_facts += 1
                    v.true_facts += 1
                elif f" {g} " in f" {norm(' '.join(ev.words))} " and g not in " ".join(genres):
                    # a genre the request asked for, said of a song that does not carry it
                    if re.search(rf"\b(?:is|brings|plays|a|pure|classic)\s+{re.escape(g)}\b", norm(body)):
                        self._check(v, not genres, False, WRONG_GENRE, unit, f"{song.title} genres {sorted(genres)[:4]}")
        for m in re.finditer(r"fans of ([^.,;:\n\[]+?)(?:\s+(?:also|play|like|love|enjoy)\b|[.,;:\n]|$)", unit, flags=re.I):
            name = m.group(1).strip()
            keys = [k for _, k in self.cat.artists.find(name)]
            if not keys:
                continue
            shared = any(self.cat.listeners.get(k, set()) & self.cat.listeners.get(song.artist_key, set()) for k in keys)
            self._check(v, not self.cat.listeners.get(song.artist_key), shared, WRONG_LINK, unit,
                        f"no listener of {name} plays {song.artist}")  # fmt: skip

    @staticmethod
    def _check(v: Verdict, unknown: bool, ok: bool, kind: str, unit: str, detail: str) -> None:
        if unknown:
            v.unverified_facts += 1
            return
        v.checked_facts += 1
        if ok:
            v.true_facts += 1
        else:
            v.findings.append(Finding(kind, unit, detail))

    # ----------------------------------------------------------------------------- main
    def judge(self, text: str, candidates: Sequence[Result], request: str = "") -> Verdict:
        """Judge ``text``, an answer to ``request`` written from ``candidates`` (evidence order).

        Args:
            text: the answer.
            candidates: the retrieved results the answer was written from, numbered from 1 in this order.
            request: the request in words (names it mentions are not recommendations).

        Returns:
            The :class:`Verdict`: each error found (its kind, the words and why), the candidates
            truly cited, and the stated facts checked, true and unverifiable.
        """
        v = Verdict()
        text = _PATH.sub(" ", html.unescape(text))
        ev = self._evidence(candidates, request)
        extra = ev.words
        for unit in _units(text):
            cited: list[SongFacts] = []
            rest = unit
            # a. pointer citations written by the lm backend: "Title" by Artist [n]
            for m in _POINTER_CITE.finditer(unit):
                n = int(m.group(3))
                pointed = ev.numbers.get(n)
                if pointed is not None and title_match(m.group(1), pointed.title) >= NAME_MATCH and \
                        self.cat.song_artist_ok(pointed, m.group(2)):
                    if pointed.key not in v.true_citations:
                        v.true_citations.append(pointed.key)
                    cited.append(pointed)
                    continue
                song = self._resolve(m.group(1), m.group(2), ev, m.group(0), v)
                if song is not None:
                    if ev.numbers.get(n) is not song:
                        v.findings.append(Finding(WRONG_POINTER, m.group(0), f"[{n}] is not {song.title}"))
                    cited.append(song)
            rest = _POINTER_CITE.sub(" [cited] ", rest)
            # b. quoted names, with "by Artist" after them when present
            for m in _QUOTED.finditer(rest):
                q = next(g for g in m.groups() if g)
                after = re.match(r"\s*(?:,\s*)?by\s+([^,.;:!?\n(]+?)(?=\s+(?:is|are|has|fits|for|from|with|brings|-|—|–|\()|[,.;:!?\n(]|$)",
                                 rest[m.end():])  # fmt: skip
                before = re.search(r"([A-Z0-9][\w'&.]*(?:\s+[A-Z0-9&][\w'&.]*){0,4})(?:'s|\s+-|\s*:)\s*$", rest[: m.start()])
                if after:
                    artist = self._best_artist(re.split(r"[,;:!?\n\[(]", rest[m.end():].split("by", 1)[1])[0], ev)
                else:
                    artist = before.group(1) if before and self.cat.artists.find(before.group(1)) else None
                if norm(q) and norm(q) in norm(request) or norm(q) in self.vocab_names and not self.cat.titles.find(q):
                    continue
                if _plain(q, extra, self.vocab_names) and not self._is_title(q, ev) and not self.cat.titles.find(q):
                    continue
                song = self._resolve(q, artist, ev, m.group(0), v)
                if song is not None:
                    cited.append(song)
            rest = _QUOTED.sub(" [cited] ", rest)
            # c. "Artist - Title" at the head of a line or list item
            head = _LIST.sub("", rest).strip()
            m = re.match(r"^([^:\n]{1,80}?)\s+-\s+([^:\n(]{1,100}?)(?=\s*(?::|\(|—|–|$))", head)
            heading = bool(_LIST.match(unit)) or bool(m and head[m.end():].lstrip().startswith(":"))
            if m and heading and "[cited]" not in m.group(0) and not self._is_title(m.group(0), ev) and (
                    self._known_artist(m.group(1), ev) or self._known_artist(m.group(2), ev)):
                a, b = m.group(1), m.group(2)
                song = self._resolve(b, a, ev, m.group(0), v) if self._known_artist(a, ev) else self._resolve(a, b, ev, m.group(0), v)
                if song is not None:
                    cited.append(song)
                rest = rest.replace(m.group(0), " [cited] ")
            elif _LIST.match(unit) and "[cited]" not in head:
                # d. a list item's head names what it recommends
                item = re.split(r"\s*(?::|—|–|\s-\s|\()\s*", head, maxsplit=1)[0]
                if not self._names_title(item, ev):
                    item = re.split(r"\s*,\s*", item, maxsplit=1)[0]
                song = self._slot(item, ev, v, extra)
                if song is None and _titlecase(item) and not self._names_title(item, ev) and \
                        norm(item) not in ev.names and norm(item) not in self.vocab_names and not self._known_artist(item, ev):
                    # a list item headed by a Title Case name made of ordinary words ("Quiet Night Song")
                    song = self._resolve(item, None, ev, item, v)
                if song is not None:
                    cited.append(song)
                rest = rest.replace(item, " [cited] ", 1)
            # e. "X by Y" without quotes
            consumed: list[str] = []
            for m in re.finditer(r"\sby\s", rest):
                window = re.split(r"[;:\n\]]|[.!?]\s+(?=[A-Z])", rest[: m.start()])[-1]
                left = window if self._best_title_found(window, ev) else re.split(r",", window)[-1]
                left = re.split(r"\b(?:" + "|".join(re.escape(c) for c in sorted(CUES, key=len, reverse=True)) + r")\s+",
                                left, flags=re.I)[-1].strip()
                right = re.split(r"[,;:!?\n\[(]", rest[m.end():])[0]
                if not left or not right.strip():
                    continue
                left = self._best_title(left, ev)
                artist = self._best_artist(right, ev)
                consumed += [f"by {artist}", left] if left != "[cited]" else [f"by {artist}"]
                if _plain(left, extra, self.vocab_names) and not self._is_title(left, ev):
                    if not _plain(artist, extra, self.vocab_names):
                        self._artist(artist, ev, f"{left} by {artist}", v)
                    continue
                song = self._resolve(left, artist, ev, f"{left} by {artist}", v)
                if song is not None:
                    cited.append(song)
            for piece in consumed:
                if piece.strip():
                    rest = rest.replace(piece, " [cited] ", 1)
            # f. objects of recommendation verbs
            cue_re = r"\b(?:" + "|".join(re.escape(c) for c in sorted(CUES, key=len, reverse=True)) + r")\s+([^,;:.!?\n\[\]]{2,60})"
            for m in re.finditer(cue_re, rest, flags=re.I):
                obj = re.split(r"\s+(?:for|from|if|when|with|because|to|as|on|and then|which|that|it|its|while)\b", m.group(1), maxsplit=1)[0]
                obj = re.sub(r"^(?:out|up|on|to|some|this|these|it)\s+", "", obj.strip(), flags=re.I)
                song = self._slot(obj, ev, v, extra)
                if song is not None:
                    cited.append(song)
            # f2. artists after "like", "similar to", "fans of", "in the style of"
            for m in re.finditer(r"\b(?:sounds? like|like|similar to|fans of|in the style of|reminiscent of)\s+([^,;:!?\n\[\]()]{2,60})",
                                 rest, flags=re.I):  # fmt: skip
                name = self._best_artist(m.group(1), ev)
                if name and not _plain(name, extra, self.vocab_names) and "[cited]" not in name:
                    self._artist(name, ev, m.group(0), v)
            # g. the subject of a recommending sentence
            s = _LIST.sub("", rest).strip()
            pm = re.match(r"^(?:and\s+|also\s+|then\s+)?(.{2,60}?)\s+(?:" + "|".join(PREDICATES) + r")\b", s, flags=re.I)
            if pm and "[cited]" not in pm.group(1):
                subject = pm.group(1)
                first = subject.split()[0].lower() if subject.split() else ""
                if first not in PLAIN_WORDS or subject[:1].isupper() and len(subject.split()) > 1 and all(
                        w[:1].isupper() for w in subject.split() if w.lower() not in ("of", "the", "a", "in", "on", "and")):
                    song = self._slot(subject, ev, v, extra) if not _plain(subject, extra, self.vocab_names) or _titlecase(subject) else None
                    if song is None and _titlecase(subject) and _plain(subject, extra, self.vocab_names) and not self._is_title(subject, ev):
                        if norm(subject) not in ev.names and norm(subject) not in self.cat.genres:
                            song = self._resolve(subject, None, ev, subject, v)
                    if song is not None:
                        cited.append(song)
            # h. any catalog title of two or more words written anywhere in the unit
            raw_titles = " | ".join(_raw(c.title) + " | " + _raw(c.artist) for c in ev.cands)
            for span in _ngrams(rest, 2, 8):
                folded = norm(span)
                if _raw(span) in raw_titles:
                    continue
                if folded in self.cat.titles.exact and not _plain(span, extra, self.vocab_names) and folded not in ev.names:
                    if not any(similarity(folded, norm(c.title)) >= NAME_MATCH for c in ev.cands):
                        if span[:1].isupper() or span.lower() != span:
                            song = self._resolve(span, None, ev, span, v)
            unique = {c.key: c for c in cited}
            if len(unique) == 1:
                self._facts(unit, next(iter(unique.values())), ev, v)
        # de-duplicate findings on the same span
        seen, kept = set(), []
        for f in v.findings:
            if (f.kind, f.span) not in seen:
                seen.add((f.kind, f.span))
                kept.append(f)
        v.findings = kept
        return v


def _raw(text: str) -> str:
    """Lower case, words only, brackets kept as words (for "is this inside a title")."""
    return " ".join(re.findall(r"[\w']+", html.unescape(text).lower()))


def _titlecase(span: str) -> bool:
    words = [w for w in span.split() if w.lower() not in ("of", "the", "a", "an", "in", "on", "and", "to", "for")]
    return len(words) >= 2 and all(w[:1].isupper() for w in words)


def _ngrams(text: str, lo: int, hi: int) -> list[str]:
    toks = [t for t in re.findall(r"[\w'’&]+", text) if t != "cited"]
    out = []
    for n in range(hi, lo - 1, -1):
        for i in range(len(toks) - n + 1):
            out.append(" ".join(toks[i : i + n]))
    return out


def _mood_from_features(mood: str, valence: float | None, energy: float | None) -> bool | None:
    """Whether audio features support a mood word (None: the features cannot tell)."""
    if valence is None and energy is None:
        return None
    if mood == "sad":
        return None if valence is None else valence <= 0.5
    if mood == "happy":
        return None if valence is None else valence >= 0.45
    if mood in ("calm", "relaxed"):
        return None if energy is None else energy <= 0.6
    if mood in ("energetic", "angry"):
        return None if energy is None else energy >= 0.5
    return None


#: feature words and the stored value that makes them true (bands wider than the evidence's wording)
_FEATURE_CLAIMS: tuple[tuple[str, str, Any], ...] = (
    (r"\blow[- ]energy\b|\blow in energy\b", "energy", lambda x: x <= 0.5),
    (r"\bhigh[- ]energy\b|\bhigh in energy\b", "energy", lambda x: x >= 0.6),
    (r"\bmedium[- ]energy\b", "energy", lambda x: 0.3 <= x <= 0.8),
    (r"\bacoustic\b", "acousticness", lambda x: x >= 0.4),
    (r"\bdanceable\b", "danceability", lambda x: x >= 0.6),
    (r"\binstrumental\b", "instrumentalness", lambda x: x >= 0.3),
    (r"\bminor key\b|\bin minor\b", "mode", lambda x: x == 0),
    (r"\bmajor key\b|\bin major\b", "mode", lambda x: x == 1),
    (r"\bsad-sounding\b", "valence", lambda x: x <= 0.45),
    (r"\bhappy-sounding\b", "valence", lambda x: x >= 0.55),
)


def judge_answer(text: str, candidates: Sequence[Result], request: str, catalog: JudgeCatalog) -> Verdict:
    """:meth:`GroundingJudge.judge` with a one-off judge over ``catalog`` (see there for the arguments)."""
    return GroundingJudge(catalog).judge(text, candidates, request)
