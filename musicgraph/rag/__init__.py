"""RAG generator: grounded recommendations and explanations from retrieved graph evidence.

``ask(question, k=5, backend=..., history=None) -> Answer`` is the entry point (also exported as
``musicgraph.ask``); ``ChatSession`` keeps multi-turn state. Backends (template, seq2seq, t5-local,
smollm2) load their models lazily, so importing this package stays light.
"""

from __future__ import annotations

from musicgraph.rag.ask import Answer, Recommendation, ask
from musicgraph.rag.base import BACKENDS, Generator, GeneratorError, load_generator
from musicgraph.rag.chat import ChatSession, ChatState
from musicgraph.rag.context import Context, build_context
from musicgraph.rag.grounding import Catalog, GroundingReport, ground

__all__ = [
    "BACKENDS",
    "Answer",
    "Catalog",
    "ChatSession",
    "ChatState",
    "Context",
    "Generator",
    "GeneratorError",
    "GroundingReport",
    "Recommendation",
    "ask",
    "build_context",
    "ground",
    "load_generator",
]
