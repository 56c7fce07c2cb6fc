"""The deterministic template generator: always available, no model, used in fast tests.

Its answers are also the training targets of the local T5 (:mod:`musicgraph.rag.t5_local`) and the
reference for generation quality (ROUGE-L) of the model backends.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from musicgraph.rag.base import Generator

if TYPE_CHECKING:
    from musicgraph.config import Settings
    from musicgraph.rag.context import CandidateEvidence, Context

log = logging.getLogger(__name__)


def reason_phrase(cand: CandidateEvidence, with_paths: bool = True) -> str:
    """One compact reason for a candidate: moods, sound, genre and (optionally) its strongest path."""
    bits: list[str] = []
    if cand.moods:
        bits.append(", ".join(cand.moods[:2]) + " mood")
    if cand.sound:
        bits.append(", ".join(cand.sound[:3]))
    if cand.genres:
        bits.append(cand.genres[0])
    if cand.paths and with_paths:
        bits.append("via " + cand.paths[0])
    elif cand.result.paths:
        p = cand.result.paths[0]
        bits.append(f"linked to {p.names[0]}" + (f" via {p.names[1]}" if p.hops > 2 else ""))
    elif cand.tags:
        bits.append("tagged " + ", ".join(cand.tags[:2]))
    if not bits and cand.matches:
        bits.append("matches " + ", ".join(cand.matches[:3]))
    if not bits and cand.feature_notes:
        bits.append(", ".join(cand.feature_notes[:2]))
    return "; ".join(bits) if bits else "retrieved for your request"


def template_answer(request: str, context: Context, with_paths: bool = True, pointers: bool = False) -> str:
    """The template answer text: one numbered line per candidate, in rank order.

    With ``pointers`` each song is written as its evidence number (``1. [2]: sad mood; …``) and the
    header as ``Picks:`` — the training target of the local T5, expanded by :func:`expand_pointers`.
    """
    if not context.candidates:
        return "I found nothing in the catalog that matches this request."
    if pointers:
        lines = ["Picks:"]
    else:
        lines = [f"Picks for \"{request.strip()}\":" if request.strip() else "Picks from the catalog:"]
    for i, cand in enumerate(context.candidates, start=1):
        head = f"[{cand.number}]" if pointers else cand.heading()
        lines.append(f"{i}. {head}: {reason_phrase(cand, with_paths)}.")
    return "\n".join(lines)


_POINTER = re.compile(r"\[(\d{1,2})\]")


def expand_pointers(text: str, request: str, context: Context) -> tuple[str, int]:
    """Replace ``[n]`` by candidate n's ``Artist - Title (year)``; lines pointing at a number that
    is not in the evidence are dropped. Returns the text and the number of invalid pointers."""
    numbers = {c.number: c for c in context.candidates}
    out, invalid = [], 0
    for line in text.splitlines():
        refs = [int(n) for n in _POINTER.findall(line)]
        if any(n not in numbers for n in refs):
            invalid += 1
            continue
        line = _POINTER.sub(lambda m: numbers[int(m.group(1))].heading(), line)
        if line.strip() == "Picks:":
            line = f"Picks for \"{request.strip()}\":"
        out.append(line)
    return "\n".join(out), invalid


class TemplateGenerator(Generator):
    """Deterministic answers built only from the evidence; cannot hallucinate."""

    name = "template"
    max_input_tokens = 2048

    @classmethod
    def available(cls, settings: Settings | None = None) -> bool:
        """Always: the template needs no model."""
        return True

    def generate(self, request: str, context: Context, *, strict: bool = False) -> str:
        return template_answer(request, context)
