"""Free text -> :class:`~musicgraph.retrieval.request.Request`: the default, rule-based request parser.

:class:`RequestParser` reads a request in everyday phrasing:

1. **Entities** through the catalog's :class:`~musicgraph.retrieval.linking.EntityLinker` (exact
   names and aliases, fuzzy artist names next to cues, artist-vs-tag disambiguation by priors).
2. **Relations** from the words around each entity: "fans of X", "X listeners", "people who like X"
   (``fans_of``); "like X", "similar to X", "in the style of X" (``similar_to``); "by X", "X songs"
   (``performed_by``); "members of X", "collaborated with X" (``member_of``); "same album as S"
   (``same_album``); "in playlists with S", "the X playlist" (``in_playlist_with``). Without a cue the
   label's default applies.
3. **Output kind** from the nouns ("artists", "bands", "albums", "playlists"; default songs) and ``k``
   from numbers ("top 20", "five bands").
4. **Constraints**: genre-like tags and genres ("rock artists", "tagged trip-hop"), eras ("90s",
   "before 2000", "between 1990 and 1995"), popularity bands ("obscure", "popular"), "clean",
   "instrumental", and exclusions in negated scopes ("no Coldplay", "not Radiohead", "except pop").
   "both X and Y" (and "fans of X and Y") asks for answers related to every seed.
5. **Targets**: mood and audio-feature words from the lexicon (:mod:`musicgraph.retrieval.query`) and
   NRC-VAD, which re-rank but exclude nothing.

Everything it could not use goes into ``Request.notes``.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from musicgraph.errors import RequestError
from musicgraph.graph.schema import Label
from musicgraph.retrieval.emotion import MOOD_VA
from musicgraph.retrieval.linking import Mention
from musicgraph.retrieval.query import (
    CLEAN_WORDS,
    EXPLICIT_WORDS,
    FILTER_PHRASES,
    LEXICON,
    MAX_QUERY_CHARS,
    NEGATIONS,
    VOCAL_WORDS,
    LexiconParser,
    _decade,
    _merge_range,
)
from musicgraph.retrieval.request import (
    EntityRef,
    Relation,
    Request,
    Seed,
    parse_request,
)
from musicgraph.retrieval.text import REQUEST_WORDS, STOPWORDS, fold, tokenize

if TYPE_CHECKING:
    from musicgraph.retrieval.emotion import EmotionAnalyzer
    from musicgraph.retrieval.linking import EntityLinker
    from musicgraph.retrieval.resources import GraphResources

log = logging.getLogger(__name__)

__all__ = ["RequestParser", "text_only_request"]

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*|[,.;!?]")
_POSSESSIVE = re.compile(r"(\w)'s\b")

KIND_NOUNS: dict[str, str] = {
    **dict.fromkeys("artist artists band bands singer singers rapper rappers musician musicians act acts group "
                    "groups dj djs producer producers composer composers performer performers vocalist vocalists "
                    "songwriter songwriters duo duos".split(), "artist"),
    **dict.fromkeys("album albums record records lp lps ep eps".split(), "album"),
    **dict.fromkeys("playlist playlists mixtape mixtapes".split(), "playlist"),
    **dict.fromkeys("song songs track tracks tune tunes music single singles jams bangers anthems ballads".split(),
                    "song"),
}

# cue phrases (folded tokens) before / after an entity, longest first within each relation
_BEFORE: list[tuple[tuple[str, ...], Relation]] = sorted([
    *[(tuple(c.split()), Relation.FANS_OF) for c in (
        "fans of", "fan of", "listeners of", "lovers of", "followers of", "admirers of", "audience of",
        "people who like", "people who love", "people who listen to", "people who dig", "people into",
        "those who like", "those who love", "anyone who likes", "anyone who loves", "folks who like",
        "who like", "who likes", "who love", "who loves", "who listen to", "who listens to", "who dig",
        "who are into", "who is into", "listen to", "listens to", "listening to", "into", "stans of", "fanbase of",
        "the fans of", "crowd of")],
    *[(tuple(c.split()), Relation.SIMILAR_TO) for c in (
        "similar to", "like", "sounds like", "sound like", "sounding like", "style of", "the style of",
        "vein of", "reminds me of", "remind me of", "reminiscent of", "vibe of", "vibes of", "spirit of",
        "akin to", "comparable to", "close to", "related to", "along the lines of", "influenced by",
        "inspired by", "in the mold of", "alike to", "resembling", "resemble", "resembles")],
    *[(tuple(c.split()), Relation.PERFORMED_BY) for c in (
        "by", "written by", "performed by", "sung by", "recorded by", "released by", "from the artist")],
    *[(tuple(c.split()), Relation.MEMBER_OF) for c in (
        "members of", "member of", "side projects of", "side project of", "collaborated with",
        "collaborators of", "collaborations with", "collaboration with", "worked with", "featuring", "feat",
        "ft", "bandmates of", "projects of", "collabs with", "collab with")],
    *[(tuple(c.split()), Relation.SAME_ALBUM) for c in (
        "same album as", "the same album as", "album with", "from the album", "off the album", "on the album",
        "album as", "same record as", "record with")],
    *[(tuple(c.split()), Relation.IN_PLAYLIST_WITH) for c in (
        "playlists with", "playlist with", "alongside", "together with", "goes well with", "go well with",
        "pairs well with", "pair well with", "playlisted with", "same playlist as", "same playlists as",
        "appear with", "appears with", "next to", "in playlists with", "from the playlist", "in the playlist",
        "on the playlist", "songs in", "tracks in", "songs from playlist", "tracks from playlist")],
], key=lambda x: -len(x[0]))

_AFTER: list[tuple[tuple[str, ...], Relation]] = sorted([
    *[(tuple(c.split()), Relation.FANS_OF) for c in (
        "fans", "fan", "listeners", "listener", "lovers", "stans", "fanbase", "followers", "heads", "crowd",
        "audience", "s fans", "s listeners", "s fanbase", "s audience", "s crowd", "s followers", "s lovers")],
    *[(tuple(c.split()), Relation.SIMILAR_TO) for c in ("esque", "ish", "vibes", "type", "alikes", "s style",
                                                           "style", "s sound", "sound")],
    *[(tuple(c.split()), Relation.PERFORMED_BY) for c in (
        "songs", "tracks", "albums", "s songs", "s tracks", "s albums", "s music", "s discography", "discography",
        "s hits", "s records", "s catalogue", "s catalog", "s own")],
    *[(tuple(c.split()), Relation.MEMBER_OF) for c in (
        "members", "s members", "collaborators", "s collaborators", "side projects", "s side projects",
        "s bandmates", "bandmates")],
    *[(tuple(c.split()), Relation.IN_PLAYLIST_WITH) for c in ("playlist", "playlists")],
], key=lambda x: -len(x[0]))

_BOTH = frozenset({"both"})
_COORD = frozenset({"and", "or", ",", "nor", "plus"})
_ANY = frozenset({"or", "either"})
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                 "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30,
                 "fifty": 50, "dozen": 12, "hundred": 100}
POPULAR_WORDS = frozenset({"popular", "mainstream", "famous", "hits", "biggest", "chart", "known", "wellknown"})
OBSCURE_WORDS = frozenset({"obscure", "underground", "lesser", "unknown", "underrated", "niche", "hidden",
                           "deep", "indie"})
#: a tag on at least this many artists narrows an entity request as a constraint (below: a soft seed)
CONSTRAINT_TAG_ARTISTS = 50
_YEAR = re.compile(r"^(1[89][0-9]{2}|20[0-9]{2})$")
_FILLER = frozenset({"the", "a", "an", "some", "any", "more", "other", "new", "good", "great", "best", "top", "cool",
                     "nice", "few", "similar", "different", "also", "too", "that", "which", "who", "whose", "s"})


_ABBREV = re.compile(r"\b(mr|mrs|ms|dr|st|jr|sr|vs|feat|ft|vol|pt)\.")


def _tokens(text: str) -> list[str]:
    text = _ABBREV.sub(r"\1", _POSSESSIVE.sub(r"\1 's", fold(text)))
    return [t.replace("'", "") for t in _TOKEN.findall(text)]


def text_only_request(text: str, k: int = 10) -> Request:
    """A request made of the text alone (terms and dense text), for retrievers without a catalog."""
    if text is None or not str(text).strip():
        raise RequestError("empty request: describe the music you want, e.g. 'sad songs for a rainy night'",
                           field="text")
    text = str(text)[:MAX_QUERY_CHARS]
    return Request(text=text, terms=tokenize(text), dense_text=text, k=k, parser="text")


def _ends_with(window: Sequence[str], cue: tuple[str, ...]) -> bool:
    return len(window) >= len(cue) and tuple(window[-len(cue):]) == cue


def _starts_with(window: Sequence[str], cue: tuple[str, ...]) -> bool:
    return len(window) >= len(cue) and tuple(window[:len(cue)]) == cue


class RequestParser:
    """The default request parser (see the module docstring).

    Args:
        linker: the catalog's entity linker (None: no entities; lexicon-only, as in unit tests).
        emotion: an :class:`EmotionAnalyzer` for NRC-VAD (None: canonical moods only).
        tag_artists: ``tag key -> number of artists carrying it`` (which tags are genre-like).
        genres: keys of the genre nodes.
    """

    name = "rules"

    def __init__(self, linker: EntityLinker | None = None, emotion: EmotionAnalyzer | None = None,
                 tag_artists: dict[str, int] | None = None, genres: frozenset[str] = frozenset()):
        self.linker = linker
        self.emotion = emotion
        self.tag_artists = tag_artists or {}
        self.genres = genres
        self._lexicon = LexiconParser(None, emotion)
        self._max_phrase = max(len(p.split()) for p in LEXICON)

    _CACHE: dict[int, RequestParser] = {}
    _CACHE_LOCK = threading.Lock()

    @classmethod
    def for_resources(cls, res: GraphResources) -> RequestParser:
        """The parser over a store's shared resources (built once per resources object)."""
        with cls._CACHE_LOCK:
            hit = cls._CACHE.get(id(res))
            if hit is not None and hit._res is res:
                return hit
        import numpy as np

        proj = res.store.projection()
        lo, hi = proj.label_ranges.get(Label.TAG, (0, 0))
        tagged = proj.matrices.get("TAGGED")
        counts = {}
        if tagged is not None and tagged.nnz:
            per_tag = np.bincount(tagged.tocoo().col, minlength=proj.num_nodes)
            counts = {str(proj.keys[i]): int(per_tag[i]) for i in range(lo, hi)}
        glo, ghi = proj.label_ranges.get(Label.GENRE, (0, 0))
        parser = cls(res.linker, res.emotion, tag_artists=counts,
                     genres=frozenset(str(k) for k in proj.keys[glo:ghi]))
        parser._res = res
        with cls._CACHE_LOCK:
            cls._CACHE[id(res)] = parser
        return parser

    _res: Any = None

    # ------------------------------------------------------------------ parse
    def parse(self, text: str, k: int | None = None) -> Request:
        """The request ``text`` describes.

        Raises:
            RequestError: an empty request.
        """
        if text is None or not str(text).strip():
            raise RequestError("empty request: describe the music you want, e.g. 'sad songs for a rainy night'",
                               field="text")
        text = str(text)
        notes: list[str] = []
        if len(text) > MAX_QUERY_CHARS:
            notes.append(f"request truncated to its first {MAX_QUERY_CHARS} characters")
            text = text[:MAX_QUERY_CHARS]
        toks = _tokens(text)
        negated = LexiconParser._negated_spans(toks)
        in_neg = {j for s, e in negated for j in range(s, e)}
        constraints: dict[str, Any] = {"features": {}}
        targets: dict[str, Any] = {"moods": [], "features": {}, "avoid_moods": []}
        used: set[int] = set()
        mood_words: list[str] = []
        self._lexicon_pass(toks, in_neg, used, constraints, targets, mood_words)
        self._era_pass(toks, in_neg, used, constraints)
        pop = self._popularity_pass(toks, in_neg, used)
        if pop is not None:
            constraints["popularity"] = pop
        for s, e in negated:  # "no vocals" -> instrumental
            if any(t in VOCAL_WORDS for t in toks[s:e]):
                constraints["features"]["instrumentalness"] = (0.5, None)
                used.update(j for j in range(s, e) if toks[j] in VOCAL_WORDS)
        kind, kind_pos = self._kind(toks, used)
        k_found = self._count(toks, used)
        seeds: list[Seed] = []
        exclude: list[EntityRef] = []
        tags: list[str] = []
        cue_used: set[int] = set()
        mentions: list[Mention] = []
        if self.linker is not None:
            positive = [j for j in range(len(toks)) if j not in in_neg]
            mentions = self.linker.link(toks, positive, skip=used | kind_pos)
            mentions = self._coordinated_artists(toks, mentions)
            has_entity = any(m.label in (Label.ARTIST, Label.SONG) for m in mentions)
            previous: Relation | None = None
            for m in sorted(mentions, key=lambda m: m.start):
                if m.label in (Label.TAG, Label.GENRE):
                    verdict = self._is_constraint(m, toks, kind_pos, has_entity)
                    if verdict is True:
                        tags.append(m.name)
                    elif verdict is None:
                        seeds.append(Seed(label=m.label, name=m.name, key=m.key, relation=Relation.TAGGED,
                                          weight=0.5, surface=m.surface, confidence=min(m.score, 1.0)))
                    continue
                if m.label == Label.MOOD:
                    if m.key not in targets["moods"]:
                        targets["moods"].append(m.key)
                    continue
                relation, span = self._relation(toks, m, kind)
                if relation is None and previous is not None and m.start > 0 and toks[m.start - 1] in _COORD:
                    relation = previous  # "fans of X and Y": Y is read like X
                previous = relation
                cue_used.update(span)
                seeds.append(Seed(label=m.label, name=m.name, key=m.key, relation=relation, surface=m.surface,
                                  confidence=min(m.score, 1.0)))
            for s, e in negated:
                for m in self.linker.link(toks, list(range(s, e)), skip=used):
                    exclude.append(EntityRef(label=m.label, name=m.name, key=m.key))
        # moods from NRC-VAD and the canonical moods -> soft target point
        self._mood_point(toks, in_neg, targets, mood_words, seeds)
        combine = self._combine(toks, seeds)
        constraints["tags"] = tags
        constraints["exclude"] = exclude
        # search terms: content words outside negations, not consumed as entities, cues or kind nouns
        entity_pos = {j for m in mentions for j in range(max(m.start, 0), max(m.end, 0))
                      if m.label in (Label.ARTIST, Label.SONG, Label.ALBUM, Label.PLAYLIST)}
        keep = [t for j, t in enumerate(toks) if j not in in_neg and j not in entity_pos and j not in cue_used
                and t not in REQUEST_WORDS and t not in NEGATIONS and t not in KIND_NOUNS]
        terms = tokenize(" ".join(keep))
        dense_text = " ".join(t for j, t in enumerate(toks) if j not in in_neg and t not in ",.;!?")
        data = {
            "text": text,
            "seeds": [s.model_dump() for s in seeds],
            "combine": combine,
            "constraints": constraints,
            "targets": targets,
            "kind": kind,
            "k": k if k is not None else (k_found or 10),
            "terms": terms[:200],
            "dense_text": dense_text[:MAX_QUERY_CHARS],
            "notes": notes,
            "parser": self.name,
        }
        per_artist = self._per_artist(toks)
        if per_artist:
            data["diversity"] = {"max_per_artist": per_artist}
        req = parse_request(data)
        if not (req.seeds or req.terms or not req.constraints.is_empty() or not req.targets.is_empty()):
            req.notes.append("nothing in the request matched the catalog or the mood/feature lexicon")
        return req

    # ---------------------------------------------------------------- passes
    def _lexicon_pass(self, toks: list[str], in_neg: set[int], used: set[int], constraints: dict[str, Any],
                      targets: dict[str, Any], mood_words: list[str]) -> None:
        i = 0
        while i < len(toks):
            hit = None
            for n in range(min(self._max_phrase, len(toks) - i), 0, -1):
                phrase = " ".join(toks[i:i + n])
                if phrase in LEXICON and phrase not in POPULAR_WORDS and phrase not in OBSCURE_WORDS \
                        and phrase not in ("popular", "hits", "mainstream", "obscure", "underground", "recent", "new"):
                    hit = (phrase, n)
                    break
            if hit is None:
                if toks[i] in EXPLICIT_WORDS and i in in_neg or toks[i] in CLEAN_WORDS and i not in in_neg:
                    constraints["explicit"] = False
                    used.add(i)
                elif toks[i] in EXPLICIT_WORDS and i not in in_neg and i > 0 and toks[i - 1] in ("only", "just"):
                    constraints["explicit"] = True
                    used.add(i)
                i += 1
                continue
            phrase, n = hit
            span = range(i, i + n)
            moods, feats = LEXICON[phrase]
            if any(j in in_neg for j in span):
                for mood in moods:
                    if mood not in targets["avoid_moods"]:
                        targets["avoid_moods"].append(mood)
            else:
                for mood in moods:
                    if mood not in targets["moods"]:
                        targets["moods"].append(mood)
                for feat, rng in feats.items():
                    if phrase in FILTER_PHRASES:
                        constraints["features"][feat] = rng
                    else:
                        targets["features"][feat] = _merge_range(targets["features"].get(feat), rng)
                mood_words.append(phrase)
            used.update(span)
            i += n

    def _era_pass(self, toks: list[str], in_neg: set[int], used: set[int], constraints: dict[str, Any]) -> None:
        lo: float | None = None
        hi: float | None = None
        found = False
        for i, t in enumerate(toks):
            if i in in_neg or i in used:
                continue
            dec = _decade(t)
            if dec is not None:
                # "early 90s" / "late 80s"
                prev = toks[i - 1] if i else ""
                a, b = dec
                if prev == "early":
                    b = a + 4
                elif prev == "late":
                    a = a + 5
                elif prev == "mid":
                    a, b = a + 3, a + 6
                lo = a if lo is None else min(lo, a)
                hi = b if hi is None else max(hi, b)
                used.add(i)
                found = True
                continue
            if _YEAR.match(t):
                year = int(t)
                prev = toks[i - 1] if i else ""
                prev2 = toks[i - 2] if i > 1 else ""
                if prev in ("before", "until", "pre", "prior") or (prev == "to" and prev2 == "prior"):
                    hi, found = year - 1 if prev != "until" else year, True
                elif prev in ("after", "post"):
                    lo, found = year + 1, True
                elif prev in ("since", "from") and not (i + 2 < len(toks) and toks[i + 1] in ("to", "and")):
                    lo, found = year, True
                elif prev in ("between", "from") and i + 2 < len(toks) and toks[i + 1] in ("and", "to") \
                        and _YEAR.match(toks[i + 2]):
                    lo, hi, found = year, int(toks[i + 2]), True
                    used.update((i + 1, i + 2))
                elif prev in ("in", "of", "year") or i + 1 < len(toks) and toks[i + 1] in KIND_NOUNS:
                    lo, hi, found = year, year, True
                else:
                    continue
                used.add(i)
        if toks and not found:
            for i, t in enumerate(toks):
                if i in in_neg or i in used:
                    continue
                if t in ("recent", "newer", "latest", "modern") or (t == "new" and i + 1 < len(toks)
                                                                     and toks[i + 1] in KIND_NOUNS):
                    lo, found = 2015, True
                    used.add(i)
                elif t in ("oldies", "classic") and i + 1 < len(toks) and toks[i + 1] in KIND_NOUNS:
                    hi, found = 1989, True
        if found and (lo is not None or hi is not None):
            if lo is not None and hi is not None and lo > hi:
                lo, hi = hi, lo
            constraints["years"] = (lo, hi)

    @staticmethod
    def _popularity_pass(toks: list[str], in_neg: set[int], used: set[int]) -> tuple[float | None, float | None] | None:
        for i, t in enumerate(toks):
            if i in in_neg:
                continue
            nxt = toks[i + 1] if i + 1 < len(toks) else ""
            if t in ("lesser", "less") and nxt in ("known", "popular"):
                used.update((i, i + 1))
                return (None, 50.0)
            if t in ("hidden", "deep") and nxt in ("gems", "gem", "cuts", "cut"):
                used.update((i, i + 1))
                return (None, 50.0)
            if t in ("obscure", "underground", "underrated", "unknown", "niche") or (t == "not" and nxt == "famous"):
                used.add(i)
                return (None, 50.0)
            if t in ("popular", "mainstream", "famous", "biggest") or (t == "well" and nxt == "known"):
                used.add(i)
                return (70.0, None)
        return None

    @staticmethod
    def _kind(toks: list[str], used: set[int]) -> tuple[str, set[int]]:
        """The requested kind (first kind noun that is not part of a cue) and the positions of kind nouns."""
        kind = None
        positions: set[int] = set()
        for i, t in enumerate(toks):
            if t not in KIND_NOUNS:
                continue
            positions.add(i)
            if kind is not None:
                continue
            prev = toks[i - 1] if i else ""
            if prev in ("s", "own") or prev in ("same",):  # "X's songs", "same album as"
                continue
            nxt = toks[i + 1] if i + 1 < len(toks) else ""
            if KIND_NOUNS[t] == "playlist" and prev in ("in", "from", "the", "same", "my", "a", "for") \
                    and kind is None and any(KIND_NOUNS.get(x) == "song" for x in toks):
                continue  # "songs for my playlist", "in playlists with"
            if KIND_NOUNS[t] == "album" and nxt in ("as", "with"):
                continue
            kind = KIND_NOUNS[t]
        return kind or "song", positions

    @staticmethod
    def _count(toks: list[str], used: set[int]) -> int | None:
        for i, t in enumerate(toks):
            n = int(t) if t.isdigit() and len(t) <= 3 else _NUMBER_WORDS.get(t)
            if n is None or _YEAR.match(t):
                continue
            prev = toks[i - 1] if i else ""
            nxt = toks[i + 1] if i + 1 < len(toks) else ""
            nxt2 = toks[i + 2] if i + 2 < len(toks) else ""
            if prev == "top" or nxt in KIND_NOUNS or (nxt in _FILLER | {"more"} and nxt2 in KIND_NOUNS) \
                    or prev in ("give", "me", "list", "find", "show", "recommend", "suggest", "name"):
                if t == "dozen" and prev == "a":
                    n = 12
                used.add(i)
                return max(1, min(int(n), 100))
        return None

    @staticmethod
    def _per_artist(toks: list[str]) -> int | None:
        text = " ".join(toks)
        m = re.search(r"\b(one|1|two|2|three|3) (?:song|track|songs|tracks)? ?per (?:artist|band|singer)", text)
        if m:
            return {"one": 1, "1": 1, "two": 2, "2": 2, "three": 3, "3": 3}[m.group(1)]
        if re.search(r"\b(?:different|distinct|unique|various) (?:artists|bands|singers)\b", text) or \
                re.search(r"\bno (?:artist|band) twice\b", text):
            return 1
        return None

    def _is_constraint(self, m: Mention, toks: list[str], kind_pos: set[int], has_entity: bool) -> bool | None:
        """What a tag or genre mention is: True a constraint, None a soft seed, False a plain word.

        Genres, and tags in attribute position ("indie bands", "tagged shoegaze", "in hip hop"), are
        constraints; so is a frequent tag beside a named artist or song ("X fans ... britpop"),
        unless it is an ordinary English word ("love", "beautiful"), which is then just a word.
        """
        before = toks[max(m.start - 2, 0):max(m.start, 0)]
        after = toks[m.end:m.end + 1] if m.end >= 0 else []
        if any(w in ("tagged", "genre", "tag", "in", "into", "of", "is", "are") for w in before[-1:]):
            return True
        if after and (after[0] in KIND_NOUNS or after[0] in ("genre", "tag", "scene", "style", "music")):
            return True
        ordinary = self.emotion is not None and all(self.emotion.word_va(w) is not None for w in m.surface.split())
        if m.key in self.genres and not ordinary:
            return True
        if has_entity:
            if ordinary:
                return False
            return True if self.tag_artists.get(m.key, 0) >= CONSTRAINT_TAG_ARTISTS or m.key in self.genres else None
        return True if m.key in self.genres else None

    def _coordinated_artists(self, toks: list[str], mentions: list[Mention]) -> list[Mention]:
        """Read "<artist> and <word>" as two artists when the word names one ("Madonna and Prince")."""
        artists = [m for m in mentions if m.label == Label.ARTIST]
        if not artists or self.linker is None:
            return mentions
        out = []
        for m in mentions:
            if m.label in (Label.TAG, Label.GENRE, Label.MOOD) and m.start > 0 and toks[m.start - 1] in _COORD \
                    and any(a.end == m.start - 1 for a in artists):
                hit = self.linker.artist_named(m.surface)
                if hit is not None:
                    out.append(Mention(Label.ARTIST, hit[0], hit[1], m.surface, m.score, m.start, m.end))
                    continue
            out.append(m)
        return out

    def _relation(self, toks: list[str], m: Mention, kind: str) -> tuple[Relation | None, set[int]]:
        """The relation the words around a mention give it (None: the label's default), with the cue's positions."""
        s, e = m.start, m.end
        if s < 0:
            return None, set()
        before = [t for t in toks[max(0, s - 6):s]]
        # skip fillers between the cue and the name ("fans of the", "like some")
        while before and before[-1] in ("the", "a", "an", "some", "artist", "band", "singer", "both", "either",
                                         "song", "track", "rapper", "group", "dj"):
            before.pop()
        after = toks[e:e + 3]
        allowed = {Label.ARTIST: {Relation.FANS_OF, Relation.SIMILAR_TO, Relation.PERFORMED_BY, Relation.MEMBER_OF,
                                  Relation.IN_PLAYLIST_WITH},
                   Label.SONG: {Relation.FANS_OF, Relation.SIMILAR_TO, Relation.SAME_ALBUM, Relation.IN_PLAYLIST_WITH},
                   Label.ALBUM: {Relation.SIMILAR_TO, Relation.SAME_ALBUM},
                   Label.PLAYLIST: {Relation.IN_PLAYLIST_WITH}}.get(m.label, set())
        for cue, rel in _BEFORE:
            if rel in allowed and _ends_with(before, cue):
                if rel == Relation.PERFORMED_BY and kind == "artist":
                    continue  # "artists by X" is not a thing; "by" then means "similar"
                start = s - len(cue)
                return rel, set(range(max(start, 0), s))
        for cue, rel in _AFTER:
            if rel in allowed and _starts_with(after, cue):
                if rel == Relation.PERFORMED_BY and kind not in ("song", "album"):
                    continue
                return rel, set(range(e, e + len(cue)))
        if m.label == Label.ARTIST and before and before[-1] in ("from", "of") and kind in ("song", "album"):
            return Relation.PERFORMED_BY, {s - 1}
        if m.label == Label.ALBUM and before and before[-1] in ("on", "from", "off") and kind == "song":
            return Relation.SAME_ALBUM, {s - 1}
        return None, set()

    @staticmethod
    def _combine(toks: list[str], seeds: list[Seed]) -> str:
        entity = [s for s in seeds if s.label in (Label.ARTIST, Label.SONG)]
        if len(entity) < 2:
            return "any"
        words = set(toks)
        if words & _BOTH:
            return "all"
        if words & _ANY:
            return "any"
        if sum(1 for s in entity if s.relation == Relation.FANS_OF) >= 2:
            return "all"
        return "any"

    def _mood_point(self, toks: list[str], in_neg: set[int], targets: dict[str, Any], mood_words: list[str],
                    seeds: list[Seed]) -> None:
        pairs: list[tuple[float, float]] = []
        for mood in targets["moods"]:
            if mood in MOOD_VA:
                pairs += [MOOD_VA[mood]] * 2
        if self.emotion is not None:
            seed_words = {w for s in seeds for w in (s.surface or "").split()}
            for j, t in enumerate(toks):
                if j in in_neg or t in STOPWORDS or t in REQUEST_WORDS or t in seed_words or t in LEXICON \
                        or t in KIND_NOUNS:
                    continue
                va = self.emotion.word_va(t)
                if va is not None and (abs(va[0] - 0.5) >= 0.2 or abs(va[1] - 0.5) >= 0.2):
                    pairs.append(va)
                    mood_words.append(t)
        if pairs:
            targets["valence"] = round(sum(p[0] for p in pairs) / len(pairs), 3)
            targets["arousal"] = round(sum(p[1] for p in pairs) / len(pairs), 3)


def parsed_summary(req: Request) -> dict[str, Any]:
    """The JSON form of a parsed request for ``--explain`` (defaults left out)."""
    return req.model_dump(exclude_defaults=True)


__all__ += ["parsed_summary"]
