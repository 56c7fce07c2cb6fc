"""The one place where the service calls the retrieval library: HTTP bodies → library calls.

Every search is one :class:`~musicgraph.retrieval.request.Request` answered by one
:class:`~musicgraph.retrieval.base.Retriever` (``Retriever.search``): free text is parsed into a
request by that retriever's parser; a structured request is used as given. ``POST /recommend``
answers with the graph retriever (multi-hop relation operators, explanation paths), ``POST
/retrieve`` with the hybrid retriever (BM25, dense, graph, emotion and audio re-rank); a body may
name another (``graph``, ``hybrid``, ``bm25``, ``dense``). :func:`ask` is ``musicgraph.ask`` with the
worker's retriever. Everything else in :mod:`musicgraph.service` presents the results.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from musicgraph.errors import IndexMissingError, RequestError
from musicgraph.graph.results import Result
from musicgraph.service.views import targets_of

if TYPE_CHECKING:
    from musicgraph.graph.store import GraphStore
    from musicgraph.rag.ask import Answer
    from musicgraph.rag.chat import ChatState
    from musicgraph.retrieval.base import Retriever
    from musicgraph.retrieval.request import Request
    from musicgraph.service.engine import Generation

#: The retriever each endpoint uses unless the body names one.
DEFAULT_RETRIEVER = {"recommend": "graph", "retrieve": "hybrid"}


@dataclass(slots=True)
class SearchOutcome:
    """Results with the request as understood (:class:`~musicgraph.service.schemas.RequestView`
    fields), notes, and the radar's targets."""

    results: list[Result]
    request: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    target: dict[str, float] = field(default_factory=dict)
    retriever: str = ""
    took_ms: float = 0.0


def search(gen: Generation, *, mode: str, query: str | None = None, request: Request | None = None,
           k: int | None = None, retriever: str | None = None) -> SearchOutcome:
    """Answer ``/recommend`` or ``/retrieve`` (``mode``) for free text or a structured request.

    Raises:
        RequestError: an invalid request (one line naming the field).
        UnknownEntityError: a seed or exclusion that is not in the graph (with suggestions).
        IndexMissingError: a text retriever without retrieval indexes.
    """
    t0 = time.perf_counter()
    name = retriever or DEFAULT_RETRIEVER[mode]
    r = gen.retriever(name)
    req = r.parse(str(query)) if request is None else request
    if k is not None:
        req = req.with_(k=k)
    if req.k > 100:
        raise RequestError("invalid request: k: at most 100 results per request", field="k")
    notes = list(req.notes)
    if name == "hybrid":
        results, trace = r.search_traced(req)  # type: ignore[attr-defined]
        notes += [n for n in trace.notes if n not in notes]
    else:
        results = r.search(req)
    return SearchOutcome(results, request_view(req, structured=request is not None), notes,
                         targets_of(req, req.text or ""), name, round((time.perf_counter() - t0) * 1000, 3))


def request_view(req: Request, structured: bool) -> dict[str, Any]:
    """:class:`~musicgraph.service.schemas.RequestView` fields of a request."""
    return {"description": req.describe(), "structured": structured,
            "parsed": req.model_dump(mode="json", exclude_defaults=True)}


def resolve_backend(backend: str, allowed: list[str]) -> str:
    """The generator to use for a request's ``backend`` among the server's ``allowed`` ones.

    Raises:
        RequestError: a backend the server does not enable (field ``backend``).
    """
    from musicgraph.rag.generators import default_backend, installed_backends

    if backend == "best":
        usable = [b for b in installed_backends() if b in allowed]
        return usable[0] if usable else "template"
    if backend not in allowed:
        raise RequestError(f"invalid request: backend: {backend!r} is not enabled on this server (enabled: "
                           f"{', '.join(allowed)}; MUSICGRAPH_SERVE_BACKENDS)", field="backend")
    return default_backend() if backend == "auto" else backend


#: One language-model generation at a time per worker (and one load of each model): they are
#: CPU-bound and large, so parallel ones only add memory. The template needs no lock.
_GENERATE = threading.Lock()


def answer_retriever(gen: Generation) -> Retriever:
    """The retriever of ``ask``: the hybrid one, or the graph one while no retrieval index exists."""
    try:
        return gen.retriever("hybrid")
    except IndexMissingError:
        return gen.retriever("graph")


def ask(gen: Generation, store: GraphStore, question: str, *, k: int, backend: str,
        history: ChatState | None = None) -> Answer:
    """A grounded answer (``musicgraph.ask``) with this generation's retriever and name index;
    ``backend`` as :func:`resolve_backend` returned it."""
    import musicgraph

    lock = contextlib.nullcontext() if backend == "template" else _GENERATE
    with lock:
        return musicgraph.ask(question, k=k, store=store, backend=backend, history=history,
                              retriever=answer_retriever(gen), catalog=gen.grounding)


def request_view_of_answer(gen: Generation, answer: Answer) -> tuple[dict[str, Any] | None, Request | None]:
    """How the answer's retrieval query was parsed (for the "why" panel), and that request."""
    if not answer.query:
        return None, None
    req = answer_retriever(gen).parse(answer.query)
    return request_view(req, structured=False), req
