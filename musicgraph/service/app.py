"""The FastAPI application: :func:`create_app` wires the engine, sessions, limits, metrics and routes.

``musicgraph serve`` runs it with uvicorn (:mod:`musicgraph.service.server`); tests build it around
a fixture store::

    app = create_app(settings, engine=Engine(settings, store, index_dir=..., encoder=...))
"""

from __future__ import annotations

import logging
import os
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

import musicgraph
from musicgraph.config import Settings, get_settings
from musicgraph.service.engine import Engine
from musicgraph.service.errors import ApiError, ErrorDetail, error_for
from musicgraph.service.metrics import MetricsMiddleware
from musicgraph.service.security import Auth, LimitsMiddleware, RateLimiter
from musicgraph.service.sessions import SessionStore

log = logging.getLogger(__name__)

DESCRIPTION = """\
Knowledge-graph music recommendation over HTTP: multi-hop recommendations with the paths that explain
them, hybrid retrieval, grounded answers (also as an OpenAI-compatible chat model), entity look-ups,
read-only Cypher exploration and incremental catalog changes.

Errors are JSON with a stable `error.code`. Writes need an API key (`Authorization: Bearer KEY`).
The web page is at [/](/).
"""

_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type",
               422: "validation_error", 429: "rate_limited", 500: "internal_error", 501: "not_supported",
               503: "starting", 504: "query_timeout"}


def _error_response(err: ApiError) -> JSONResponse:
    return JSONResponse(err.body(), status_code=err.status, headers=err.headers or None)


def create_app(settings: Settings | None = None, engine: Engine | None = None, *, host: str | None = None,
               warm_in_background: bool = True) -> FastAPI:
    """The service application.

    Args:
        settings: the settings (default: from the environment).
        engine: the worker state (default: an :class:`Engine` over the configured store, started
            at application start-up).
        host: the interface it will be served on (reads need an API key beyond loopback);
            default ``settings.serve_host``.
        warm_in_background: load the indexes in a thread at start-up (``/health`` says when ready)
            instead of before the first request is accepted.
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        eng: Engine = app.state.engine
        if not eng._ready.is_set() and eng._gen is None:
            eng.start(background=warm_in_background)
        yield
        app.state.sessions.close()
        if engine is None:
            eng.close()

    app = FastAPI(title="musicgraph", version=musicgraph.__version__, description=DESCRIPTION, lifespan=lifespan,
                  openapi_tags=[{"name": n} for n in ("recommend", "ask", "entities", "cypher", "catalog",
                                                       "operations", "openai", "ollama")])
    app.state.settings = settings
    app.state.engine = engine or Engine(settings)
    app.state.sessions = SessionStore(settings.service_dir / f"sessions-{settings.store_name}.sqlite",
                                      ttl=settings.serve_session_ttl, max_sessions=settings.serve_max_sessions)
    app.state.auth = Auth(settings, host or settings.serve_host)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [ErrorDetail(loc=[p for p in e.get("loc", ()) if isinstance(p, (str, int))],
                               msg=str(e.get("msg", "invalid")).removeprefix("Value error, ")) for e in exc.errors()]
        first = details[0] if details else None
        where = ".".join(str(p) for p in first.loc[1:]) if first else ""
        msg = f"invalid {first.loc[0] if first and first.loc else 'request'}: " + \
            (f"{where}: " if where else "") + (first.msg if first else "")
        return _error_response(ApiError("validation_error", msg, details=details, field=where or None))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "bad_request" if exc.status_code < 500 else "internal_error")
        message = {404: f"no endpoint {request.url.path}", 405: f"{request.method} is not allowed on {request.url.path}",
                   413: "request body too large"}.get(exc.status_code, str(exc.detail))
        err = ApiError(code, message)
        err.status = exc.status_code
        return _error_response(err)

    async def _library(request: Request, exc: Exception) -> JSONResponse:
        return _error_response(_library_error(exc))

    # the library's expected errors derive from these (MusicgraphError, ValueError, LookupError, the
    # generator's RuntimeError, missing index files); anything else is a bug: 500 with a request id
    from musicgraph.errors import MusicgraphError

    for cls in (MusicgraphError, ValueError, LookupError, RuntimeError, OSError, Exception):
        app.add_exception_handler(cls, _library)

    from musicgraph.service.routes import catalog, cypher, entities, openai, ops, search, web

    for module in (search, entities, cypher, catalog, ops, openai, web):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=web.static_dir()), name="static")

    # outermost first: metrics see every request, limits run before any route
    app.add_middleware(LimitsMiddleware, limiter=RateLimiter(settings.serve_rate_limit, settings.serve_rate_burst),
                       max_body=settings.serve_max_body, max_catalog_body=settings.serve_max_catalog_body,
                       auth=app.state.auth)
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(_WorkerHeader)
    return app


def _library_error(exc: Exception) -> ApiError:
    if type(exc).__name__ == "GeneratorError":
        return ApiError("invalid_request", str(exc), field="backend")
    return error_for(exc)


class _WorkerHeader:
    """Adds ``X-Musicgraph-Worker: <pid>`` (which worker process answered)."""

    def __init__(self, app: Any):
        self.app = app
        self.value = str(os.getpid()).encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-musicgraph-worker", self.value)]
            await send(message)

        await self.app(scope, receive, send_wrapper)


def create_app_from_env() -> FastAPI:
    """The application of one ``musicgraph serve`` worker process (uvicorn's factory)."""
    return create_app(get_settings())
