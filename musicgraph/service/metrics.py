"""Prometheus metrics of the service: request counts and latency histograms per endpoint.

Endpoints are labelled by their route template (``/songs/{id}``), never by the raw path, so the
number of series stays bounded. With several worker processes ``musicgraph serve`` points
``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory and ``GET /metrics`` aggregates every worker.
"""

from __future__ import annotations

import os
import re
import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

REQUESTS = Counter("musicgraph_http_requests", "HTTP requests answered, by endpoint, method and status.",
                   ["endpoint", "method", "status"])
LATENCY = Histogram("musicgraph_http_request_duration_seconds", "Time to answer a request, by endpoint.",
                    ["endpoint", "method"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
RELOADS = Counter("musicgraph_index_reloads", "Index generations swapped in after the store changed.")
CATALOG_CHANGES = Counter("musicgraph_catalog_changes", "Catalog change requests applied.", ["op"])
SESSIONS = Gauge("musicgraph_chat_sessions", "Live chat sessions.", multiprocess_mode="max")
RATE_LIMITED = Counter("musicgraph_rate_limited", "Requests refused by the rate limit.")


_CONVERTER = re.compile(r"\{(\w+):\w+\}")  # /songs/{id:path} -> /songs/{id}


def render() -> tuple[bytes, str]:
    """The Prometheus text of this process (or of every worker in multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """ASGI middleware counting every HTTP request and timing it, labelled by route template."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", None)
            endpoint = _CONVERTER.sub(r"{\1}", endpoint) if endpoint else ("unmatched" if status["code"] == 404 else "other")
            method = scope.get("method", "GET")
            REQUESTS.labels(endpoint=endpoint, method=method, status=str(status["code"])).inc()
            LATENCY.labels(endpoint=endpoint, method=method).observe(time.perf_counter() - t0)
