"""Query understanding: a free-text music request -> recommendation-engine parameters.

The default :class:`LexiconParser` is deterministic: hand-written phrase lexicons for moods,
activities and audio features, NRC-VAD for the valence/arousal of emotion words, negation scopes
("no Coldplay", "without vocals", "nothing sad") and the catalog's entity linker
(:class:`musicgraph.retrieval.linking.EntityLinker`) for seeds. :class:`LLMParser` is the optional
hook for a few-shot language-model parser producing the same :class:`ParsedQuery`.

>>> ParsedQuery(text="x").features
{}
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from musicgraph.errors import RequestError
from musicgraph.normalize import fold_accents
from musicgraph.retrieval.catalog import FEATURES
from musicgraph.retrieval.emotion import MOOD_VA
from musicgraph.retrieval.text import REQUEST_WORDS, STOPWORDS, tokenize

if TYPE_CHECKING:
    from musicgraph.retrieval.emotion import EmotionAnalyzer
    from musicgraph.retrieval.graph import EntityLinker

log = logging.getLogger(__name__)

Range = tuple[float | None, float | None]


#: A request that cannot be answered (the name kept for older callers; see :class:`RequestError`).
QueryError = RequestError


@dataclass(slots=True)
class Seed:
    """A catalog entity named in the request.

    ``role`` is ``like`` ("like Daft Punk": similar music, not the artist's own songs), ``by``
    ("songs by Adele": only that artist) or ``about`` (any other mention, e.g. a tag or genre).
    """

    label: str
    key: str
    name: str
    surface: str
    score: float = 1.0
    role: str = "about"


@dataclass(slots=True)
class ParsedQuery:
    """The structured form of a request (see the module docstring)."""

    text: str
    terms: list[str] = field(default_factory=list)
    dense_text: str = ""
    seeds: list[Seed] = field(default_factory=list)
    exclude: list[Seed] = field(default_factory=list)
    exclude_moods: list[str] = field(default_factory=list)
    moods: list[str] = field(default_factory=list)
    mood_words: list[str] = field(default_factory=list)
    valence: float | None = None
    arousal: float | None = None
    features: dict[str, Range] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    parser: str = "lexicon"
    #: hard filters read from the request (:mod:`musicgraph.retrieval.filters`): ``year`` from a
    #: decade, ``exclude_artists`` from "no <artist>", ``instrumentalness`` from "instrumental" or
    #: "no vocals", ``explicit: False`` from "clean" or "no explicit"
    filters: dict[str, Any] = field(default_factory=dict)

    @property
    def mood_target(self) -> tuple[float, float] | None:
        if self.valence is None or self.arousal is None:
            return None
        return (self.valence, self.arousal)

    @property
    def has_signal(self) -> bool:
        """Whether the request gives any searchable content (terms, seeds, mood or features)."""
        return bool(self.terms or self.seeds or self.moods or self.features or self.mood_target)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form (``--explain``)."""
        out = asdict(self)
        out["features"] = {k: list(v) for k, v in self.features.items()}
        return out


# --------------------------------------------------------------------------- lexicons
#: phrase -> (canonical moods, feature ranges). Phrases are folded word sequences.
LEXICON: dict[str, tuple[tuple[str, ...], dict[str, Range]]] = {
    # moods
    "happy": (("happy",), {"valence": (0.6, None)}),
    "cheerful": (("happy",), {"valence": (0.6, None)}),
    "joyful": (("happy",), {"valence": (0.6, None)}),
    "feel good": (("happy",), {"valence": (0.6, None)}),
    "feelgood": (("happy",), {"valence": (0.6, None)}),
    "uplifting": (("happy",), {"valence": (0.55, None)}),
    "upbeat": (("happy",), {"energy": (0.6, None), "valence": (0.55, None)}),
    "sunny": (("happy",), {"valence": (0.6, None)}),
    "summer": (("happy",), {"valence": (0.55, None), "energy": (0.55, None)}),
    "road trip": (("happy",), {"energy": (0.55, None)}),
    "sad": (("sad",), {"valence": (None, 0.4)}),
    "melancholic": (("sad",), {"valence": (None, 0.4)}),
    "melancholy": (("sad",), {"valence": (None, 0.4)}),
    "depressing": (("sad",), {"valence": (None, 0.35)}),
    "heartbreak": (("sad",), {"valence": (None, 0.4)}),
    "heartbroken": (("sad",), {"valence": (None, 0.4)}),
    "crying": (("sad",), {"valence": (None, 0.4)}),
    "lonely": (("sad",), {"valence": (None, 0.45)}),
    "gloomy": (("sad",), {"valence": (None, 0.4)}),
    "rainy": (("sad",), {"valence": (None, 0.5), "energy": (None, 0.6)}),
    "angry": (("angry",), {"energy": (0.7, None), "valence": (None, 0.45)}),
    "aggressive": (("angry",), {"energy": (0.75, None)}),
    "rage": (("angry",), {"energy": (0.75, None)}),
    "furious": (("angry",), {"energy": (0.75, None)}),
    "energetic": (("energetic",), {"energy": (0.7, None)}),
    "high energy": (("energetic",), {"energy": (0.7, None)}),
    "low energy": ((), {"energy": (None, 0.4)}),
    "pump up": (("energetic",), {"energy": (0.75, None)}),
    "hype": (("energetic",), {"energy": (0.75, None)}),
    "workout": (("energetic",), {"energy": (0.7, None), "tempo": (115, None)}),
    "gym": (("energetic",), {"energy": (0.7, None), "tempo": (115, None)}),
    "running": (("energetic",), {"energy": (0.7, None), "tempo": (120, None)}),
    "party": (("happy",), {"danceability": (0.65, None), "energy": (0.6, None)}),
    "dance": ((), {"danceability": (0.65, None)}),
    "dancing": ((), {"danceability": (0.65, None)}),
    "danceable": ((), {"danceability": (0.65, None)}),
    "club": ((), {"danceability": (0.65, None), "energy": (0.6, None)}),
    "calm": (("calm",), {"energy": (None, 0.45)}),
    "chill": (("relaxed",), {"energy": (None, 0.5)}),
    "chilled": (("relaxed",), {"energy": (None, 0.5)}),
    "mellow": (("relaxed",), {"energy": (None, 0.5)}),
    "relaxing": (("relaxed",), {"energy": (None, 0.45)}),
    "relaxed": (("relaxed",), {"energy": (None, 0.45)}),
    "soothing": (("relaxed",), {"energy": (None, 0.4)}),
    "peaceful": (("calm",), {"energy": (None, 0.4)}),
    "study": (("calm",), {"energy": (None, 0.55), "speechiness": (None, 0.15)}),
    "studying": (("calm",), {"energy": (None, 0.55), "speechiness": (None, 0.15)}),
    "focus": (("calm",), {"energy": (None, 0.55), "speechiness": (None, 0.15)}),
    "concentrate": (("calm",), {"energy": (None, 0.55), "speechiness": (None, 0.15)}),
    "sleep": (("calm",), {"energy": (None, 0.35)}),
    "sleeping": (("calm",), {"energy": (None, 0.35)}),
    # sound
    "acoustic": ((), {"acousticness": (0.6, None)}),
    "instrumental": ((), {"instrumentalness": (0.5, None)}),
    "fast": ((), {"tempo": (120, None)}),
    "slow": ((), {"tempo": (None, 100)}),
    "loud": ((), {"loudness": (-6.0, None)}),
    "quiet": ((), {"loudness": (None, -10.0), "energy": (None, 0.5)}),
    "soft": ((), {"energy": (None, 0.5)}),
    "live": ((), {"liveness": (0.6, None)}),
    "minor key": ((), {"mode": (None, 0.0)}),
    "major key": ((), {"mode": (1.0, None)}),
    "popular": ((), {"popularity": (60, None)}),
    "hits": ((), {"popularity": (60, None)}),
    "mainstream": ((), {"popularity": (60, None)}),
    "obscure": ((), {"popularity": (None, 40)}),
    "underground": ((), {"popularity": (None, 40)}),
    "recent": ((), {"year": (2015, None)}),
    "new": ((), {"year": (2015, None)}),
}

_DECADE = re.compile(r"^(?:19|20)?([0-9])0s$")
_DECADE_WORDS = {"sixties": 1960, "seventies": 1970, "eighties": 1980, "nineties": 1990}
#: Lexicon phrases that are hard filters as well as soft feature targets.
FILTER_PHRASES = frozenset({"instrumental"})
EXPLICIT_WORDS = frozenset({"explicit", "profanity", "swearing", "cursing"})
CLEAN_WORDS = frozenset({"clean", "radio-friendly", "family-friendly"})
NEGATIONS = frozenset({"no", "not", "without", "except", "excluding", "minus", "avoid", "nothing", "none", "dont", "never"})
_SCOPE_END = frozenset({"and", "or", "but", "just", "only", "please", "for", "with", "that", "to", "like", ",", ".", ";", "!", "?"})
VOCAL_WORDS = frozenset({"vocals", "vocal", "singing", "singer", "lyrics", "words", "voice", "voices"})
LIKE_CUES = (("similar", "to"), ("sounds", "like"), ("sound", "like"), ("style", "of"), ("fans", "of"), ("like",), ("reminds", "me", "of"))
BY_CUES = (("by",), ("from",), ("of",))
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*|[,.;!?]")
MAX_QUERY_CHARS = 2000


def _tokens(text: str) -> list[str]:
    return [t.replace("'", "") for t in _TOKEN.findall(fold_accents(text))]


def _merge_range(a: Range | None, b: Range) -> Range:
    if a is None:
        return b
    lo = b[0] if a[0] is None else a[0] if b[0] is None else max(a[0], b[0])
    hi = b[1] if a[1] is None else a[1] if b[1] is None else min(a[1], b[1])
    if lo is not None and hi is not None and lo > hi:  # contradictory words: keep the later one
        return b
    return (lo, hi)


def _decade(tok: str) -> tuple[int, int] | None:
    if tok in _DECADE_WORDS:
        start = _DECADE_WORDS[tok]
        return start, start + 9
    m = _DECADE.match(tok)
    if not m:
        return None
    digit = int(m.group(1))
    full = tok[:-1]
    if len(full) == 4:
        start = int(full)
    else:
        start = 2000 + digit * 10 if digit <= 2 else 1900 + digit * 10
    return start, start + 9


class LexiconParser:
    """The default, deterministic request parser.

    Args:
        linker: the catalog's entity linker (None: no seeds, e.g. in unit tests of the lexicon).
        emotion: an :class:`EmotionAnalyzer` for NRC-VAD (None: canonical moods only).
    """

    name = "lexicon"

    def __init__(self, linker: EntityLinker | None = None, emotion: EmotionAnalyzer | None = None):
        self.linker = linker
        self.emotion = emotion
        self._max_phrase = max(len(p.split()) for p in LEXICON)

    def parse(self, text: str) -> ParsedQuery:
        """Parse ``text``; raises :class:`QueryError` for an empty request."""
        if text is None or not str(text).strip():
            raise QueryError("empty query: describe the music you want, e.g. 'sad songs for a rainy night'")
        text = str(text)
        q = ParsedQuery(text=text)
        if len(text) > MAX_QUERY_CHARS:
            q.notes.append(f"query truncated to its first {MAX_QUERY_CHARS} characters")
            text = text[:MAX_QUERY_CHARS]
        toks = _tokens(text)
        negated = self._negated_spans(toks)
        in_neg = set()
        for s, e in negated:
            in_neg.update(range(s, e))
        # 1. lexicon phrases (positive and negated)
        used: set[int] = set()
        i = 0
        while i < len(toks):
            hit = None
            for n in range(min(self._max_phrase, len(toks) - i), 0, -1):
                phrase = " ".join(toks[i : i + n])
                if phrase in LEXICON:
                    hit = (phrase, n)
                    break
            if hit is None:
                dec = _decade(toks[i])
                if dec is not None and i not in in_neg:
                    q.features["year"] = (float(dec[0]), float(dec[1]))
                    q.reasons["year"] = toks[i]
                    q.filters["year"] = (float(dec[0]), float(dec[1]))
                    used.add(i)
                elif toks[i] in EXPLICIT_WORDS and i in in_neg or toks[i] in CLEAN_WORDS and i not in in_neg:
                    q.filters["explicit"] = False
                    q.reasons["explicit"] = toks[i]
                    used.add(i)
                i += 1
                continue
            phrase, n = hit
            span = range(i, i + n)
            if any(j in in_neg for j in span):
                for mood in LEXICON[phrase][0]:
                    if mood not in q.exclude_moods:
                        q.exclude_moods.append(mood)
            else:
                moods, feats = LEXICON[phrase]
                for mood in moods:
                    if mood not in q.moods:
                        q.moods.append(mood)
                for feat, rng in feats.items():
                    q.features[feat] = _merge_range(q.features.get(feat), rng)
                    q.reasons[feat] = phrase
                    if phrase in FILTER_PHRASES:
                        q.filters[feat] = rng
                q.mood_words.append(phrase)
            used.update(span)
            i += n
        # 2. vocals in a negated scope -> instrumental
        for s, e in negated:
            if any(t in VOCAL_WORDS for t in toks[s:e]):
                q.features["instrumentalness"] = (0.5, None)
                q.reasons["instrumentalness"] = "no " + next(t for t in toks[s:e] if t in VOCAL_WORDS)
                q.filters["instrumentalness"] = (0.5, None)
                used.update(j for j in range(s, e) if toks[j] in VOCAL_WORDS)
        # 3. entities
        if self.linker is not None:
            positive = [j for j in range(len(toks)) if j not in in_neg]
            for seed in self.linker.link(toks, positive, skip=used):
                seed.role = self._role(toks, seed)
                q.seeds.append(seed)
            for s, e in negated:
                for seed in self.linker.link(toks, list(range(s, e)), skip=used):
                    q.exclude.append(seed)
                    if seed.label == "Artist":
                        q.filters.setdefault("exclude_artists", []).append(seed.key)
        # 4. mood target: canonical moods (weight 2) and other emotional words via NRC-VAD
        pairs: list[tuple[float, float]] = []
        for mood in q.moods:
            pairs += [MOOD_VA[mood]] * 2
        if self.emotion is not None:
            seed_words = {w for s in q.seeds for w in s.surface.split()}
            for j, t in enumerate(toks):
                if j in in_neg or t in STOPWORDS or t in REQUEST_WORDS or t in seed_words or t in LEXICON:
                    continue
                va = self.emotion.word_va(t)
                if va is not None and (abs(va[0] - 0.5) >= 0.2 or abs(va[1] - 0.5) >= 0.2):
                    pairs.append(va)
                    q.mood_words.append(t)
        if pairs:
            q.valence = round(sum(p[0] for p in pairs) / len(pairs), 3)
            q.arousal = round(sum(p[1] for p in pairs) / len(pairs), 3)
        # 5. search terms: content words outside negated scopes and not consumed as pure feature words
        seed_tok = {w for s in q.seeds if s.role in ("like", "by") for w in tokenize(s.surface)}
        keep = [t for j, t in enumerate(toks) if j not in in_neg and t not in REQUEST_WORDS and t not in NEGATIONS]
        q.terms = [t for t in tokenize(" ".join(keep)) if t not in seed_tok]
        q.dense_text = " ".join(t for j, t in enumerate(toks) if j not in in_neg and t not in ",.;!?")
        if not q.has_signal:
            q.notes.append("nothing in the request matched the catalog or the mood/feature lexicon")
        return q

    @staticmethod
    def _negated_spans(toks: Sequence[str]) -> list[tuple[int, int]]:
        spans = []
        i = 0
        while i < len(toks):
            if toks[i] in NEGATIONS:
                j = i + 1
                # "don't want X", "no more X", "not too X": skip filler words
                while j < len(toks) and toks[j] in {"want", "more", "too", "any", "so", "very", "include", "including", "play"}:
                    j += 1
                k = j
                while k < len(toks) and toks[k] not in _SCOPE_END:
                    k += 1
                if k > j:
                    spans.append((j, k))
                i = k
            else:
                i += 1
        return spans

    @staticmethod
    def _role(toks: Sequence[str], seed: Seed) -> str:
        words_ = seed.surface.split()
        for i in range(len(toks)):
            if toks[i : i + len(words_)] == words_:
                before = tuple(toks[max(0, i - 3) : i])
                for cue in LIKE_CUES:
                    if before[-len(cue):] == cue:
                        return "like"
                if seed.label == "Artist":
                    for cue in BY_CUES:
                        if before[-len(cue):] == cue:
                            return "by"
                break
        return "about"


# --------------------------------------------------------------------------- LLM hook
FEW_SHOT = """Turn a music request into JSON with keys seeds (names of artists, songs, genres or tags it likes),
exclude (names it does not want), moods (from: happy, sad, angry, relaxed, calm, energetic) and features
(ranges [min, max] with null for open ends; keys: danceability, energy, valence, tempo, acousticness,
instrumentalness, speechiness, popularity, year).

Request: upbeat songs for a summer road trip like Daft Punk
JSON: {"seeds": ["Daft Punk"], "exclude": [], "moods": ["happy"], "features": {"energy": [0.6, null], "valence": [0.55, null]}}

Request: something calm to study to, no vocals
JSON: {"seeds": [], "exclude": [], "moods": ["calm"], "features": {"energy": [null, 0.55], "instrumentalness": [0.5, null]}}

Request: 80s rock anthems but no Queen
JSON: {"seeds": ["rock"], "exclude": ["Queen"], "moods": [], "features": {"year": [1980, 1989]}}

Request: {request}
JSON:"""


FEATURE_NAMES = frozenset(FEATURES)  # the catalog's feature columns: anything else a model returns is dropped


def _llm_shape_problem(data: Any) -> str | None:
    """Why a model's parsed JSON does not have the few-shot prompt's shape (None when it does)."""
    if not isinstance(data, dict):
        return "was not a JSON object"
    for key in ("seeds", "exclude", "moods"):
        value = data.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            return f"had a non-list-of-strings {key!r}"
    feats = data.get("features")
    if feats is not None and not isinstance(feats, dict):
        return "had 'features' that is not an object"
    return None


class LLMParser:
    """Optional few-shot parser: ``generate(prompt) -> str`` (a small offline model) fills a :class:`ParsedQuery`.

    Names the model returns are linked with the same :class:`EntityLinker`; unusable output falls back
    to ``fallback`` (the lexicon parser) with a note, so a weak model never breaks a request.
    """

    name = "llm"

    def __init__(self, generate: Callable[[str], str], linker: EntityLinker | None = None,
                 fallback: LexiconParser | None = None):
        self.generate = generate
        self.linker = linker
        self.fallback = fallback or LexiconParser(linker)

    def parse(self, text: str) -> ParsedQuery:
        base = self.fallback.parse(text)  # terms, dense text and validation are shared
        raw = self.generate(FEW_SHOT.replace("{request}", text.strip()))
        match = re.search(r"\{.*\}", raw, flags=re.S)
        try:
            data = json.loads(match.group(0)) if match else None
        except json.JSONDecodeError:
            data = None
        problem = _llm_shape_problem(data)
        if problem:
            base.notes.append(f"LLM parser output {problem}; used the lexicon parser")
            return base
        assert isinstance(data, dict)
        q = ParsedQuery(text=base.text, terms=base.terms, dense_text=base.dense_text, parser="llm")
        for name in data.get("seeds") or []:
            q.seeds += self._link(str(name))
        for name in data.get("exclude") or []:
            q.exclude += self._link(str(name))
        q.moods = [m for m in (data.get("moods") or []) if isinstance(m, str) and m in MOOD_VA]
        for feat, rng in (data.get("features") or {}).items():
            if str(feat) in FEATURE_NAMES and isinstance(rng, list) and len(rng) == 2:
                lo, hi = (float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None for v in rng)
                q.features[str(feat)] = (lo, hi)
                q.reasons[str(feat)] = "llm"
        if q.moods:
            q.valence = sum(MOOD_VA[m][0] for m in q.moods) / len(q.moods)
            q.arousal = sum(MOOD_VA[m][1] for m in q.moods) / len(q.moods)
        return q

    def _link(self, name: str) -> list[Seed]:
        if self.linker is None:
            return []
        toks = _tokens(name)
        return self.linker.link(toks, list(range(len(toks))))
