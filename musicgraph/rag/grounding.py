"""Grounding: every song and artist an answer names must be backed by the retrieved evidence.

:mod:`musicgraph.rag.mentions` finds the songs and artists the answer names and resolves each against
the candidates (supported or not). **Repair** (:func:`ground`) removes each list item or sentence that
carries an unsupported mention (the caller may first regenerate), and list items that repeat an already
listed song. The result (:class:`GroundingReport`) carries the cited candidate ids in the order they are named.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from musicgraph.graph.results import Result
from musicgraph.lazy import moved_getattr
from musicgraph.rag.mentions import LIST_ITEM, Mention, NameIndex, find_mentions

__all__ = ["GroundingReport", "ground"]

log = logging.getLogger(__name__)


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
        """Mentions matching no candidate (nor, for artists, the evidence), known to the catalog or not."""
        return [m for m in self.mentions if not m.supported]

    @property
    def hallucinated(self) -> bool:
        """Whether the original named anything the evidence does not support."""
        return bool(self.unsupported)


def _units(text: str) -> list[tuple[int, int]]:
    """Spans of list items (whole lines) and sentences (elsewhere)."""
    spans: list[tuple[int, int]] = []
    offset = 0
    for line in text.splitlines(keepends=True):
        if LIST_ITEM.match(line) or len(line.strip()) == 0:
            spans.append((offset, offset + len(line)))
        else:
            pos = 0
            for m in re.finditer(r"(?<=[.!?])\s+(?=\S)", line):
                spans.append((offset + pos, offset + m.end()))
                pos = m.end()
            spans.append((offset + pos, offset + len(line)))
        offset += len(line)
    return spans


def _drop_repeated_items(text: str, mentions: Sequence[Mention]) -> tuple[str, list[str]]:
    """Remove list items whose songs were all listed already (small models repeat a line)."""
    seen: set[str] = set()
    keep: list[str] = []
    dropped: list[str] = []
    for s, e in _units(text):
        unit = text[s:e]
        ids = {m.candidate_id for m in mentions if m.kind == "song" and m.candidate_id and s <= m.start < e}
        if ids and ids <= seen and LIST_ITEM.match(unit):
            dropped.append(unit.strip())
            continue
        seen |= ids
        keep.append(unit)
    return (_renumber("".join(keep)), dropped) if dropped else (text, [])


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
    catalog: NameIndex | None = None,
    allowed_artists: Iterable[str] = (),
    protected: Iterable[str] = (),
) -> GroundingReport:
    """Check ``text`` against ``candidates`` and remove what they do not support.

    Args:
        text: the generated answer.
        candidates: the retrieved results the answer may name.
        catalog: the name index that recognises names outside the candidates (default: one built
            from the candidates only, so a song they do not hold is seen only by its shape).
        allowed_artists: further artist names the evidence supports (path seeds, the request's).
        protected: further strings (the request) whose text is not a mention.

    Returns:
        A :class:`GroundingReport` whose ``text`` names only supported songs and artists (each list
        item or sentence with an unsupported mention removed, the list renumbered) and whose
        ``cited_ids`` lists the candidates it names.
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
    repaired, repeats = _drop_repeated_items(repaired, final)
    if repeats:
        removed += repeats
        log.info("grounding dropped %d list item(s) repeating an already listed song", len(repeats))
        final = find_mentions(repaired, candidates, catalog, allowed_artists, protected)
    cited = list(dict.fromkeys(m.candidate_id for m in final if m.candidate_id))
    return GroundingReport(text=repaired, original=text, mentions=mentions, cited_ids=cited, removed=removed)


#: Names that moved to :mod:`musicgraph.rag.mentions` (and ``Catalog``, renamed ``NameIndex``), importable
#: from here with a DeprecationWarning until the branches written against the old layout have landed.
_MOVED = {old: f"musicgraph.rag.mentions:{new}" for old, new in {
    "Catalog": "NameIndex", "CatalogEntry": "NameEntry", "evidence_artists": "evidence_artists",
    "norm_artist": "norm_artist", "norm_title": "norm_title", "similar": "similar", "COMMON_WORDS": "COMMON_WORDS",
}.items()}


__getattr__ = moved_getattr(__name__, _MOVED)
