"""Entity linking: find the catalog's artists, songs, genres, tags and moods in a request's words.

:class:`EntityLinker` matches normalized names and aliases (longest span first), song titles in
"<title> by <artist>" form, and fuzzy artist names (character trigrams, then a difflib ratio) for
spans after a cue such as "like", "by", "of" or "no". It returns :class:`Mention` objects; the
request parser (:mod:`musicgraph.retrieval.parser`) decides what each mention means.

Disambiguation uses priors and context: when a name is both an artist and a tag or genre
("eminem", "queen"), the artist wins if it is the better-connected node (log of its degree, i.e.
listeners, songs, tags) or a cue says so ("fans of", "like", "by"), unless the words around it say
tag or genre ("tagged eminem", "the eminem tag"). One-word artist names that are ordinary English
words ("Queen", "Summer") link to an artist only after a cue, or capitalized in the original text.
"""

from __future__ import annotations

import difflib
import re
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from musicgraph.graph.projection import Projection
from musicgraph.graph.schema import Label
from musicgraph.normalize import word_form
from musicgraph.retrieval.catalog import SongTable
from musicgraph.retrieval.text import REQUEST_WORDS, STOPWORDS

__all__ = ["ATTR_WORDS", "CUES", "POST_CUES", "EntityLinker", "Mention", "split_possessive"]

_POSSESSIVE = re.compile(r"(\w)['\u2019]s\b")


def split_possessive(name: str) -> str:
    """``"Destiny's Child"`` -> ``"Destiny 's Child"``: how the request tokenizer reads a possessive."""
    return _POSSESSIVE.sub(r"\1 's", name)


@dataclass(slots=True)
class Mention:
    """A catalog entity found in the request's words.

    Attributes:
        label, key, name: the node (label, key) and its display name.
        surface: the (folded) words it was read from.
        score: the linker's confidence (1 for exact names, the difflib ratio for fuzzy ones).
        start, end: the token span ``[start, end)`` (-1 when unknown).
    """

    label: str
    key: str
    name: str
    surface: str
    score: float = 1.0
    start: int = -1
    end: int = -1


CUES = frozenset({"like", "by", "from", "no", "not", "without", "except", "than", "to", "of", "excluding",
                  "love", "loves", "liked", "enjoy", "featuring", "feat", "ft", "both", "either"})
#: Words that say the next or previous name is a tag or genre, not an artist.
ATTR_WORDS = frozenset({"tag", "tags", "tagged", "genre", "genres"})
#: Words after a name that say it is an artist ("eminem fans", "radiohead listeners").
POST_CUES = frozenset({"fans", "fan", "listeners", "listener", "lovers", "stans", "fanbase", "followers", "audience"})
#: Words after which a span may be a song title even if its words are ordinary ("same album as Yellow").
SONG_CUES = frozenset({"as", "with", "like", "song", "track", "after", "including", "alongside"})
_MAX_SPAN = 6
_MIN_TAG_DEGREE = 3


@dataclass(slots=True)
class _Entry:
    label: str
    key: str
    name: str
    prior: float


def _trigram_pool(phrase: str, index: Mapping[str, Iterable[str]]) -> list[str]:
    """The names in ``index`` (trigram -> names) that share at least half of ``phrase``'s trigrams."""
    grams = _trigrams(phrase)
    counts: dict[str, int] = defaultdict(int)
    for g in grams:
        for norm in index.get(g, ()):
            counts[norm] += 1
    return [n for n, c in counts.items() if c >= 0.5 * len(grams)]


def _trigrams(text: str) -> set[str]:
    t = f"  {text} "
    return {t[i : i + 3] for i in range(len(t) - 2)}


class EntityLinker:
    """Names and aliases of a catalog's entities, matched against request tokens.

    Args:
        projection: the graph projection (artist, genre, tag and mood nodes with display names).
        catalog: the song catalog (titles, artist aliases).
        vocabulary: ordinary English words (one-word artist names among them need a cue).
        min_tag_degree: tags on fewer relationships are too idiosyncratic to link.
    """

    def __init__(
        self,
        projection: Projection,
        catalog: SongTable,
        vocabulary: Collection[str] = (),
        min_tag_degree: int = _MIN_TAG_DEGREE,
    ):
        self.vocabulary = frozenset(vocabulary)
        self.names: dict[str, list[_Entry]] = defaultdict(list)
        self.songs_by_artist_title: dict[tuple[str, str], str] = {}
        self.artist_trigrams: dict[str, set[str]] = defaultdict(set)
        self._artist_norms: dict[str, tuple[str, str, float]] = {}
        deg = np.zeros(projection.num_nodes, dtype=np.int64)
        for mat in projection.matrices.values():
            deg += np.diff(mat.indptr)
            deg += np.bincount(mat.indices, minlength=projection.num_nodes)
        for label in (Label.ARTIST, Label.GENRE, Label.TAG, Label.MOOD):
            lo, hi = projection.label_ranges.get(label, (0, 0))
            for i in range(lo, hi):
                if label == Label.TAG and deg[i] < min_tag_degree:
                    continue
                key, name = str(projection.keys[i]), str(projection.names[i])
                self._add(label, key, name, float(np.log1p(deg[i])))
                if label == Label.ARTIST:
                    norm = word_form(name)
                    prior = float(np.log1p(deg[i]))
                    if len(norm) >= 3 and (norm not in self._artist_norms or self._artist_norms[norm][2] < prior):
                        self._artist_norms[norm] = (key, name, prior)  # the better-known of equal names
                        for g in _trigrams(norm):
                            self.artist_trigrams[g].add(norm)
        for akey, aliases in catalog.artist_aliases.items():
            name = catalog.artist_names.get(akey, akey)
            for alias in aliases:
                self._add(Label.ARTIST, akey, name, 0.0, surface=alias)
        for i, key in enumerate(catalog.keys):
            if catalog.alive[i]:
                self.songs_by_artist_title[(catalog.artist_keys[i], word_form(catalog.titles[i]))] = key
        self._song_names = {key: catalog.titles[i] for i, key in enumerate(catalog.keys)}
        #: every word of an entity name: a word outside these and the vocabulary may be a typo
        self.known_words = frozenset(w for norm in self.names for w in norm.split())
        # song titles alone ("Karma Police"): the best-known song of each title
        pop = np.nan_to_num(catalog.feature("popularity").astype(np.float64), nan=0.0)
        self.titles: dict[str, tuple[str, str, float]] = {}
        #: artist key -> [(normalized title, song key, title)], for "<title> by <artist>" with typos
        self.titles_by_artist: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
        self.title_trigrams: dict[str, set[str]] = defaultdict(set)
        for i, key in enumerate(catalog.keys):
            if not catalog.alive[i]:
                continue
            norm = word_form(catalog.titles[i])
            if not norm:
                continue
            self.titles_by_artist[catalog.artist_keys[i]].append((norm, key, catalog.titles[i]))
            split = word_form(split_possessive(catalog.titles[i]))
            if split != norm:  # "It's" is read "it s" by the request tokenizer
                self.titles_by_artist[catalog.artist_keys[i]].append((split, key, catalog.titles[i]))
                self.songs_by_artist_title.setdefault((catalog.artist_keys[i], split), key)
            if len(norm) < 3:
                continue
            hit = self.titles.get(norm)
            if hit is None or pop[i] > hit[2]:
                if hit is None:
                    for g in _trigrams(norm):
                        self.title_trigrams[g].add(norm)
                self.titles[norm] = (key, catalog.titles[i], float(pop[i]))
        # ordinary words: the emotion vocabulary plus words of three or more song titles ("done", "put")
        title_words: dict[str, int] = defaultdict(int)
        for norm in self.titles:
            for w in set(norm.split()):
                title_words[w] += 1
        self.vocabulary = self.vocabulary | {w for w, c in title_words.items() if c >= 3}
        #: playlist names (linked only where the words say playlist)
        self.playlists: dict[str, tuple[str, str]] = {}
        lo, hi = projection.label_ranges.get(Label.PLAYLIST, (0, 0))
        for i in range(lo, hi):
            norm = word_form(str(projection.names[i]))
            if norm:
                self.playlists.setdefault(norm, (str(projection.keys[i]), str(projection.names[i])))

    def _add(self, label: str, key: str, name: str, prior: float, surface: str | None = None) -> None:
        raw = surface or name
        for norm in {word_form(raw), word_form(split_possessive(raw))}:
            if not norm or all(w in STOPWORDS or w in REQUEST_WORDS for w in norm.split()):
                continue
            entries = self.names[norm]
            if not any(e.label == label and e.key == key for e in entries):
                entries.append(_Entry(label, key, name, prior))

    # ------------------------------------------------------------------ link
    def link(self, toks: Sequence[str], positions: Iterable[int], skip: Collection[int] = (),
             starts: Collection[int] = (), ends: Collection[int] = ()) -> list[Mention]:
        """Entities in ``toks`` restricted to ``positions`` (and not in ``skip``), longest span first.

        Args:
            toks: the request's folded words.
            positions: the token positions that may hold a name.
            skip: positions already read as something else (moods, negations).
            starts, ends: positions where the words around say a name begins (after "fans of",
                "like") or ends (before "'s fans", "has worked with"); there a misspelt name is
                matched to the closest artist, and an ordinary word may be a name.

        Returns:
            The mentions found (artists, songs, albums, playlists, genres, tags, moods), spans not overlapping.
        """
        starts, ends = set(starts), set(ends)
        allowed = sorted(set(positions) - set(skip))
        ok = set(allowed)
        taken: set[int] = set()
        out: list[Mention] = []
        # "<title> by <artist>" first
        for i, t in enumerate(toks):
            if t != "by" or i not in ok:
                continue
            for alen in range(min(_MAX_SPAN, len(toks) - i - 1), 0, -1):
                a_span = range(i + 1, i + 1 + alen)
                if not all(j in ok for j in a_span):
                    continue
                artists = [e for e in self.names.get(" ".join(toks[j] for j in a_span), []) if e.label == Label.ARTIST]
                if not artists:
                    continue
                for tlen in range(min(_MAX_SPAN, i), 0, -1):
                    t_span = range(i - tlen, i)
                    if not all(j in ok for j in t_span):
                        continue
                    title = " ".join(toks[j] for j in t_span)
                    for a in artists:
                        song = self.songs_by_artist_title.get((a.key, title))
                        if song is not None:
                            out.append(Mention(Label.SONG, song, self._song_names.get(song, title),
                                               " ".join(toks[j] for j in range(i - tlen, i + 1 + alen)), 1.0,
                                               i - tlen, i + 1 + alen))
                            taken.update(range(i - tlen, i + 1 + alen))
                            break
                    if i in taken:
                        break
                break
        for length in range(_MAX_SPAN, 0, -1):
            for s in allowed:
                span = range(s, s + length)
                if any(j not in ok or j in taken for j in span):
                    continue
                phrase = " ".join(toks[j] for j in span)
                words_ = phrase.split()
                if all(w in STOPWORDS or w in REQUEST_WORDS for w in words_):
                    continue
                e_ = s + length
                nxt = toks[e_ + 1] if e_ < len(toks) and toks[e_] == "s" and e_ + 1 < len(toks) else (
                    toks[e_] if e_ < len(toks) else "")
                cue = (s > 0 and toks[s - 1] in CUES) or nxt in POST_CUES or s in starts or e_ in ends
                attr = (s > 0 and toks[s - 1] in ATTR_WORDS) or (e_ < len(toks) and toks[e_] in ATTR_WORDS)
                entry = self._choose(self.names.get(phrase, []), cue, single=length == 1, word=phrase, attr=attr)
                if entry is None:
                    title = self._title(phrase, toks[s - 1] if s > 0 else "")
                    if title is not None:
                        out.append(Mention(Label.SONG, title[0], title[1], phrase, 1.0, s, e_))
                        taken.update(span)
                    continue
                out.append(Mention(entry.label, entry.key, entry.name, phrase, 1.0, s, e_))
                taken.update(span)
        # fuzzy artists after cues ("like radiohed") and before post-cues ("radiohed fans")
        stop = {",", ".", ";", "!", "?", "and", "or", "but"}
        for s in allowed:
            if s in taken or toks[s] in STOPWORDS or toks[s] in REQUEST_WORDS or toks[s] in stop:
                continue
            after_cue = (s > 0 and toks[s - 1] in CUES) or s in starts
            end = s
            while end < len(toks) and end in ok and end not in taken and end - s < 4 and toks[end] not in CUES \
                    and toks[end] not in stop and toks[end] not in POST_CUES and toks[end] != "s" \
                    and (end == s or end not in ends):
                end += 1
            for e in range(end, s, -1):
                nxt = toks[e + 1] if e < len(toks) and toks[e] == "s" and e + 1 < len(toks) else (
                    toks[e] if e < len(toks) else "")
                before_post = nxt in POST_CUES or e in ends
                if not (after_cue or before_post):
                    continue
                phrase = " ".join(toks[s:e])
                if len(phrase) < 4 or any(j in taken for j in range(s, e)):
                    continue
                span_words = toks[s:e]
                if any(w in POST_CUES for w in span_words):
                    continue  # "the fans" is never a misspelt band
                ordinary = all(w in self.vocabulary or w in STOPWORDS for w in span_words)
                if ordinary and (len(span_words) < 2 or not (s in starts or e in ends)):
                    continue  # "back", "care", "shared" are words, not misspelt names
                hit = self.fuzzy_artist(phrase, cutoff=0.8 if (s in starts or e in ends) and len(phrase) >= 6 else 0.85)
                if hit is not None:
                    key, name, ratio = hit
                    out.append(Mention(Label.ARTIST, key, name, phrase, round(ratio, 3), s, e))
                    taken.update(range(s, e))
                    break
        return out

    def _choose(self, entries: list[_Entry], cue: bool, single: bool, word: str, attr: bool = False) -> _Entry | None:
        """The entry a phrase means: context first, then the better-connected node.

        ``cue``: a word around it says entity ("fans of", "like", "by", "<name> fans");
        ``attr``: a word around it says tag or genre ("tagged", "genre").
        """
        if not entries:
            return None
        best: dict[str, _Entry] = {}
        for e in entries:
            if e.label not in best or e.prior > best[e.label].prior:
                best[e.label] = e
        artist = best.get(Label.ARTIST)
        if artist is not None and single and not cue and (word in self.vocabulary or len(word) < 3):
            artist = None  # "queen", "summer": an ordinary word unless a cue makes it a name
        attribute = best.get(Label.GENRE) or best.get(Label.TAG)
        if Label.GENRE in best and Label.TAG in best:
            attribute = max(best[Label.GENRE], best[Label.TAG], key=lambda e: e.prior)
        if attr and attribute is not None:
            return attribute
        if Label.MOOD in best and not cue:
            return best[Label.MOOD]
        if artist is not None and (cue or attribute is None or artist.prior >= attribute.prior):
            return artist
        if attribute is not None:
            return attribute
        return best.get(Label.SONG) or best.get(Label.MOOD)

    def _title(self, phrase: str, before: str) -> tuple[str, str, float] | None:
        """A song title alone: after a song cue ("same album as", "like"), or of two or more words
        with one that is not an ordinary word (so "rainy day" stays words, "karma police" after "as" links)."""
        hit = self.titles.get(phrase)
        if hit is None:
            return None
        words_ = phrase.split()
        content = [w for w in words_ if w not in STOPWORDS]
        if not content:
            return None
        if before in SONG_CUES:
            return hit
        if len(words_) >= 2 and any(w not in self.vocabulary for w in content):
            return hit
        return None

    def exact_spans(self, toks: Sequence[str], allowed: Collection[int], min_len: int = 2,
                    labels: Collection[str] = (Label.ARTIST, Label.GENRE, Label.TAG),
                    accept: Callable[[Mention], bool] | None = None) -> list[Mention]:
        """Names of ``min_len`` words or more found verbatim in ``toks`` (within ``allowed``), longest first.

        Run before the mood lexicon and negations read the words: "Rage Against the Machine" is
        a name, not rage; "No Doubt" is a band, not a negation; "soft rock" a genre, not soft.

        Args:
            toks: the request's folded words.
            allowed: the positions a name may cover.
            min_len: the fewest words a name has.
            labels: the node labels looked for.
            accept: a last check of each mention (a rejected one leaves its words free).

        Returns:
            The mentions, spans not overlapping, in the order found (longest spans first).
        """
        ok = set(allowed)
        taken: set[int] = set()
        out: list[Mention] = []
        for length in range(_MAX_SPAN, min_len - 1, -1):
            for s in sorted(ok):
                span = range(s, s + length)
                if s + length > len(toks) or any(j not in ok or j in taken for j in span):
                    continue
                phrase = " ".join(toks[j] for j in span)
                entries = [e for e in self.names.get(phrase, []) if e.label in labels]
                if not entries:
                    continue
                before = toks[s - 1] if s > 0 else ""
                after = toks[s + length] if s + length < len(toks) else ""
                entry = self._choose(entries, before in CUES or after in POST_CUES, False, phrase,
                                     attr=before in ATTR_WORDS or after in ATTR_WORDS)
                if entry is None:
                    continue
                m = Mention(entry.label, entry.key, entry.name, phrase, 1.0, s, s + length)
                if accept is not None and not accept(m):
                    continue
                out.append(m)
                taken.update(span)
        return out

    def fuzzy_title(self, phrase: str, artist: str | None = None, cutoff: float = 0.8) -> tuple[str, str, float] | None:
        """The song whose normalized title is closest to ``phrase``.

        Args:
            phrase: the normalized words read as a title.
            artist: an artist key: only that artist's songs are candidates.
            cutoff: the least difflib ratio accepted.

        Returns:
            ``(song key, title, ratio)``, or None when no title is that close.
        """
        if artist is not None:
            cands = self.titles_by_artist.get(artist, [])
            if not cands:
                return None
            best = difflib.get_close_matches(phrase, [c[0] for c in cands], n=1, cutoff=cutoff)
            if not best:
                return None
            norm, key, title = next(c for c in cands if c[0] == best[0])
            return key, title, difflib.SequenceMatcher(None, phrase, norm).ratio()
        pool = _trigram_pool(phrase, self.title_trigrams)
        best = difflib.get_close_matches(phrase, pool, n=1, cutoff=cutoff) if pool else []
        if not best:
            return None
        key, title, _ = self.titles[best[0]]
        return key, title, difflib.SequenceMatcher(None, phrase, best[0]).ratio()

    def playlist_named(self, phrase: str, cutoff: float = 0.85) -> tuple[str, str] | None:
        """The playlist named ``phrase`` (exactly, else the closest name): (key, name)."""
        hit = self.playlists.get(phrase)
        if hit is not None:
            return hit
        best = difflib.get_close_matches(phrase, list(self.playlists), n=1, cutoff=cutoff)
        return self.playlists[best[0]] if best else None

    def artist_named(self, phrase: str) -> tuple[str, str] | None:
        """The best-connected artist whose normalized name or alias is ``phrase``: (key, name), or None."""
        cands = [e for e in self.names.get(phrase, []) if e.label == Label.ARTIST]
        if not cands:
            return None
        best = max(cands, key=lambda e: e.prior)
        return best.key, best.name

    def fuzzy_artist(self, phrase: str, cutoff: float = 0.85) -> tuple[str, str, float] | None:
        """The artist whose normalized name is closest to ``phrase`` (difflib ratio >= ``cutoff``)."""
        pool = _trigram_pool(phrase, self.artist_trigrams)
        if not pool:
            return None
        close = difflib.get_close_matches(phrase, pool, n=5, cutoff=cutoff)
        if not close:
            return None
        # near ties ("paramore" / "paramore攀") go to the better-connected artist
        scored = [(round(difflib.SequenceMatcher(None, phrase, c).ratio(), 2), self._artist_norms[c][2], c) for c in close]
        ratio, _, best = max(scored)
        key, name, _ = self._artist_norms[best]
        return key, name, difflib.SequenceMatcher(None, phrase, best).ratio()
