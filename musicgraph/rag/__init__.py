"""RAG generator: grounded recommendations and explanations from retrieved graph evidence.

``ask(question, k=5, backend=..., history=None) -> Answer`` is the entry point (also exported as
``musicgraph.ask``); ``ChatSession`` keeps multi-turn state. Backends (template, seq2seq, t5-local,
smollm2, lm; registered in :mod:`musicgraph.rag.generators`) load their models lazily, so importing
this package stays light.
"""

from __future__ import annotations

from musicgraph.lazy import moved_getattr
from musicgraph.rag.ask import Answer, Recommendation, ask
from musicgraph.rag.base import Generator, GeneratorError
from musicgraph.rag.chat import ChatSession, ChatState
from musicgraph.rag.context import Context, build_context
from musicgraph.rag.generators import (
    BACKENDS,
    FAST_BACKENDS,
    GENERATORS,
    default_backend,
    installed_backends,
    load_generator,
)
from musicgraph.rag.grounding import GroundingReport, ground
from musicgraph.rag.mentions import NameIndex

__all__ = [
    "BACKENDS",
    "FAST_BACKENDS",
    "GENERATORS",
    "Answer",
    "ChatSession",
    "ChatState",
    "Context",
    "Generator",
    "GeneratorError",
    "GroundingReport",
    "NameIndex",
    "Recommendation",
    "ask",
    "build_context",
    "default_backend",
    "ground",
    "installed_backends",
    "load_generator",
]


#: Old public names kept importable for one release, with a DeprecationWarning: old name -> new home.
__getattr__ = moved_getattr(__name__, {"Catalog": "musicgraph.rag.mentions:NameIndex"})
