"""The own small T5: trained on (request + evidence → answer) pairs generated from the graph itself.

No T5/BART weights ship on PyPI, so ``musicgraph rag finetune`` (:mod:`musicgraph.rag.t5_train`) builds a small T5 from a
:class:`~transformers.T5Config` (or fine-tunes a local pretrained seq2seq model given with
``--base``) and saves it with its tokenizer under ``MUSICGRAPH_HOME/models/t5-local``; the offline
default backend uses it when present.

Training pairs (:func:`musicgraph.rag.t5_pairs.make_pairs`): requests from templates over the graph's moods (MoodyLyrics,
Spotify mood labels), genres, artist tags and artists ("sad songs", "songs like Portishead",
"melancholic trip-hop"), candidates the graph links to them (with the linking path), the evidence
block built exactly as at answer time, and as target the template answer (without paths) in
*pointer* form: each song is written as its evidence number (``1. [2]: sad mood; low energy.``),
which :class:`T5LocalGenerator` expands to ``Artist - Title (year)``. The model thus chooses and
orders candidates and words the reasons, but never spells a name: a form of constrained decoding
that makes invented titles impossible by construction (a pointer to a number not in the evidence
drops its line).

What it learns: the answer format, which candidates to list, and copying each candidate's mood and
sound words from the evidence. What it does not: world knowledge, taste or reasoning beyond the
evidence; with the default size and minutes of CPU training its reasons are often incomplete or
attached to the wrong candidate (measured by the faithfulness figure of ``benchmarks/bench_rag.py``),
and when nothing grounded is left the template answer is used (``Answer.fallback``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from musicgraph.rag.base import GeneratorError
from musicgraph.rag.seq2seq import Seq2SeqGenerator
from musicgraph.rag.template import expand_pointers

if TYPE_CHECKING:
    from musicgraph.config import Settings
    from musicgraph.rag.context import Context

__all__ = ["MAX_INPUT", "MAX_TARGET", "T5LocalGenerator", "t5_local_available", "t5_local_dir"]

log = logging.getLogger(__name__)

MAX_INPUT = 384
MAX_TARGET = 192


def t5_local_dir(settings: Settings | None = None) -> Path:
    """Where ``musicgraph rag finetune`` saves the small T5."""
    from musicgraph.config import get_settings

    return (settings or get_settings()).models_dir / "t5-local"


def t5_local_available(settings: Settings | None = None) -> bool:
    """Whether ``musicgraph rag finetune`` has saved the small T5 (the ``t5-local`` backend can load)."""
    directory = t5_local_dir(settings)
    return (directory / "config.json").is_file()


class T5LocalGenerator(Seq2SeqGenerator):
    """The fine-tuned small T5 saved by :func:`~musicgraph.rag.t5_train.finetune` (a seq2seq model directory)."""

    name = "t5-local"

    @classmethod
    def load(cls, model: str | Path | None = None, settings: Settings | None = None) -> T5LocalGenerator:
        """The T5 in ``model`` (default :func:`t5_local_dir`); an error pointing to the training when absent."""
        directory = Path(model) if model is not None else t5_local_dir(settings)
        if not (directory / "config.json").is_file():
            raise GeneratorError(
                f"no fine-tuned T5 at {directory}; train it with `musicgraph rag finetune` or pick --backend template"
            )
        return cls(directory)

    @classmethod
    def available(cls, settings: Settings | None = None) -> bool:
        return t5_local_available(settings)

    def __init__(self, directory: str | Path, max_new_tokens: int = MAX_TARGET):
        super().__init__(directory, max_new_tokens=max_new_tokens)
        self.max_input_tokens = min(self.max_input_tokens, MAX_INPUT)
        info_file = Path(directory) / "training_info.json"
        info = json.loads(info_file.read_text()) if info_file.is_file() else {}
        self.pointer_format = info.get("format") == "pointer"
        self.invalid_pointers = 0

    def generate(self, request: str, context: Context, *, strict: bool = False) -> str:
        """Generate, then expand the ``[n]`` pointers into the candidates' names."""
        text = super().generate(request, context, strict=strict)
        if not self.pointer_format:
            return text
        text, invalid = expand_pointers(text, request, context)
        self.invalid_pointers += invalid
        return text
