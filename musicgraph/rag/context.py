"""Evidence blocks: retrieval results turned into a compact, ordered, budgeted text for a generator.

Each candidate becomes one numbered entry::

    [1] Radiohead - Karma Police (1997) | genres: alternative rock | moods: sad |
        sound: low energy, sad-sounding, minor key, 75 BPM | tags: melancholic |
        why: Radiohead → tagged → melancholic → tag of → Portishead | lyric: "for a minute there"

Entries are added in rank order while they fit the token budget; an entry that does not fit is
shortened (lyric, tags, extra paths dropped) before it is left out, and the first entry is always
kept in its shortest form, so a context that is too long is truncated by rank and never fails.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from musicgraph.audio_features import UNIT_FEATURES
from musicgraph.graph.results import Result

if TYPE_CHECKING:
    from musicgraph.graph.store import GraphStore

log = logging.getLogger(__name__)

TokenCounter = Callable[[str], int]

#: Words quoted from lyrics at most.
MAX_LYRIC_WORDS = 8
#: Graph paths shown per candidate at most.
MAX_PATHS = 2


def approx_tokens(text: str) -> int:
    """A tokenizer-free estimate of subword tokens (about 1.3 per word, punctuation counted)."""
    words = re.findall(r"\w+|[^\w\s]", text)
    return int(len(words) * 1.3) + 1


def feature_words(props: Mapping[str, Any]) -> list[str]:
    """Audio features in words (Spotify scales), e.g. ``["high energy", "danceable", "120 BPM"]``."""
    out: list[str] = []

    def num(name: str) -> float | None:
        value = props.get(name)
        try:
            return None if value is None or isinstance(value, bool) else float(value)
        except (TypeError, ValueError):
            return None

    energy, valence, dance = num("energy"), num("valence"), num("danceability")
    acoustic, instr, speech, tempo = num("acousticness"), num("instrumentalness"), num("speechiness"), num("tempo")
    if energy is not None:
        out.append("high energy" if energy >= 0.7 else "low energy" if energy <= 0.4 else "medium energy")
    if valence is not None:
        if valence >= 0.65:
            out.append("happy-sounding")
        elif valence <= 0.35:
            out.append("sad-sounding")
    if dance is not None and dance >= 0.7:
        out.append("danceable")
    if acoustic is not None and acoustic >= 0.6:
        out.append("acoustic")
    if instr is not None and instr >= 0.5:
        out.append("instrumental")
    if speech is not None and speech >= 0.33:
        out.append("speech-heavy")
    mode = props.get("mode")
    if mode in (0, 1):
        out.append("major key" if mode == 1 else "minor key")
    if tempo is not None and tempo > 0:
        out.append(f"{round(tempo)} BPM")
    return out


@dataclass(slots=True)
class CandidateEvidence:
    """What the context says about one candidate (``number`` is its 1-based place in the block)."""

    number: int
    result: Result
    year: int | None = None
    genres: list[str] = field(default_factory=list)
    moods: list[str] = field(default_factory=list)
    sound: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    emotions: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    lyric: str | None = None
    features: dict[str, float] = field(default_factory=dict)
    matches: list[str] = field(default_factory=list)
    feature_notes: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.result.id

    @property
    def artist(self) -> str:
        return self.result.artist or (self.result.name if self.result.kind == "artist" else "")

    @property
    def title(self) -> str:
        return self.result.title or self.result.name

    def heading(self) -> str:
        """``Artist - Title (year)`` (or the artist's name)."""
        head = self.result.display()
        return f"{head} ({self.year})" if self.year else head

    def render(self, level: int = 0) -> str:
        """The entry's line; higher ``level`` drops detail (0 full … 3 heading only)."""
        parts = [f"[{self.number}] {self.heading()}"]
        lists: list[tuple[str, list[str]]] = []
        if level <= 2:
            lists += [("genres", self.genres[:3]), ("moods", self.moods[:3]), ("sound", self.sound),
                      ("fits", self.feature_notes[:3])]
        if level <= 1:
            lists += [("matches", self.matches[:4]), ("tags", self.tags[:4]), ("emotion words", self.emotions[:4])]
        parts += [f"{label}: " + ", ".join(items) for label, items in lists if items]
        if level <= 1 and self.paths:
            parts.append("why: " + "; ".join(self.paths[: (1 if level else MAX_PATHS)]))
        if level == 0 and self.lyric:
            parts.append(f'lyric: "{self.lyric}"')
        return " | ".join(parts)


@dataclass(slots=True)
class Context:
    """An evidence block: its text, the candidates it includes (rank order) and what was cut."""

    text: str
    candidates: list[CandidateEvidence]
    dropped: list[Result] = field(default_factory=list)
    shortened: int = 0
    tokens: int = 0
    budget: int = 0

    @property
    def truncated(self) -> bool:
        """Whether candidates were dropped or shortened to fit the budget."""
        return bool(self.dropped or self.shortened)

    def by_number(self, number: int) -> CandidateEvidence:
        """The candidate numbered ``number`` (1-based)."""
        for cand in self.candidates:
            if cand.number == number:
                return cand
        raise IndexError(f"no candidate [{number}] in the evidence ({len(self.candidates)} candidates)")

    def by_id(self) -> dict[str, CandidateEvidence]:
        """The candidates by their evidence id."""
        return {c.id: c for c in self.candidates}


def _lyric_snippet(text: str, words: Iterable[str]) -> str | None:
    """At most :data:`MAX_LYRIC_WORDS` words of the first lyric line sharing a word with ``words``."""
    wanted = {w.lower() for w in words if len(w) > 3}
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("[")]
    if not lines:
        return None
    chosen = next((ln for ln in lines if wanted & set(re.findall(r"[a-z']+", ln.lower()))), None)
    if chosen is None:
        return None
    return " ".join(chosen.split()[:MAX_LYRIC_WORDS])


def _str_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def gather_evidence(
    results: Sequence[Result],
    store: GraphStore | None = None,
    query_words: Iterable[str] = (),
) -> list[CandidateEvidence]:
    """Collect each result's facts from its own fields and, when given, the store.

    Properties already on ``Result.props`` win; the store fills missing song properties, moods
    (HAS_MOOD), genres, tags and a short lyric snippet (via ``lyrics_ref``).
    """
    query_words = list(query_words)
    song_nodes: dict[str, Any] = {}
    if store is not None:
        song_ids = [r.id for r in results if r.kind == "song"]
        try:
            song_nodes = store.get_nodes("Song", song_ids)
        except Exception as exc:  # a store that cannot answer degrades to the results' own fields
            log.warning("could not read song properties from %r: %s", store, exc)
    out: list[CandidateEvidence] = []
    for number, res in enumerate(results, start=1):
        props: dict[str, Any] = {}
        node = song_nodes.get(res.id)
        if node is not None:
            props.update(node.props)
        props.update(res.props)
        ev = res.evidence or {}
        moods = _str_list(ev.get("moods") or props.get("moods"))
        genres = _str_list(props.get("genres") or ev.get("genres"))
        tags = _str_list(ev.get("tags"))
        if store is not None and res.kind == "song" and node is not None:
            try:
                for edge, other in store.neighbors("Song", res.id, direction="out", limit=50):
                    if edge.type == "HAS_MOOD" and other.name not in moods:
                        moods.append(other.name)
                    elif edge.type == "HAS_GENRE" and other.name not in genres:
                        genres.append(other.name)
                    elif edge.type == "TAGGED" and other.name not in tags:
                        tags.append(other.name)
            except Exception as exc:
                log.debug("neighbors of %s unavailable: %s", res.id, exc)
        lyric = None
        # hybrid retrieval's evidence: matched title / lyric words, feature statements, emotion words
        lyric_words = _str_list(ev.get("lyrics"))
        matches = [f"title '{w}'" for w in _str_list(ev.get("title"))] + [f"lyrics '{w}'" for w in lyric_words]
        if store is not None and props.get("lyrics_ref"):
            try:
                texts = store.get_texts([str(props["lyrics_ref"])])
                text = texts.get(str(props["lyrics_ref"]))
                if text:
                    lyric = _lyric_snippet(text, [*lyric_words, *query_words, *moods])
            except Exception as exc:
                log.debug("lyrics of %s unavailable: %s", res.id, exc)
        year = props.get("year")
        features = {
            k: float(props[k])
            for k in (*UNIT_FEATURES, "tempo")
            if isinstance(props.get(k), (int, float)) and not isinstance(props.get(k), bool)
        }
        out.append(
            CandidateEvidence(
                number=number,
                result=res,
                year=int(year) if isinstance(year, (int, float)) and not isinstance(year, bool) else None,
                genres=genres,
                moods=moods,
                sound=feature_words(props),
                tags=tags,
                emotions=_str_list(ev.get("emotions") or ev.get("emotion_words")),
                paths=[p.sentence() for p in res.paths[:MAX_PATHS]],
                lyric=lyric,
                features=features,
                matches=matches,
                feature_notes=_str_list(ev.get("features")),
            )
        )
    return out


def build_context(
    results: Sequence[Result],
    *,
    store: GraphStore | None = None,
    budget: int = 512,
    count_tokens: TokenCounter = approx_tokens,
    query: str = "",
    header: str = "Candidates (numbered; recommend only these):",
) -> Context:
    """Build the evidence block for ``results`` within ``budget`` tokens (by ``count_tokens``).

    Candidates are kept in rank order; each is shortened as needed and the rest are dropped once
    the budget is used. The first candidate is always kept (heading only if need be).

    Args:
        results: the retrieved results, best first.
        store: where each result's facts (moods, genres, tags, audio features, lyrics) are read; without
            it only the results' own fields are used.
        budget: the token budget of the whole block.
        count_tokens: the generator's token counter (an estimate by default).
        query: the request; a lyric snippet is a line that shares a word with it (or with the song's moods).
        header: the block's first line.

    Returns:
        The :class:`Context`: the block's text, the candidates kept (numbered ``[1]``, ``[2]``, ...),
        and those dropped or shortened.

    Raises:
        ValueError: ``budget`` is not positive.
    """
    if budget <= 0:
        raise ValueError(f"context token budget must be positive, got {budget}")
    evidence = gather_evidence(results, store, re.findall(r"[a-z']+", query.lower()))
    lines = [header]
    used = count_tokens(header)
    kept: list[CandidateEvidence] = []
    dropped: list[Result] = []
    shortened = 0
    for cand in evidence:
        if dropped:  # once one is dropped, later (lower-ranked) ones go too: truncation by rank
            dropped.append(cand.result)
            continue
        chosen = None
        for level in range(4):
            line = cand.render(level)
            cost = count_tokens(line)
            if used + cost <= budget or (not kept and level == 3):
                chosen = (line, cost, level)
                break
        if chosen is None:
            dropped.append(cand.result)
            continue
        line, cost, level = chosen
        shortened += level > 0
        lines.append(line)
        used += cost
        kept.append(cand)
    if dropped:
        log.info("context budget %d tokens: kept %d candidates, dropped %d", budget, len(kept), len(dropped))
    return Context(
        text="\n".join(lines), candidates=kept, dropped=dropped, shortened=shortened, tokens=used, budget=budget
    )
