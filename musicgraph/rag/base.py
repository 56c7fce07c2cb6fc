"""The generator interface: :class:`Generator` and its error, :class:`GeneratorError`.

A generator turns a request and an evidence block (:class:`~musicgraph.rag.context.Context`) into
answer text. The backends, their registry and the loader (:func:`~musicgraph.rag.generators.load_generator`)
are in :mod:`musicgraph.rag.generators`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING

from musicgraph.errors import MusicgraphError
from musicgraph.lazy import moved_getattr
from musicgraph.rag.context import approx_tokens

if TYPE_CHECKING:
    from musicgraph.config import Settings
    from musicgraph.rag.context import Context

__all__ = ["Generator", "GeneratorError"]


class GeneratorError(MusicgraphError, RuntimeError):
    """A backend cannot be loaded or cannot generate (missing model, wrong model type, ...)."""


class Generator(ABC):
    """Turns (request, evidence) into answer text.

    Attributes:
        name: backend name (one of :data:`~musicgraph.rag.generators.BACKENDS`).
        max_input_tokens: the token budget of request plus evidence for this model.
    """

    name: str = "abstract"
    max_input_tokens: int = 512

    @classmethod
    def load(cls, model: str | Path | None = None, settings: Settings | None = None) -> Generator:
        """The generator :func:`~musicgraph.rag.generators.load_generator` builds for ``model``.

        The default is for backends without a model (``model`` is ignored); backends with one override
        it and check for a missing model here.

        Raises:
            GeneratorError: the model is missing or cannot be loaded.
        """
        return cls()

    @classmethod
    def available(cls, settings: Settings | None = None) -> bool:
        """Whether this backend is usable without a user-given model (default: no, it needs one)."""
        return False

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` for this model (an estimate unless the backend has a tokenizer)."""
        return approx_tokens(text)

    def context_budget(self, request: str) -> int:
        """Tokens left for the evidence block once the request and the prompt frame are counted."""
        return max(32, self.max_input_tokens - self.count_tokens(request) - 48)

    @abstractmethod
    def generate(self, request: str, context: Context, *, strict: bool = False) -> str:
        """Answer ``request`` from ``context``.

        Args:
            request: the user's words (already refined by the chat state).
            context: the evidence block; answers must name only its candidates.
            strict: a second attempt after grounding rejected the first; backends should restrict
                themselves harder (e.g. constrained decoding, lower temperature, explicit list).
        """


#: Names that moved to their own homes (old name -> "module:attribute"), importable from here with a
#: DeprecationWarning until the branches written against the old layout have landed.
_MOVED = {
    "BACKENDS": "musicgraph.rag.generators:BACKENDS",
    "FAST_BACKENDS": "musicgraph.rag.generators:FAST_BACKENDS",
    "load_generator": "musicgraph.rag.generators:load_generator",
    "default_backend": "musicgraph.rag.generators:default_backend",
    "installed_backends": "musicgraph.rag.generators:installed_backends",
    "clear_cache": "musicgraph.rag.generators:clear_cache",
    "smollm2_gguf": "musicgraph.rag.causal:smollm2_gguf",
    "t5_local_dir": "musicgraph.rag.t5_local:t5_local_dir",
    "t5_local_available": "musicgraph.rag.t5_local:t5_local_available",
    "lm_available": "musicgraph.lm.answer:lm_available",
}


__getattr__ = moved_getattr(__name__, _MOVED)
