"""``GET /cypher``, ``POST /cypher/{name}`` (the packaged exploration queries) and ``POST /cypher`` (raw,
API key required). Every query runs in a read transaction with a timeout and through the store's
read-only guard (:meth:`musicgraph.graph.neo4j_store.Neo4jStore.query`); they need the Neo4j store."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request

from musicgraph.service.errors import COMMON_ERRORS, ApiError, error_responses
from musicgraph.service.schemas import CypherBody, CypherOut, CypherQueryInfo, RawCypherBody
from musicgraph.service.security import require_key, require_read

router = APIRouter(tags=["cypher"])
_ERRORS = error_responses(*COMMON_ERRORS, "unknown_query", "invalid_request", "read_only", "not_supported",
                          "query_timeout")


def _queries() -> dict[str, Any]:
    from musicgraph.cypher import explore_queries

    return {q.name: q for q in explore_queries()}


@router.get("/cypher", response_model=list[CypherQueryInfo], dependencies=[Depends(require_read)],
            responses=error_responses(*COMMON_ERRORS), summary="The packaged exploration queries")
def list_queries() -> list[dict[str, Any]]:
    return [{"name": q.name, "title": q.title, "description": q.description, "params": _jsonable(q.params)}
            for q in _queries().values()]


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _run(request: Request, name: str | None, text: str, params: dict[str, Any], body: CypherBody) -> dict[str, Any]:
    from musicgraph.graph.neo4j_store import QueryTimeoutError, ReadOnlyQueryError

    settings = request.app.state.settings
    store = request.app.state.engine.store
    if store.backend != "neo4j" or not hasattr(store, "query"):
        raise ApiError("not_supported", f"Cypher queries need the Neo4j store; this server uses the {store.backend} "
                       "store (set MUSICGRAPH_NEO4J_URI, see docs/neo4j.md)")
    timeout = min(body.timeout or settings.serve_cypher_timeout, settings.serve_cypher_timeout)
    try:
        rows = store.query(text, params, timeout=timeout)
    except ReadOnlyQueryError as exc:
        raise ApiError("read_only", str(exc)) from None
    except QueryTimeoutError as exc:
        raise ApiError("query_timeout", str(exc)) from None
    except Exception as exc:  # the server's own message for syntax errors and unknown names
        from neo4j.exceptions import ClientError

        if isinstance(exc, ClientError):
            raise ApiError("invalid_request", f"Cypher error: {exc.message}") from None
        raise
    return {"name": name, "rows": _jsonable(rows[: body.limit]), "row_count": len(rows),
            "truncated": len(rows) > body.limit}


@router.post("/cypher/{name}", response_model=CypherOut, dependencies=[Depends(require_read)], responses=_ERRORS,
             summary="Run a packaged exploration query")
def run_named(request: Request, name: Annotated[str, Path(pattern=r"^[a-z0-9_]{1,64}$")],
              body: CypherBody | None = None) -> dict[str, Any]:
    """Run one of the queries of ``GET /cypher`` with parameters over its defaults (read-only, timeout)."""
    body = body or CypherBody()
    queries = _queries()
    query = queries.get(name)
    if query is None:
        raise ApiError("unknown_query", f"no packaged query {name!r}; known: {', '.join(sorted(queries))}")
    params = {**query.params, **body.params}
    missing = sorted(set(query.required_params()) - set(params))
    if missing:
        raise ApiError("invalid_request", f"{name}: missing parameter(s) {', '.join(missing)}", field="params")
    return _run(request, name, query.text, params, body)


@router.post("/cypher", response_model=CypherOut, dependencies=[Depends(require_key)], responses=_ERRORS,
             summary="Run raw Cypher (API key; read-only)")
def run_raw(request: Request, body: RawCypherBody) -> dict[str, Any]:
    """Run your own Cypher. Needs an API key; a query that would write is refused (403 ``read_only``)."""
    return _run(request, None, body.query, dict(body.params), body)
