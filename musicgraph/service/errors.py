"""JSON errors with stable codes: every failure of the service answers ``{"error": {...}}``.

The body is the same for every endpoint (the OpenAI routes included, whose clients read
``error.message``, ``error.type`` and ``error.code``)::

    {"error": {"code": "unknown_entity", "type": "not_found", "status": 404,
               "message": "unknown artist 'Radiohed'; did you mean: Radiohead?",
               "suggestions": ["Radiohead"], "field": null, "details": []}}

``code`` is the stable, machine-readable part (:data:`CODES` lists them with their HTTP status);
``message`` is one line for people. Library exceptions map to codes in :func:`error_for`.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from pydantic import BaseModel, Field

log = logging.getLogger(__name__)

#: Every error code the service answers with, and its HTTP status.
CODES: dict[str, int] = {
    "bad_request": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "read_only": 403,
    "not_found": 404,
    "unknown_entity": 404,
    "unknown_session": 404,
    "unknown_query": 404,
    "model_not_found": 404,
    "method_not_allowed": 405,
    "change_id_conflict": 409,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "validation_error": 422,
    "invalid_request": 422,
    "invalid_change": 422,
    "rate_limited": 429,
    "internal_error": 500,
    "not_supported": 501,
    "store_empty": 503,
    "index_missing": 503,
    "starting": 503,
    "query_timeout": 504,
}

_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
          404: "not_found", 405: "invalid_request_error", 409: "conflict", 413: "invalid_request_error",
          415: "invalid_request_error", 422: "invalid_request_error", 429: "rate_limit_error",
          500: "server_error", 501: "server_error", 503: "server_error", 504: "server_error"}


class ErrorDetail(BaseModel):
    """One validation problem: where (``loc``) and what."""

    loc: list[str | int] = Field(default_factory=list)
    msg: str


class ErrorInfo(BaseModel):
    """The error object."""

    code: str = Field(description="Stable machine-readable code (see musicgraph.service.errors.CODES).")
    type: str = Field(description="Error class in the OpenAI style (invalid_request_error, not_found, ...).")
    status: int
    message: str = Field(description="One line for people.")
    suggestions: list[str] = Field(default_factory=list, description="Close names for an unknown entity.")
    field: str | None = Field(default=None, description="The request field at fault, when known.")
    details: list[ErrorDetail] = Field(default_factory=list)
    request_id: str | None = Field(default=None, description="Quoted in the server log (internal errors).")


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: ErrorInfo


class ApiError(Exception):
    """An error the service answers on purpose.

    Args:
        code: a key of :data:`CODES` (sets the status).
        message: one line for people.
        headers: extra response headers (``Retry-After``, ``WWW-Authenticate``).
    """

    def __init__(self, code: str, message: str, *, suggestions: list[str] | None = None, field: str | None = None,
                 details: list[ErrorDetail] | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        if code not in CODES:
            raise ValueError(f"unknown error code {code!r}")
        self.code = code
        self.status = CODES[code]
        self.message = message
        self.suggestions = list(suggestions or [])
        self.field = field
        self.details = list(details or [])
        self.headers = dict(headers or {})
        self.request_id: str | None = None

    def body(self) -> dict[str, Any]:
        info = ErrorInfo(code=self.code, type=_TYPES.get(self.status, "error"), status=self.status,
                         message=self.message, suggestions=self.suggestions, field=self.field,
                         details=self.details, request_id=self.request_id)
        return {"error": info.model_dump()}


def error_for(exc: BaseException) -> ApiError:
    """The :class:`ApiError` for a library exception (an unexpected one becomes ``internal_error``,
    logged with its traceback under a request id that the response quotes)."""
    from musicgraph.errors import EmptyStoreError, IndexMissingError, RequestError, UnknownEntityError
    from musicgraph.graph.schema import SchemaError

    if isinstance(exc, ApiError):
        return exc
    # (the multi-hop module still has its own UnknownEntityError/EmptyStoreError: matched by shape)
    if isinstance(exc, UnknownEntityError) or (isinstance(exc, LookupError) and hasattr(exc, "suggestions")):
        return ApiError("unknown_entity", str(exc), suggestions=[str(s) for s in getattr(exc, "suggestions", [])])
    if isinstance(exc, RequestError):
        return ApiError("invalid_request", str(exc), field=exc.field)
    if isinstance(exc, EmptyStoreError) or type(exc).__name__ == "EmptyStoreError":
        return ApiError("store_empty", str(exc))
    if isinstance(exc, IndexMissingError):
        return ApiError("index_missing", str(exc))
    try:
        from musicgraph.graph.catalog import CatalogError
    except ImportError:  # pragma: no cover - the graph package is always there
        CatalogError = ValueError  # type: ignore[misc,assignment]  # noqa: N806
    if isinstance(exc, CatalogError):
        return ApiError("invalid_change", str(exc))
    if isinstance(exc, (SchemaError, ValueError)):  # QueryError, FilterError, ask()'s checks
        return ApiError("invalid_request", str(exc))
    rid = uuid.uuid4().hex[:12]
    log.error("internal error %s: %s", rid, type(exc).__name__, exc_info=exc)
    err = ApiError("internal_error", f"internal error (request id {rid}; the server log has the details)")
    err.request_id = rid
    return err


def error_responses(*codes: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for the given error codes (one per status)."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        status = CODES[code]
        names = [c for c in codes if CODES[c] == status]
        out[status] = {"model": ErrorBody, "description": "Error: " + ", ".join(names)}
    return out


#: Errors any endpoint may answer (limits, validation, internal).
COMMON_ERRORS: tuple[str, ...] = ("bad_request", "validation_error", "payload_too_large", "rate_limited", "unauthorized",
                                  "internal_error")
