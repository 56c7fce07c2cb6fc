"""An OpenAI-compatible chat API (``/v1/chat/completions``, ``/v1/models``) and the Ollama pair
(``/api/chat``, ``/api/tags``), so any chat client can use musicgraph as its "model".

The answer is the grounded answer of ``musicgraph.ask``: it names only songs the retriever found,
and the reply's ``musicgraph`` field lists them with their paths and evidence. The API is
stateless like OpenAI's: the earlier user messages of ``messages`` are replayed as refinements
("more upbeat", "no Radiohead") before the last one is answered. Models: ``musicgraph`` (the
server's default generator) and ``musicgraph-<backend>`` for each installed one.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from musicgraph.service import library
from musicgraph.service.errors import COMMON_ERRORS, ApiError, error_responses
from musicgraph.service.schemas import (
    ChatCompletion,
    ChatCompletionBody,
    ChatMessage,
    ModelList,
    OllamaChatBody,
    OllamaChatResponse,
    OllamaTags,
)
from musicgraph.service.security import require_read
from musicgraph.service.views import answer_view, targets_of

router = APIRouter(dependencies=[Depends(require_read)], tags=["openai"])
_ERRORS = error_responses(*COMMON_ERRORS, "model_not_found", "invalid_request", "starting", "store_empty")
_CREATED = int(time.time())


def models(request: Request) -> dict[str, str]:
    """Model id → generator backend."""
    from musicgraph.rag.generators import installed_backends

    settings = request.app.state.settings
    allowed = settings.allowed_backends()
    out = {"musicgraph": settings.serve_ask_backend}
    try:
        installed = installed_backends(settings)
    except Exception:  # noqa: BLE001 - a broken optional backend must not hide the others
        installed = ["template"]
    for b in installed:
        if b in allowed:
            out[f"musicgraph-{b}"] = b
    return out


def _backend(request: Request, model: str) -> str:
    known = models(request)
    name = model.removesuffix(":latest")
    if name not in known:
        raise ApiError("model_not_found", f"unknown model {model!r}; available: {', '.join(known)}", field="model")
    settings = request.app.state.settings
    return library.resolve_backend(known[name], settings.allowed_backends())


def _answer(request: Request, messages: list[ChatMessage], backend: str, k: int) -> tuple[Any, dict[str, Any]]:
    """Replay the earlier user turns as refinements, answer the last one."""
    from musicgraph.rag.chat import ChatState

    users = [m.text().strip() for m in messages if m.role == "user" and m.text().strip()]
    if not users:
        raise ApiError("invalid_request", "messages: no user message with text", field="messages")
    state = ChatState()
    for text in users[:-1]:
        state.interpret(text)
    app = request.app.state
    gen = app.engine.generation()
    with app.engine.slot():
        answer = library.ask(gen, app.engine.store, users[-1][:2000], k=k, backend=backend, history=state)
        _, parsed = library.request_view_of_answer(gen, answer)
    view = answer_view(answer, app.engine.store, targets_of(parsed, answer.query, state.targets()), app.settings,
                       gen.catalog)
    return answer, view


def _k(body: Any) -> int:
    extra = body.model_extra or {}
    k = extra.get("k", 5)
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 20:
        raise ApiError("invalid_request", "k: an integer from 1 to 20", field="k")
    return k


def _pieces(text: str) -> list[str]:
    return re.findall(r"\S+\s*|\s+", text) or [""]


def _tokens(text: str) -> int:
    return len(text.split())


@router.get("/v1/models", response_model=ModelList, responses=error_responses(*COMMON_ERRORS), summary="Models")
def list_models(request: Request) -> dict[str, Any]:
    return {"object": "list", "data": [{"id": m, "object": "model", "created": _CREATED, "owned_by": "musicgraph"}
                                       for m in models(request)]}


_SSE = {200: {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ChatCompletion"}},
                          "text/event-stream": {"schema": {"type": "string"}}},
              "description": "The completion, or with stream=true server-sent events of chat.completion.chunk objects."}}


@router.post("/v1/chat/completions", response_model=ChatCompletion, responses={**_ERRORS, **_SSE},
             summary="OpenAI-compatible chat completion (grounded answer)")
async def chat_completions(request: Request, body: ChatCompletionBody) -> Any:
    """The grounded answer to the last user message, earlier user messages read as refinements.
    ``stream: true`` sends server-sent events (``data: {...}`` chunks, then ``data: [DONE]``)."""
    backend = _backend(request, body.model)
    answer, view = await run_in_threadpool(_answer, request, body.messages, backend, _k(body))
    cid = "chatcmpl-" + uuid.uuid4().hex[:24]
    created = int(time.time())
    extra = {"recommendations": view["recommendations"], "cited_ids": view["cited_ids"], "query": view["query"]}
    text = answer.text
    prompt_tokens = sum(_tokens(m.text()) for m in body.messages)
    if not body.stream:
        return {"id": cid, "object": "chat.completion", "created": created, "model": body.model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": _tokens(text),
                          "total_tokens": prompt_tokens + _tokens(text)},
                "musicgraph": extra}

    def events() -> Iterator[str]:
        def chunk(delta: dict[str, Any], finish: str | None = None, **more: Any) -> str:
            obj = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": body.model,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **more}
            return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"

        yield chunk({"role": "assistant", "content": ""})
        for piece in _pieces(text):
            yield chunk({"content": piece})
        yield chunk({}, "stop", musicgraph=extra)
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


# ------------------------------------------------------------------------------ Ollama
def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@router.get("/api/tags", response_model=OllamaTags, responses=error_responses(*COMMON_ERRORS), tags=["ollama"],
            summary="Ollama: models")
def ollama_tags(request: Request) -> dict[str, Any]:
    return {"models": [{"name": f"{m}:latest", "model": f"{m}:latest", "modified_at": _now(), "size": 0,
                        "digest": uuid.uuid5(uuid.NAMESPACE_URL, m).hex,
                        "details": {"family": "musicgraph", "format": "graph+rag", "parameter_size": "n/a"}}
                       for m in models(request)]}


_NDJSON = {200: {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/OllamaChatResponse"}},
                             "application/x-ndjson": {"schema": {"type": "string"}}},
                 "description": "The reply, or with stream=true (the default) one JSON object a line."}}


@router.post("/api/chat", response_model=OllamaChatResponse, responses={**_ERRORS, **_NDJSON}, tags=["ollama"],
             summary="Ollama: chat (grounded answer)")
async def ollama_chat(request: Request, body: OllamaChatBody) -> Any:
    backend = _backend(request, body.model)
    answer, _ = await run_in_threadpool(_answer, request, body.messages, backend, 5)
    text = answer.text
    if not body.stream:
        return {"model": body.model, "created_at": _now(), "message": {"role": "assistant", "content": text},
                "done": True, "done_reason": "stop"}

    def lines() -> Iterator[str]:
        for piece in _pieces(text):
            yield json.dumps({"model": body.model, "created_at": _now(),
                              "message": {"role": "assistant", "content": piece}, "done": False}) + "\n"
        yield json.dumps({"model": body.model, "created_at": _now(), "message": {"role": "assistant", "content": ""},
                          "done": True, "done_reason": "stop"}) + "\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson")
