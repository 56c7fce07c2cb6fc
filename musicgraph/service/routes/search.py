"""``POST /recommend``, ``POST /retrieve``, ``POST /ask``, ``POST /chat`` (sessions) and ``DELETE /chat/{id}``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request

from musicgraph.service import library
from musicgraph.service.errors import COMMON_ERRORS, error_responses
from musicgraph.service.schemas import (
    SESSION_ID,
    AnswerOut,
    AskBody,
    ChatBody,
    ChatResponse,
    SearchBody,
    SearchResponse,
    SessionDeleted,
)
from musicgraph.service.security import require_read
from musicgraph.service.views import answer_view, result_views, targets_of

router = APIRouter(dependencies=[Depends(require_read)])
_SEARCH_ERRORS = error_responses(*COMMON_ERRORS, "unknown_entity", "invalid_request", "index_missing", "starting",
                                 "store_empty")


def _search(request: Request, body: SearchBody, mode: str) -> dict[str, Any]:
    app = request.app.state
    gen = app.engine.generation()
    with app.engine.slot():
        out = library.search(gen, mode=mode, query=body.query, request=body.request, k=body.k,
                             retriever=body.retriever)
        return {
            "results": result_views(out.results, app.engine.store, out.target, app.settings, gen.catalog),
            "request": out.request,
            "retriever": out.retriever,
            "notes": out.notes,
            "store_version": gen.version,
            "took_ms": out.took_ms,
        }


@router.post("/recommend", response_model=SearchResponse, responses=_SEARCH_ERRORS, tags=["recommend"],
             summary="Recommendations with explanation paths")
def recommend(request: Request, body: SearchBody) -> dict[str, Any]:
    """Songs, artists, albums or playlists for a request: free text (``query``) or structured
    (``request``: seeds with relations, conjunctive constraints, soft targets, kind, k), answered by
    the graph retriever unless ``retriever`` names another. Every result carries its paths (and
    ``why``: each in words with its aggregate), per-component scores, evidence, explanation graph
    and audio-feature radar."""
    return _search(request, body, "recommend")


@router.post("/retrieve", response_model=SearchResponse, responses=_SEARCH_ERRORS, tags=["recommend"],
             summary="Hybrid retrieval (BM25, dense, graph, emotion and audio re-rank)")
def retrieve(request: Request, body: SearchBody) -> dict[str, Any]:
    """Results for a request by the hybrid retriever (BM25, dense, graph operators, emotion and audio
    re-rank) unless ``retriever`` names another; the same result shape as ``/recommend``."""
    return _search(request, body, "retrieve")


def _backend(request: Request, backend: str | None) -> str:
    settings = request.app.state.settings
    return library.resolve_backend(backend or settings.serve_ask_backend, settings.allowed_backends())


def _answer(request: Request, answer: Any, gen: Any, overrides: dict[str, float] | None = None) -> dict[str, Any]:
    app = request.app.state
    view, parsed = library.request_view_of_answer(gen, answer)
    target = targets_of(parsed, answer.query or answer.question, overrides)
    return {**answer_view(answer, app.engine.store, target, app.settings, gen.catalog), "request": view}


@router.post("/ask", response_model=AnswerOut, responses=_SEARCH_ERRORS, tags=["ask"],
             summary="A grounded answer in words, citing retrieved songs")
def ask(request: Request, body: AskBody) -> dict[str, Any]:
    """Answer a question with recommendations from the catalog; the text cites only them."""
    app = request.app.state
    gen = app.engine.generation()
    with app.engine.slot():
        answer = library.ask(gen, app.engine.store, body.question, k=body.k, backend=_backend(request, body.backend))
        return _answer(request, answer, gen)


@router.post("/chat", response_model=ChatResponse,
             responses={**_SEARCH_ERRORS, **error_responses("unknown_session")}, tags=["ask"],
             summary="One message of a conversation with refinements")
def chat(request: Request, body: ChatBody) -> dict[str, Any]:
    """Send a message; follow-ups refine the previous answer ("more upbeat", "no Radiohead", "more like the
    second one", "why that one?"). Pass the returned ``session_id`` with the next message; a session
    ends ``serve_session_ttl`` seconds after its last message."""
    from musicgraph.service import metrics

    app = request.app.state
    gen = app.engine.generation()
    with app.sessions.session(body.session_id) as (sid, state), app.engine.slot():
        answer = library.ask(gen, app.engine.store, body.message, k=body.k,
                             backend=_backend(request, body.backend), history=state)
        turn = state.turns[-1][1] if state.turns else None
        expires = app.sessions.save(sid, state)
        out = _answer(request, answer, gen, state.targets())
    metrics.SESSIONS.set(app.sessions.count())
    return {**out, "session_id": sid, "expires_at": expires, "intent": turn.intent if turn else "new",
            "changes": list(turn.changes) if turn else []}


@router.delete("/chat/{session_id}", response_model=SessionDeleted,
               responses=error_responses(*COMMON_ERRORS), tags=["ask"], summary="End a chat session")
def end_chat(request: Request, session_id: Annotated[str, Path(pattern=SESSION_ID)]) -> dict[str, Any]:
    return {"session_id": session_id, "deleted": request.app.state.sessions.delete(session_id)}
