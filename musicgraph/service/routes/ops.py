"""``GET /health`` (liveness and readiness) and ``GET /metrics`` (Prometheus text)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from musicgraph.service import metrics
from musicgraph.service.schemas import HealthOut

router = APIRouter(tags=["operations"])


@router.get("/health", response_model=HealthOut, summary="Liveness and readiness",
            responses={503: {"model": HealthOut, "description": "Live but not ready (starting, or no store)."}})
def health(request: Request) -> Any:
    """Always answers while the process lives (``live``). ``ready`` once the store and indexes are
    loaded; then 200, else 503. ``stale`` names every derived index that is behind the store (from
    the index manifests now, and from the last background ``musicgraph check``)."""
    body = HealthOut.model_validate(request.app.state.engine.health()).model_dump()
    return JSONResponse(body, status_code=200 if body["ready"] else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                             "description": "Prometheus text format."}})
def prometheus() -> Response:
    """Request counts and latency histograms per endpoint (route template), reloads, catalog changes."""
    data, ctype = metrics.render()
    return Response(content=data, media_type=ctype)
