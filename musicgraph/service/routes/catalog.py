"""``POST /catalog/changes``: the change records of ``musicgraph catalog add|update|delete`` over HTTP.

Needs an API key. A request is one change: all its records are applied in one store transaction,
or none is (422 ``invalid_change`` names the bad record). The client's ``change_id`` makes it
idempotent: the same id again answers the first result with ``replayed: true`` and changes
nothing (a different body under a used id is 409 ``change_id_conflict``). Every worker reloads
its indexes after the change, in the background.

Two body forms::

    POST /catalog/changes                      Content-Type: application/json
    {"change_id": "c-1", "op": "add", "changes": [{"type": "song", "artist": "...", "title": "..."}]}

    POST /catalog/changes?op=add&change_id=c-1 Content-Type: application/x-ndjson
    {"type": "song", "artist": "...", "title": "..."}       <- the lines of a catalog JSONL file
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from musicgraph.service.errors import COMMON_ERRORS, ApiError, ErrorDetail, error_responses
from musicgraph.service.schemas import CatalogChangesBody, CatalogChangesOut
from musicgraph.service.security import require_key

router = APIRouter(tags=["catalog"])

_BODY_SCHEMA = CatalogChangesBody.model_json_schema()
_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _BODY_SCHEMA},
            "application/x-ndjson": {"schema": {"type": "string", "description": "One change record (JSON) a line; "
                                                "give op and change_id as query parameters or change_id as the "
                                                "Idempotency-Key header."}},
        },
    },
    "parameters": [
        {"name": "op", "in": "query", "required": False, "schema": {"type": "string", "enum": ["add", "update", "delete"]},
         "description": "With a JSONL body."},
        {"name": "change_id", "in": "query", "required": False,
         "schema": {"type": "string", "pattern": r"^[A-Za-z0-9._:-]{1,128}$"}, "description": "With a JSONL body."},
    ],
}


def _validation(exc: ValidationError) -> ApiError:
    details = [ErrorDetail(loc=["body", *[p for p in e["loc"] if isinstance(p, (str, int))]], msg=e["msg"])
               for e in exc.errors()]
    first = details[0] if details else None
    where = ".".join(str(p) for p in first.loc[1:]) if first else ""
    return ApiError("validation_error", f"invalid body: {where + ': ' if where else ''}{first.msg if first else ''}",
                    details=details)


async def _read_body(request: Request) -> CatalogChangesBody:
    ctype = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    raw = await request.body()
    if ctype in ("application/x-ndjson", "application/jsonl", "application/x-jsonlines", "text/plain"):
        records: list[Any] = []
        for n, line in enumerate(raw.decode("utf-8", errors="replace").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ApiError("validation_error", f"line {n}: not JSON ({exc.msg})") from None
        data = {"change_id": request.query_params.get("change_id") or request.headers.get("idempotency-key"),
                "op": request.query_params.get("op"), "changes": records}
        data = {k: v for k, v in data.items() if v is not None}
    elif ctype == "application/json":
        try:
            data = json.loads(raw or b"null")
        except json.JSONDecodeError as exc:
            raise ApiError("validation_error", f"body is not JSON ({exc.msg})") from None
    else:
        raise ApiError("unsupported_media_type", f"unsupported Content-Type {ctype!r}; send application/json or "
                       "application/x-ndjson")
    try:
        body = CatalogChangesBody.model_validate(data)
    except ValidationError as exc:
        raise _validation(exc) from None
    for i, rec in enumerate(body.changes, start=1):
        if not isinstance(rec, dict):
            raise ApiError("validation_error", f"changes[{i}]: expected a JSON object")
    return body


@router.post("/catalog/changes", response_model=CatalogChangesOut, dependencies=[Depends(require_key)],
             openapi_extra=_OPENAPI, summary="Apply catalog changes (API key; atomic, idempotent by change_id)",
             responses=error_responses(*COMMON_ERRORS, "invalid_change", "change_id_conflict",
                                       "unsupported_media_type", "not_supported", "store_empty", "starting"))
async def changes(request: Request) -> dict[str, Any]:
    body = await _read_body(request)
    engine = request.app.state.engine
    engine.generation()  # a clear error while the store is not loaded yet
    return await run_in_threadpool(engine.apply_changes, body.change_id, body.op, body.changes)
