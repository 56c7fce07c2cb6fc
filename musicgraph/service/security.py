"""API keys, per-client rate limits and request-size limits.

* **API keys** (``MUSICGRAPH_SERVE_API_KEYS``, comma-separated) are sent as ``Authorization: Bearer
  KEY`` or ``X-API-Key: KEY``. Writes (``POST /catalog/changes``) and raw Cypher always need one; when
  no key is configured they are refused. Reads need one when the server is bound beyond loopback
  (or ``MUSICGRAPH_SERVE_KEYS_FOR_READS=true``); a wrong key is refused there, and ignored on open
  reads (chat clients always send some key). Keys are compared in constant time and never logged; a
  client with a valid key is identified by a hash of it, any other by its address.
* **Rate limits**: a token bucket per API key (or per client address without one) per worker:
  ``serve_rate_limit`` requests per second, bursts of ``serve_rate_burst``; beyond, 429 with ``Retry-After``.
* **Request size**: bodies above ``serve_max_body`` bytes (``serve_max_catalog_body`` for catalog
  changes) are refused with 413 before they are read in full.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import math
import threading
import time
from collections import OrderedDict
from typing import Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from musicgraph.config import Settings
from musicgraph.service import metrics
from musicgraph.service.errors import ApiError

bearer_scheme = HTTPBearer(auto_error=False, description="An API key as a bearer token.")
key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key.")

#: Paths never rate-limited (probes, metrics scrapes, the page's static files).
UNLIMITED_PREFIXES: tuple[str, ...] = ("/health", "/metrics", "/static/", "/favicon")


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address or ``localhost``."""
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def key_from_headers(headers: Any) -> str | None:
    """The API key a request carries (bearer token or ``X-API-Key``), if any."""
    auth = headers.get("authorization")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    key = headers.get("x-api-key")
    return key.strip() if key and key.strip() else None


def client_id(key: str | None, host: str | None, auth: Auth | None = None) -> str:
    """Who a request counts against for rate limits: a hash of its valid key, else its address
    (made-up keys do not get a bucket of their own)."""
    if key and (auth is None or auth.valid(key)):
        return "key:" + hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"addr:{host or 'unknown'}"


class Auth:
    """Checks API keys (see the module docstring)."""

    def __init__(self, settings: Settings, host: str):
        self._keys = [k.encode() for k in settings.api_keys()]
        self.reads_need_key = (settings.serve_keys_for_reads if settings.serve_keys_for_reads is not None
                               else not is_loopback(host))

    @property
    def has_keys(self) -> bool:
        return bool(self._keys)

    def valid(self, key: str) -> bool:
        given = key.encode()
        ok = False
        for k in self._keys:  # every key is compared: the time does not say which matched
            ok |= hmac.compare_digest(given, k)
        return ok

    def check(self, request: Request, write: bool) -> str | None:
        """The request's valid key (None when it needs none and sent none).

        Raises:
            ApiError: ``unauthorized`` for a missing key where one is needed, or a wrong key.
        """
        key = key_from_headers(request.headers)
        challenge = {"WWW-Authenticate": 'Bearer realm="musicgraph"'}
        if key is not None:
            if self._keys and self.valid(key):
                return key
            if write or self.reads_need_key:
                if not self._keys:
                    raise ApiError("unauthorized", "the server has no API key configured (MUSICGRAPH_SERVE_API_KEYS), "
                                   "so it accepts no key and no writes", headers=challenge)
                raise ApiError("unauthorized", "invalid API key", headers=challenge)
            return None  # open reads: a key the server does not know (a chat client's placeholder) is ignored
        if write or self.reads_need_key:
            what = "this write" if write else "requests to this server"
            hint = ("send it as 'Authorization: Bearer KEY' or 'X-API-Key: KEY'" if self._keys else
                    "the server has no API key configured (MUSICGRAPH_SERVE_API_KEYS), so it accepts no writes")
            raise ApiError("unauthorized", f"an API key is required for {what}: {hint}", headers=challenge)
        return None


def _auth(request: Request) -> Auth:
    return request.app.state.auth


def require_read(request: Request, _b: HTTPAuthorizationCredentials | None = Depends(bearer_scheme),
                 _k: str | None = Depends(key_scheme)) -> str | None:
    """Dependency of read endpoints (a key only when the server requires one for reads)."""
    return _auth(request).check(request, write=False)


def require_key(request: Request, _b: HTTPAuthorizationCredentials | None = Depends(bearer_scheme),
                _k: str | None = Depends(key_scheme)) -> str:
    """Dependency of writes and raw Cypher: a valid API key."""
    key = _auth(request).check(request, write=True)
    assert key is not None
    return key


class RateLimiter:
    """Token buckets per client (bounded: the least recently seen clients are forgotten)."""

    def __init__(self, rate: float, burst: int, max_clients: int = 100_000):
        self.rate = rate
        self.burst = float(burst)
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def acquire(self, client: str, now: float | None = None) -> float:
        """Take a token: 0.0 when allowed, else the seconds until the next token."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.pop(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[client] = (tokens - 1.0, now)
                wait = 0.0
            else:
                self._buckets[client] = (tokens, now)
                wait = (1.0 - tokens) / self.rate
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        return wait


async def _send_error(send: Any, err: ApiError) -> None:
    body = json.dumps(err.body()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in err.headers.items()]
    await send({"type": "http.response.start", "status": err.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class LimitsMiddleware:
    """ASGI middleware: the rate limit, then the request-size limit (see the module docstring)."""

    def __init__(self, app: Any, limiter: RateLimiter, max_body: int, max_catalog_body: int, auth: Auth | None = None):
        self.app = app
        self.limiter = limiter
        self.auth = auth
        self.max_body = max_body
        self.max_catalog_body = max_catalog_body

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if not (path == "/" or path.startswith(UNLIMITED_PREFIXES)):
            client = client_id(key_from_headers(headers), (scope.get("client") or ("unknown", 0))[0], self.auth)
            wait = self.limiter.acquire(client)
            if wait > 0:
                metrics.RATE_LIMITED.inc()
                await _send_error(send, ApiError("rate_limited", f"rate limit of {self.limiter.rate:g} requests/s "
                                                 "exceeded; retry later",
                                                 headers={"Retry-After": str(max(1, math.ceil(wait)))}))
                return
        limit = self.max_catalog_body if path.startswith("/catalog/") else self.max_body
        declared = headers.get("content-length")
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                await _send_error(send, ApiError("bad_request", "invalid Content-Length header"))
                return
            if too_big:
                await _send_error(send, ApiError("payload_too_large", f"request body of {declared} bytes is over "
                                                 f"the limit of {limit} bytes"))
                return
        received = 0
        started = False

        async def counting_receive() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge()
            return message

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _send_error(send, ApiError("payload_too_large", f"request body is over the limit of {limit} bytes"))


class _TooLarge(HTTPException):
    """Raised while reading a body past the limit (an HTTP error, so the framework passes it on)."""

    def __init__(self) -> None:
        super().__init__(status_code=413, detail="request body too large")
