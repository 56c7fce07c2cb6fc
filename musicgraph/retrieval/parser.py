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
from musicgraph.normalize import fold_accents, spell_and
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
from musicgraph.retrieval.text import REQUEST_WORDS, STOPWORDS, tokenize

if TYPE_CHECKING:
    from musicgraph.retrieval.emotion import EmotionAnalyzer
    from musicgraph.retrieval.linking import EntityLinker
    from musicgraph.retrieval.resources import GraphResources

log = logging.getLogger(__name__)

__all__ = ["RequestParser", "text_only_request"]

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*|[,.;?](?=\s|$)|!$|[()]")
_POSSESSIVE = re.compile(r"(\w+)'s\b")

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
        "the fans of", "crowd of", "people who stream", "who stream", "who streams", "people who play",
        "a typical", "typical", "the typical", "other fans of", "listeners who like", "fans who like")],
    *[(tuple(c.split()), Relation.SIMILAR_TO) for c in (
        "similar to", "like", "sounds like", "sound like", "sounding like", "style of", "the style of",
        "similar artists to", "similar bands to", "similar music to", "similar songs to", "a style like",
        "similar to the likes of", "the likes of", "in the vein of", "along the lines of", "same vein as",
        "vein of", "reminds me of", "remind me of", "reminiscent of", "vibe of", "vibes of", "spirit of",
        "akin to", "comparable to", "close to", "related to", "along the lines of", "influenced by",
        "inspired by", "in the mold of", "alike to", "resembling", "resemble", "resembles", "close to",
        "similar style to", "a similar style to", "same sound as", "sound of", "vibe like")],
    *[(tuple(c.split()), Relation.PERFORMED_BY) for c in (
        "by", "written by", "performed by", "sung by", "recorded by", "released by", "from the artist",
        "put on some", "put on", "shuffle", "play some", "play me some", "queue up some", "spin some", "blast some",
        "start with", "the tracks", "songs from", "tracks from", "all of", "everything by", "anything by")],
    *[(tuple(c.split()), Relation.MEMBER_OF) for c in (
        "members of", "member of", "side projects of", "side project of", "collaborated with",
        "collaborators of", "collaborations with", "collaboration with", "worked with", "featuring", "feat",
        "ft", "bandmates of", "projects of", "collabs with", "collab with", "featured on songs with",
        "featured with", "songs with", "a track with", "a song with", "track with", "tracks with", "recorded with",
        "duets with", "duet with", "teamed up with", "played with", "performed with", "sang with")],
    *[(tuple(c.split()), Relation.SAME_ALBUM) for c in (
        "same album as", "the same album as", "album with", "from the album", "off the album", "on the album",
        "album as", "same record as", "record with")],
    *[(tuple(c.split()), Relation.IN_PLAYLIST_WITH) for c in (
        "playlists with", "playlist with", "alongside", "together with", "goes well with", "go well with",
        "pairs well with", "pair well with", "playlisted with", "same playlist as", "same playlists as",
        "appear with", "appears with", "next to", "in playlists with", "from the playlist", "in the playlist",
        "on the playlist", "songs from playlist", "tracks from playlist")],
], key=lambda x: -len(x[0]))

_AFTER: list[tuple[tuple[str, ...], Relation]] = sorted([
    *[(tuple(c.split()), Relation.FANS_OF) for c in (
        "fans", "fan", "listeners", "listener", "lovers", "stans", "fanbase", "followers", "heads", "crowd",
        "audience", "s fans", "s listeners", "s fanbase", "s audience", "s crowd", "s followers", "s lovers",
        "also stream", "is all i listen to")],
    *[(tuple(c.split()), Relation.SIMILAR_TO) for c in ("esque", "ish", "vibes", "type", "alikes", "s style",
                                                           "style", "s sound", "sound", "kind of sound",
                                                           "sort of sound", "type of sound", "s kind of sound",
                                                           "lookalikes", "soundalikes", "is my favourite",
                                                           "is my favorite", "are my favourite", "are my favorite")],
    *[(tuple(c.split()), Relation.PERFORMED_BY) for c in (
        "songs", "tracks", "albums", "s songs", "s tracks", "s albums", "s music", "s discography", "discography",
        "s hits", "s records", "s catalogue", "s catalog", "s own", "s music", "put out", "has put out",
        "has recorded", "recorded", "has released", "released", "for me")],
    *[(tuple(c.split()), Relation.MEMBER_OF) for c in (
        "members", "s members", "collaborators", "s collaborators", "side projects", "s side projects",
        "s bandmates", "bandmates", "worked with", "has worked with", "have worked with", "teamed up with",
        "has teamed up with", "collaborated with", "has collaborated with", "featured with", "s features",
        "s collabs", "collabs")],
    *[(tuple(c.split()), Relation.IN_PLAYLIST_WITH) for c in ("playlist", "playlists")],
], key=lambda x: -len(x[0]))

_BOTH = frozenset({"both"})
#: words before a one-word genre name that make it an ordinary word ("songs that rock", "for my house")
_VERBAL_PREV = frozenset({"that", "which", "to", "my", "your", "our", "his", "her", "their", "for", "with", "a",
                          "this", "who", "it", "they", "we", "you", "i"})
_AFTER_FILLER = frozenset({"best", "top", "greatest", "latest", "new", "biggest", "most", "famous", "popular",
                           "classic", "essential", "early", "old", "recent"})
#: lexicon phrases read by other passes (popularity, era) or meaning a feature only, no mood
_NOT_LEXICON = frozenset({"popular", "hits", "mainstream", "obscure", "underground", "recent", "new"})
_FEATURE_ONLY = frozenset({"high energy", "low energy", "fast", "slow", "loud", "quiet", "soft", "acoustic",
                           "instrumental", "danceable", "dance", "dancing"})
#: words that end a song title's span before "by <artist>"
_TITLE_STOP = frozenset({"with", "alongside", "as", "has", "have", "include", "includes", "including", "like",
                         "after", "by", "from", "(", ")", ";", "?", "playlist", "playlists", "album", "record",
                         "records", "albums"})
#: words that end a name's span
_BOUNDARY = frozenset({",", ".", ";", "!", "?", "(", ")", "by", "from", "and", "or", "but", "with", "that", "who",
                       "which", "playlist", "playlists", "album", "albums", "songs", "song", "tracks", "track"})
_SCOPE_END = frozenset({"and", "or", "but", "just", "only", "please", "for", "with", "that", "to", "like", ",", ".", ";",
                        "!", "?", "(", ")", "so", "because", "cause", "as", "i", "im", "ive"})
#: words that open a negated scope beside the lexicon's ("skip X", "leave X out", "anyone but X")
_MORE_NEGATIONS = frozenset({"skip", "avoid", "hate", "hates", "arent", "isnt", "wasnt", "werent", "leave", "minus",
                             "sans", "excluding", "except", "ban", "drop"})
#: post-cue words that belong to the cue, not to the text to search ("fans", "listeners")
POST_CUE_WORDS = frozenset({"fans", "fan", "listeners", "listener", "lovers", "stans", "fanbase", "followers",
                            "audience", "crowd", "collaborators", "members", "bandmates", "discography"})
#: words that are tags somewhere in Last.fm but never mean one in a request
_NOT_TAGS = frozenset({"s", "old", "new", "top", "lyrics", "kids", "radio", "energy", "power", "favorite", "none",
                       "nothing", "pre", "post", "mid", "early", "late", "favourites", "favorites", "shared", "fans",
                       "favourite", "cool", "names", "versions", "best", "good", "great", "love", "songs", "music",
                       "version", "hear", "want", "people", "friendly", "family", "explicit", "clean", "only"})
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


_INITIAL = re.compile(r"\b([a-z])\.(?=\s|$|[a-z])")
_CONTRACTIONS = frozenset({"it", "that", "what", "there", "here", "he", "she", "who", "let", "where", "how"})


def _split_possessive(m: re.Match[str]) -> str:
    word = m.group(1)
    return m.group(0) if word.lower() in _CONTRACTIONS else f"{word} 's"


def _tokens(text: str) -> list[str]:
    text = spell_and(fold_accents(text))
    text = re.sub(r"\.(?='s\b)", "", text)  # "m.i.a.'s" -> "m.i.a's"
    text = _ABBREV.sub(r"\1", _INITIAL.sub(r"\1 ", _POSSESSIVE.sub(_split_possessive, text)))
    return [t.replace("'", "") for t in _TOKEN.findall(text)]


def normalize_words(name: str) -> list[str]:
    """The words of a name as the tokenizer reads them."""
    return [t for t in _tokens(name) if t not in ",.;!?()"]


def _inside(j: int, mentions: Sequence[Mention]) -> bool:
    return any(m.start <= j < m.end for m in mentions)


def _trivial(m: Mention) -> bool:
    """A mention the words cannot mean: a one-letter name, or a short or ordinary word as a tag."""
    if m.label in (Label.TAG, Label.GENRE):
        return m.surface in _NOT_TAGS or len(m.surface.replace(" ", "")) <= 2
    return len(m.surface.replace(" ", "")) <= 1


def _generic_positions(toks: Sequence[str]) -> set[int]:
    return {j for j, t in enumerate(toks) if t in _NOT_TAGS and t not in ("love",)}


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
        markers = {j for j, t in enumerate(toks) if t == "s" and j > 0}  # the "'s" of possessives
        # 1. names first, before the lexicon and negations read their words: songs given with their
        #    artist ("T by A", "T (A)"), then names of two or more words (exact, then with typos)
        mentions: list[Mention] = []
        if self.linker is not None:
            mentions += self._songs_with_artist(toks, markers)
            mentions += self._playlists(toks, {j for m in mentions for j in range(m.start, m.end)})
            mentions += self._fuzzy_names(toks, markers, mentions, lengths=(5, 4))
            free = [j for j in range(len(toks)) if not _inside(j, mentions)]
            mentions += self.linker.exact_spans(
                toks, free, min_len=2,
                accept=lambda m: not self._weak_attr(m) and m.start not in markers and m.end - 1 not in markers)
            mentions += self._fuzzy_names(toks, markers, mentions, lengths=(3, 2))
        named = {j for m in mentions for j in range(m.start, m.end)}
        negated = self._negations(toks, named)
        in_neg = {j for s_, e_ in negated for j in range(s_, e_)}
        constraints: dict[str, Any] = {"features": {}}
        targets: dict[str, Any] = {"moods": [], "features": {}, "avoid_moods": []}
        used: set[int] = set(markers)
        mood_words: list[str] = []
        self._lexicon_pass(toks, in_neg, used | named, constraints, targets, mood_words, used)
        self._era_pass(toks, in_neg, used | named, constraints, used)
        pop = self._popularity_pass(toks, in_neg, used | named, used)
        if pop is not None:
            constraints["popularity"] = pop
        for s_, e_ in negated:  # "no vocals" -> instrumental; "no explicit lyrics" -> clean
            span = toks[s_:e_]
            if any(t in EXPLICIT_WORDS for t in span):
                constraints["explicit"] = False
                used.update(range(s_, e_))
            elif any(t in VOCAL_WORDS for t in span):
                constraints["features"]["instrumentalness"] = (0.5, None)
                used.update(j for j in range(s_, e_) if toks[j] in VOCAL_WORDS)
        cue_pos, starts, ends = self._cues(toks, named)
        kind, kind_pos = self._kind(toks, named)
        k_found = self._count(toks, used)
        # 2. the other entities: single words (exact), names with typos next to a cue, playlists
        if self.linker is not None:
            skip = used | named | kind_pos | cue_pos | _generic_positions(toks)
            starts |= self._coordination_anchors(toks, mentions)
            positive = [j for j in range(len(toks)) if j not in in_neg]
            mentions += [m for m in self.linker.link(toks, positive, skip=skip, starts=starts, ends=ends)
                         if not _trivial(m) and not self._weak_attr(m)]
            # a name after "<artist> or" that the first pass left (the artist itself was found there)
            more = self._coordination_anchors(toks, mentions) - starts
            if more:
                taken_now = skip | {j for m in mentions for j in range(m.start, m.end)}
                mentions += [m for m in self.linker.link(toks, positive, skip=taken_now, starts=more, ends=ends)
                             if not _trivial(m) and not self._weak_attr(m)]
            for s_, e_ in negated:
                for m in self.linker.link(toks, list(range(s_, e_)), skip=used | cue_pos | named,
                                          starts={s_} | starts, ends=ends):
                    if not _trivial(m) and not self._weak_attr(m):
                        mentions.append(m)
            mentions = self._coordinated_artists(toks, mentions)
        seeds: list[Seed] = []
        exclude: list[EntityRef] = []
        tags: list[str] = []
        cue_used: set[int] = set()
        has_entity = any(m.label in (Label.ARTIST, Label.SONG, Label.PLAYLIST, Label.ALBUM) and m.start not in in_neg
                         for m in mentions)
        previous: Relation | None = None
        for m in sorted(mentions, key=lambda m: m.start):
            if any(j in in_neg for j in range(m.start, max(m.end, m.start + 1))):
                if not any(e.label == m.label and e.key == m.key for e in exclude):
                    exclude.append(EntityRef(label=m.label, name=m.name, key=m.key))
                continue
            if m.label in (Label.TAG, Label.GENRE):
                verdict = self._is_constraint(m, toks, kind_pos, has_entity)
                if verdict is True:
                    if m.name not in tags:
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
            if relation is None:
                relation = self._default_relation(toks, m, kind)
            previous = relation
            cue_used.update(span)
            if any(x.label == m.label and x.key == m.key for x in seeds):
                continue
            seeds.append(Seed(label=m.label, name=m.name, key=m.key, relation=relation, surface=m.surface,
                              confidence=min(m.score, 1.0)))
        if any(s.label == Label.PLAYLIST and s.relation == Relation.IN_PLAYLIST_WITH for s in seeds) \
                and kind == "playlist" and not self._asks_for_playlists(toks, kind_pos):
            kind = "song"  # "play the Cardio playlist": its songs
        if kind == "song" and not (kind_pos - named) and seeds and all(
                x.relation == Relation.MEMBER_OF for x in seeds if x.label == Label.ARTIST) \
                and any(x.label == Label.ARTIST for x in seeds):
            kind = "artist"  # "X's collaborators"
        # moods from NRC-VAD and the canonical moods -> soft target point
        self._mood_point(toks, in_neg | named | cue_pos | cue_used, targets, mood_words, seeds)
        combine = self._combine(toks, seeds)
        constraints["tags"] = tags
        constraints["exclude"] = exclude
        # search terms: content words outside negations, entities, cues and kind nouns
        entity_pos = {j for m in mentions for j in range(max(m.start, 0), max(m.end, 0))}
        keep = [t for j, t in enumerate(toks) if j not in in_neg and j not in entity_pos and j not in cue_used
                and j not in cue_pos and j not in markers and t not in REQUEST_WORDS and t not in NEGATIONS
                and t not in KIND_NOUNS]
        terms = tokenize(" ".join(keep))
        dense_text = " ".join(t for j, t in enumerate(toks) if j not in in_neg and j not in markers
                              and t not in ",.;!?")
        data = {
            "text": text,
            "seeds": [x.model_dump() for x in seeds],
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

    # ----------------------------------------------------------------- names
    def _songs_with_artist(self, toks: list[str], markers: set[int]) -> list[Mention]:
        """"<title> by <artist>", "<title> from <artist>", "<title> (<artist>)": the artist's song,
        titles with typos included; the artist is part of the song's reference, not a seed."""
        assert self.linker is not None
        out: list[Mention] = []
        taken: set[int] = set()
        for i, t in enumerate(toks):
            if t not in ("by", "from", "(") or i == 0 or i in taken:
                continue
            # the artist: the longest exact (or, failing that, near) name right after the word
            best = None
            for alen in range(min(6, len(toks) - i - 1), 0, -1):
                span = toks[i + 1:i + 1 + alen]
                if any(x in (")", ",", ".", ";", "?", "!") for x in span):
                    continue
                phrase = " ".join(span)
                hit = self.linker.artist_named(phrase)
                if hit is None and len(phrase) >= 5 and alen >= 1:
                    fz = self.linker.fuzzy_artist(phrase, cutoff=0.88)
                    hit = (fz[0], fz[1]) if fz else None
                if hit is not None:
                    best = (alen, hit)
                    break
            if best is None:
                continue
            alen, (akey, aname) = best
            # the title: the longest run of words before the cue word that names one of the artist's songs
            found = None
            for tlen in range(min(8, i), 0, -1):
                window = toks[i - tlen:i]
                if any(j in taken for j in range(i - tlen, i)) or any(x in _TITLE_STOP for x in window):
                    continue
                phrase = " ".join(w for w in window if w not in (",", "."))
                exact = self.linker.songs_by_artist_title.get((akey, phrase))
                if exact is not None:
                    found = (tlen, exact, self.linker._song_names.get(exact, phrase), 1.0)
                    break
                if tlen <= 6 and len(phrase) >= 4:
                    fz = self.linker.fuzzy_title(phrase, artist=akey, cutoff=0.82)
                    if fz is not None and (found is None or fz[2] > found[3] + 1e-9):
                        found = (tlen, fz[0], fz[1], fz[2])
            if found is None:
                continue
            tlen, key, title, ratio = found
            end = i + 1 + alen + (1 if toks[i] == "(" and i + 1 + alen < len(toks) and toks[i + 1 + alen] == ")" else 0)
            out.append(Mention(Label.SONG, key, title, " ".join(toks[i - tlen:end]), round(min(ratio, 1.0), 3),
                               i - tlen, end))
            taken.update(range(i - tlen, end))
        return out

    def _fuzzy_names(self, toks: list[str], markers: set[int], found: list[Mention],
                     lengths: Sequence[int] = (5, 4, 3, 2)) -> list[Mention]:
        """Artist names of two or more words with a typo ("Siisters of Mercy"): spans holding a word the
        catalog's vocabulary does not know, matched to the closest artist name (ratio >= 0.88)."""
        assert self.linker is not None
        taken = {j for m in found for j in range(m.start, m.end)}
        vocab = self.linker.vocabulary
        known_words = self.linker.known_words
        out: list[Mention] = []
        for length in lengths:
            for s_ in range(0, len(toks) - length + 1):
                span = range(s_, s_ + length)
                if any(j in taken for j in span) or s_ in markers or s_ + length - 1 in markers:
                    continue
                words_ = toks[s_:s_ + length]
                inner = words_[1:-1]
                if any(w in _BOUNDARY for w in (words_[0], words_[-1])) or words_[-1] in STOPWORDS \
                        or any(w in _BOUNDARY and w != "and" for w in inner) or any(w in POST_CUE_WORDS for w in words_):
                    continue
                if all(w in vocab or w in known_words or w in STOPWORDS for w in words_):
                    continue  # a typo makes a word unknown; all-known words are not a misspelt name
                phrase = " ".join(words_)
                hit = self.linker.fuzzy_artist(phrase, cutoff=0.88)
                if hit is None:
                    continue
                key, name, ratio = hit
                if len(normalize_words(name)) != length and abs(len(normalize_words(name)) - length) > 1:
                    continue
                out.append(Mention(Label.ARTIST, key, name, phrase, round(ratio, 3), s_, s_ + length))
                taken.update(span)
        return out

    def _playlists(self, toks: list[str], skip: set[int]) -> list[Mention]:
        """Playlist names next to the word playlist ("the Cardio playlist", "playlist All Out 80s")."""
        assert self.linker is not None
        out: list[Mention] = []
        stop = {",", ".", ";", "?", "!", "(", ")", "playlist", "playlists"}

        def named(start: int, end: int) -> tuple[str, str] | None:
            words_ = toks[start:end]
            if not words_ or any(w in stop for w in words_) or any(j in skip for j in range(start, end)):
                return None
            for variant in (words_, words_[1:] if words_[0] == "the" else None):
                if variant:
                    hit = self.linker.playlist_named(" ".join(variant))
                    if hit is not None:
                        return hit
            return None

        for i, t in enumerate(toks):
            if t not in ("playlist", "mix"):
                continue
            hit = None
            for s_ in range(max(0, i - 7), i):  # "the X playlist": the longest name first
                hit = named(s_, i)
                if hit is not None:
                    out.append(Mention(Label.PLAYLIST, hit[0], hit[1], " ".join(toks[s_:i]), 1.0, s_, i + 1))
                    break
            if hit is not None:
                continue
            for e_ in range(min(len(toks), i + 9), i + 1, -1):  # "playlist X" / "the playlist X"
                hit = named(i + 1, e_)
                if hit is not None:
                    out.append(Mention(Label.PLAYLIST, hit[0], hit[1], " ".join(toks[i + 1:e_]), 1.0, i, e_))
                    break
        return out

    def _weak_attr(self, m: Mention) -> bool:
        """A tag that is no attribute of music: it holds a kind noun, a number, a lexicon phrase or only
        ordinary words ("post punk songs", "top 20", "high energy", "check out")."""
        if m.label not in (Label.TAG, Label.GENRE):
            return False
        words_ = m.surface.split()
        if any(w.isdigit() for w in words_):
            return True
        if m.key not in self.genres and (any(w in KIND_NOUNS for w in words_) or m.surface in LEXICON):
            return True
        if len(words_) == 1 and words_[0] in _NOT_TAGS:
            return True
        if m.key not in self.genres and len(words_) > 1 and any(w in _NOT_TAGS or w in STOPWORDS for w in words_):
            return True  # "old school", "my favourite", "seen live" as a request's words
        if m.label == Label.TAG and m.key not in self.genres and self.emotion is not None and len(words_) > 1 \
                and all(w in STOPWORDS or self.emotion.word_va(w) is not None or w in ("check", "out") for w in words_):
            return True
        return False

    def _coordination_anchors(self, toks: list[str], mentions: list[Mention]) -> set[int]:
        """Where a second name begins after "X and", "X or", "X or maybe" (X an artist)."""
        out: set[int] = set()
        for m in mentions:
            if m.label != Label.ARTIST or m.end >= len(toks) or toks[m.end] not in _COORD:
                continue
            j = m.end + 1
            while j < len(toks) and toks[j] in ("maybe", "perhaps", "also", "the", "even", "both", "either"):
                j += 1
            out.add(j)
        return out

    @staticmethod
    def _negations(toks: list[str], named: set[int]) -> list[tuple[int, int]]:
        """Negated scopes ("no X", "without Y", "except Z") whose negation word is not part of a name."""
        spans = []
        i = 0
        while i < len(toks):
            t = toks[i]
            nxt = toks[i + 1] if i + 1 < len(toks) else ""
            negation = (t in NEGATIONS or t in _MORE_NEGATIONS
                        or (t == "but" and i > 0 and toks[i - 1] in ("anyone", "anything", "everyone", "everything",
                                                                       "anybody", "any", "all"))
                        or (t in ("sick", "tired") and nxt == "of"))
            if negation and i not in named and not (t == "other" and nxt == "than"):
                if t in ("sick", "tired"):
                    i += 1
                j = i + 1
                while j < len(toks) and toks[j] in {"want", "more", "too", "any", "so", "very", "include", "including",
                                                    "play", "songs", "song", "tracks", "music", "by", "from", "of",
                                                    "than", "the", "for", "out", "anything", "stuff"}:
                    j += 1
                k_ = j
                while k_ < len(toks) and (toks[k_] not in _SCOPE_END or k_ in named):
                    k_ += 1
                if k_ > j:
                    spans.append((j, k_))
                i = k_
            elif t == "other" and nxt == "than":
                spans.append((i + 2, next((k_ for k_ in range(i + 2, len(toks)) if toks[k_] in _SCOPE_END
                                           and k_ not in named), len(toks))))
                i += 2
            else:
                i += 1
        return [(a, b) for a, b in spans if b > a]

    def _cues(self, toks: list[str], named: set[int]) -> tuple[set[int], set[int], set[int]]:
        """Positions of relation cue phrases, and where names may start (after a cue) or end (before one)."""
        pos: set[int] = set()
        starts: set[int] = set()
        ends: set[int] = set()
        for i in range(len(toks)):
            if i in named:
                continue
            for cue, _ in _BEFORE:
                if tuple(toks[i:i + len(cue)]) == cue and not any(j in named for j in range(i, i + len(cue))):
                    if len(cue) > 1:  # (one-word cues such as "like", "by" stay words too)
                        pos.update(range(i, i + len(cue)))
                    starts.add(i + len(cue))
        for i in range(len(toks)):
            for cue, _rel in _AFTER:
                if tuple(toks[i:i + len(cue)]) == cue and not any(j in named for j in range(i, i + len(cue))):
                    if len(cue) > 1 or cue[0] in POST_CUE_WORDS:
                        pos.update(range(i, i + len(cue)))
                    if not (len(cue) == 1 and cue[0] in KIND_NOUNS):  # "ska songs": a genre's songs as often
                        ends.add(i)
        # "like the rolling stoned": a name may start after a leading article
        starts |= {j + 1 for j in starts if j < len(toks) and toks[j] in ("the", "a", "an")}
        return pos, starts, ends

    @staticmethod
    def _asks_for_playlists(toks: list[str], kind_pos: set[int]) -> bool:
        """Whether the playlists themselves are asked for ("which playlists have ...", "playlists that include")."""
        for j in sorted(kind_pos):
            if toks[j] in ("playlists",) or (toks[j] == "playlist" and j > 0 and toks[j - 1] in ("a", "any", "find")):
                return True
        return False

    def _default_relation(self, toks: list[str], m: Mention, kind: str) -> Relation | None:
        """A relation from the request as a whole when no cue sits next to the name."""
        words_ = set(toks)
        if m.label == Label.SONG:
            if kind == "playlist" or words_ & {"playlist", "playlists", "playlisted", "alongside", "mix"}:
                return Relation.IN_PLAYLIST_WITH
            if words_ & {"album", "record", "lp"} and kind != "album":
                return Relation.SAME_ALBUM
        if m.label == Label.PLAYLIST:
            return Relation.IN_PLAYLIST_WITH
        if m.label == Label.ARTIST and words_ & {"collaborated", "collaborators", "collaborator", "featured", "feature",
                                                 "teamed", "worked", "collabs", "collab", "duets"}:
            return Relation.MEMBER_OF
        if m.label == Label.ARTIST:
            # the relation said elsewhere in the request ("obsessed with X ... other fans of theirs")
            if words_ & POST_CUE_WORDS - {"collaborators", "members", "bandmates", "discography"} \
                    or ("stream" in words_ and "people" in words_):
                return Relation.FANS_OF
            if words_ & {"discography", "recorded", "released"} or (" ".join(toks).find("their songs") >= 0):
                return Relation.PERFORMED_BY
        return None

    # ---------------------------------------------------------------- passes
    def _lexicon_pass(self, toks: list[str], in_neg: set[int], skip: set[int], constraints: dict[str, Any],
                      targets: dict[str, Any], mood_words: list[str], used: set[int]) -> None:
        i = 0
        while i < len(toks):
            if i in skip:
                i += 1
                continue
            hit = None
            for n in range(min(self._max_phrase, len(toks) - i), 0, -1):
                if any(j in skip for j in range(i, i + n)):
                    continue
                phrase = " ".join(toks[i:i + n])
                if phrase in LEXICON and phrase not in _NOT_LEXICON:
                    hit = (phrase, n)
                    break
            if hit is None:
                t, nxt = toks[i], toks[i + 1] if i + 1 < len(toks) else ""
                if (t in CLEAN_WORDS or (t in ("family", "radio", "kid", "kids") and nxt == "friendly")) \
                        and i not in in_neg:
                    constraints["explicit"] = False
                    used.update((i, i + 1) if nxt == "friendly" else (i,))
                elif t in EXPLICIT_WORDS and i not in in_neg:
                    constraints["explicit"] = True
                    used.add(i)
                    if nxt in ("lyrics", "versions", "version", "content"):
                        used.add(i + 1)
                i += 1
                continue
            phrase, n = hit
            span = range(i, i + n)
            moods, feats = LEXICON[phrase]
            if phrase in _FEATURE_ONLY:
                moods = ()
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
            nxt = toks[i + n] if i + n < len(toks) else ""
            if not (n == 1 and phrase in self.genres and nxt in KIND_NOUNS):  # "dance tracks": also the genre
                used.update(span)
            i += n

    def _era_pass(self, toks: list[str], in_neg: set[int], skip: set[int], constraints: dict[str, Any],
                  used: set[int]) -> None:
        lo: float | None = None
        hi: float | None = None
        found = False
        for i, t in enumerate(toks):
            if i in in_neg or i in skip:
                continue
            dec = _decade(t)
            if dec is not None:
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
                nxt, nxt2 = (toks[i + 1] if i + 1 < len(toks) else ""), (toks[i + 2] if i + 2 < len(toks) else "")
                if prev == "than" and prev2 in ("earlier", "older", "before", "sooner"):
                    hi, found = year - 1, True
                elif prev == "than" and prev2 in ("later", "newer", "after", "younger", "more"):
                    lo, found = year + 1, True
                elif prev in ("before", "until", "pre", "prior", "till") or (prev == "to" and prev2 == "prior"):
                    hi, found = (year if prev in ("until", "till") else year - 1), True
                elif prev in ("after", "post"):
                    lo, found = year + 1, True
                elif prev in ("between", "from") and nxt in ("and", "to") and _YEAR.match(nxt2):
                    lo, hi, found = year, int(nxt2), True
                    used.update((i + 1, i + 2))
                elif prev in ("since", "from"):
                    lo, found = year, True
                elif prev in ("in", "of", "year") or nxt in KIND_NOUNS:
                    lo, hi, found = year, year, True
                elif nxt in ("onwards", "onward", "on") or (nxt == "or" and nxt2 in ("later", "newer", "after")):
                    lo, found = year, True
                elif nxt == "or" and nxt2 in ("earlier", "older", "before"):
                    hi, found = year, True
                else:
                    continue
                used.add(i)
        if not found:
            for i, t in enumerate(toks):
                if i in in_neg or i in skip:
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
    def _popularity_pass(toks: list[str], in_neg: set[int], skip: set[int],
                         used: set[int]) -> tuple[float | None, float | None] | None:
        for i, t in enumerate(toks):
            if i in in_neg or i in skip:
                continue
            nxt = toks[i + 1] if i + 1 < len(toks) else ""
            if nxt in ("with", "among", "amongst", "in") and t in ("popular", "famous", "big", "known"):
                continue  # "popular with X's listeners": who likes them, not how popular they are
            if t in ("lesser", "less", "little", "barely", "hardly") and nxt in ("known", "popular", "heard"):
                used.update((i, i + 1))
                return (None, 50.0)
            if t == "under" and nxt == "the" and i + 2 < len(toks) and toks[i + 2] == "radar":
                used.update((i, i + 1, i + 2))
                return (None, 50.0)
            if t in ("hidden", "deep") and nxt in ("gems", "gem", "cuts", "cut"):
                used.update((i, i + 1))
                return (None, 50.0)
            if t in ("obscure", "underground", "underrated", "unknown", "niche") or (t == "not" and nxt == "famous"):
                used.add(i)
                return (None, 50.0)
            if t in ("popular", "mainstream", "famous", "biggest") or (t == "well" and nxt == "known"):
                used.update((i, i + 1) if t == "well" else (i,))
                return (70.0, None)
        return None

    @staticmethod
    def _kind(toks: list[str], skip: set[int]) -> tuple[str, set[int]]:
        """The requested kind (the first kind noun outside names and cues) and the positions of kind nouns."""
        kind = None
        positions: set[int] = set()
        for i, t in enumerate(toks):
            if t not in KIND_NOUNS:
                continue
            positions.add(i)
            if kind is not None or i in skip:
                continue
            prev = toks[i - 1] if i else ""
            nxt = toks[i + 1] if i + 1 < len(toks) else ""
            if prev == "same" and KIND_NOUNS[t] != "song":  # "the same album as"
                continue
            if KIND_NOUNS[t] == "playlist" and (prev in ("in", "from", "same", "my", "for", "on", "to", "your")
                                                 or nxt == "together"):
                continue  # "songs for my playlist", "in playlists with", "put on a playlist together"
            if t in ("album", "record", "lp") and (nxt in ("as", "with", "that") or prev in ("the", "that", "this")):
                continue  # "the same album as", "on the album with"
            kind = KIND_NOUNS[t]
        if kind is None and any(t in ("who", "whom", "whose") and (i == 0 or toks[i - 1] in (",", ".", ";", "?"))
                                for i, t in enumerate(toks)):
            kind = "artist"  # "who sounds like Moby?", "Pendulum is my favourite, who has that sort of sound"
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
            ahead = toks[i + 1:i + 5]
            first = next((x for x, w in enumerate(ahead) if w in KIND_NOUNS), None)
            ahead = ahead[:first + 1] if first is not None else ahead
            if prev == "top" or nxt in KIND_NOUNS or (nxt in _FILLER | {"more"} and nxt2 in KIND_NOUNS) \
                    or prev in ("give", "me", "list", "find", "show", "recommend", "suggest", "name") \
                    or (i == 0 and any(w in KIND_NOUNS for w in ahead)) \
                    or any(w in KIND_NOUNS for w in ahead) and not any(w in (",", ".", "by", "from") for w in ahead):
                if t == "dozen" and prev == "a":
                    n = 12
                used.add(i)
                if prev == "top":
                    used.add(i - 1)
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
        ordinary = self.emotion is not None and all(self.emotion.word_va(w) is not None for w in m.surface.split())
        attr_position = bool(before[-1:] and before[-1] in ("tagged", "genre", "tag", "in", "into", "of", "is", "are",
                                                             "as")) or bool(
            after and (after[0] in KIND_NOUNS or after[0] in ("genre", "tag", "scene", "style", "music", "acts")))
        if attr_position:
            return True if not (ordinary and m.key not in self.genres and after[:1] != ["music"]) else None
        if m.key in self.genres:
            # a genre is a constraint unless the words use it as a word ("songs that rock", "for my house")
            single_word_use = len(m.surface.split()) == 1 and before[-1:] and before[-1] in _VERBAL_PREV
            return None if single_word_use else True
        if ordinary:
            return False
        if has_entity:
            return True if self.tag_artists.get(m.key, 0) >= CONSTRAINT_TAG_ARTISTS else None
        return None

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
                                         "song", "track", "rapper", "group", "dj", "artists", "bands", "musicians"):
            before.pop()
        after = toks[e:e + 4]
        # and between the name and the cue ("X's best tracks", "X's greatest hits")
        if after[:1] == ["s"]:
            after = ["s", *[w for w in after[1:] if w not in _AFTER_FILLER]]
        else:
            after = [w for w in after if w not in _AFTER_FILLER]
        allowed = {Label.ARTIST: {Relation.FANS_OF, Relation.SIMILAR_TO, Relation.PERFORMED_BY, Relation.MEMBER_OF,
                                  Relation.IN_PLAYLIST_WITH},
                   Label.SONG: {Relation.FANS_OF, Relation.SIMILAR_TO, Relation.SAME_ALBUM, Relation.IN_PLAYLIST_WITH},
                   Label.ALBUM: {Relation.SIMILAR_TO, Relation.SAME_ALBUM},
                   Label.PLAYLIST: {Relation.IN_PLAYLIST_WITH}}.get(m.label, set())
        # a cue right after the name ("X fans", "X kind of sound") before one right before it: in
        # "songs by artists X's fanbase likes" or "songs with a X kind of sound" the name's own cue decides
        for cue, rel in _AFTER:
            if rel in allowed and _starts_with(after, cue) and not (len(cue) == 1 and cue[0] in KIND_NOUNS):
                if rel == Relation.PERFORMED_BY and kind not in ("song", "album"):
                    continue
                return rel, set(range(e, e + len(cue)))
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
