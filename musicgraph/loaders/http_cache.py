"""The shared HTTP layer of the live API clients: an SQLite response cache and a polite client.

:class:`HttpCache` stores responses on disk keyed by the request (method, URL, sorted query
parameters; secrets such as ``api_key`` are left out of the key and never stored), so a rerun of an
enrichment costs no request at all. 200 answers and definite "not found" answers (404) are cached;
errors that may pass (429, 5xx, timeouts) never are.

:class:`HttpClient` sends every request through one ``requests.Session`` (injectable: tests pass a
session patched by ``responses``), a :class:`~musicgraph.loaders.ratelimit.RateLimiter`, and a retry
loop with exponential backoff on network errors, timeouts, 429 and 5xx. ``Retry-After`` (seconds or
an HTTP date) is honoured by pausing the limiter, so every later request waits too. In offline mode
the client serves from the cache only and raises :class:`OfflineCacheMiss` for anything else.

Errors form one hierarchy under :class:`ApiError`; each message names the service, the request and
what to do. :class:`ApiUnavailableError` means the service or the network is down (callers stop a
run); the others concern one request (callers record it and go on).
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from musicgraph.errors import MusicgraphError
from musicgraph.loaders.ratelimit import Clock, RateLimiter, SystemClock
from musicgraph.redact import redact, register_secret

log = logging.getLogger(__name__)

#: Query parameters and headers that carry credentials: never part of a cache key, never stored.
SECRET_PARAMS: frozenset[str] = frozenset({"api_key", "access_token", "token", "sk", "api_sig"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    service TEXT NOT NULL,
    url TEXT NOT NULL,
    status INTEGER NOT NULL,
    content_type TEXT,
    body BLOB NOT NULL,
    fetched_at REAL NOT NULL
);
"""


# --------------------------------------------------------------------------- errors
class ApiError(MusicgraphError, RuntimeError):
    """Base class of API client errors; ``service`` and ``url`` say which request failed."""

    def __init__(self, message: str, *, service: str = "", url: str = "", status: int | None = None) -> None:
        super().__init__(redact(message))  # API keys and tokens never reach error messages
        self.service = service
        self.url = redact(url)
        self.status = status


class NotFoundError(ApiError):
    """The service answered that the requested entity does not exist (HTTP 404 or equivalent)."""


class MalformedResponseError(ApiError):
    """The service answered with a body that is not the JSON (or HTML) expected."""


class RateLimitedError(ApiError):
    """HTTP 429 persisted through every retry."""


class ApiUnavailableError(ApiError):
    """Network errors, timeouts or 5xx persisted through every retry: the service is unreachable."""


class MissingCredentialError(ApiError):
    """A token or key is needed and not configured; the message names the variable to set."""


class OfflineCacheMiss(ApiError):
    """Offline mode and the response is not in the cache."""


# --------------------------------------------------------------------------- cache
def request_key(method: str, url: str, params: Mapping[str, Any] | None = None) -> str:
    """Stable cache key of a request: SHA-1 of method, URL and sorted non-secret parameters."""
    return hashlib.sha1(canonical_request(method, url, params).encode("utf-8")).hexdigest()


def canonical_request(method: str, url: str, params: Mapping[str, Any] | None = None) -> str:
    """``METHOD url?sorted-params`` without secret parameters (also the URL stored in the cache)."""
    items = sorted(
        (str(k), str(v)) for k, v in (params or {}).items() if v is not None and k not in SECRET_PARAMS
    )
    query = urlencode(items)
    return f"{method.upper()} {url}" + (f"?{query}" if query else "")


@dataclass(slots=True)
class HttpResponse:
    """A response as the clients see it, fresh or from the cache."""

    status: int
    body: bytes
    url: str
    content_type: str = ""
    fetched_at: float = field(default_factory=time.time)
    from_cache: bool = False
    service: str = ""

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON, or :class:`MalformedResponseError` naming the request."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            snippet = self.text[:80].replace("\n", " ")
            raise MalformedResponseError(
                f"{self.service}: malformed JSON from {self.url}: {exc} (body starts {snippet!r})",
                service=self.service,
                url=self.url,
                status=self.status,
            ) from exc


class HttpCache:
    """SQLite cache of HTTP responses (one file, safe to share between clients and threads).

    Args:
        path: the SQLite file (its directory is created). ``":memory:"`` for a throwaway cache.
        max_age: seconds after which an entry is stale and refetched online (None: never).
    """

    def __init__(self, path: str | Path, max_age: float | None = None) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.max_age = max_age
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self.hits = 0
        self.misses = 0

    def __repr__(self) -> str:
        return f"HttpCache({self.path!r})"

    def get(self, key: str, *, allow_stale: bool = False) -> HttpResponse | None:
        """The cached response for ``key``, or None (also when stale, unless ``allow_stale``)."""
        with self._lock:
            row = self._db.execute(
                "SELECT service, url, status, content_type, body, fetched_at FROM responses WHERE key = ?",
                (key,),
            ).fetchone()
        if row is None or (
            not allow_stale and self.max_age is not None and time.time() - row[5] > self.max_age
        ):
            self.misses += 1
            return None
        self.hits += 1
        service, url, status, ctype, body, fetched_at = row
        return HttpResponse(
            status=status, body=bytes(body), url=url, content_type=ctype or "", fetched_at=fetched_at,
            from_cache=True, service=service,
        )

    def put(self, key: str, response: HttpResponse) -> None:
        """Store ``response`` under ``key`` (replacing an older entry)."""
        with self._lock:
            self._db.execute(
                "INSERT INTO responses(key, service, url, status, content_type, body, fetched_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET service = excluded.service, "
                "url = excluded.url, status = excluded.status, content_type = excluded.content_type, "
                "body = excluded.body, fetched_at = excluded.fetched_at",
                (key, response.service, response.url, response.status, response.content_type,
                 response.body, response.fetched_at),
            )

    def delete(self, key: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM responses WHERE key = ?", (key,))

    def delete_matching(self, service: str, *fragments: str) -> int:
        """Delete the cached responses of ``service`` whose request URL contains every fragment
        (e.g. a user's listening history when the person asks to be forgotten); returns how many."""
        if not fragments:
            raise ValueError("give at least one URL fragment (refusing to empty a service's cache)")
        cond = " AND ".join("instr(url, ?) > 0" for _ in fragments)
        with self._lock:
            return int(self._db.execute(f"DELETE FROM responses WHERE service = ? AND {cond}",
                                        (service, *fragments)).rowcount)

    def count(self, service: str | None = None) -> int:
        """Number of cached responses (of one service)."""
        with self._lock:
            if service is None:
                return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])
            return int(
                self._db.execute("SELECT COUNT(*) FROM responses WHERE service = ?", (service,)).fetchone()[0]
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()


# --------------------------------------------------------------------------- client
def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass(slots=True)
class RetryPolicy:
    """Retries with exponential backoff: ``base * factor**attempt`` seconds, capped at ``cap``."""

    retries: int = 4
    base: float = 1.0
    factor: float = 2.0
    cap: float = 60.0
    max_retry_after: float = 300.0
    retry_statuses: frozenset[int] = frozenset({429, 500, 502, 503, 504})

    def delay(self, attempt: int) -> float:
        return min(self.cap, self.base * self.factor**attempt)


class HttpClient:
    """Cached, rate-limited, retrying GETs for one service.

    Args:
        service: name used in messages, logs and the cache (``musicbrainz``, ``genius``, ``lastfm``).
        limiter: the service's rate limiter.
        cache: response cache, or None for none.
        session: a ``requests.Session`` (default: a new one); tests inject one.
        user_agent: the User-Agent header.
        headers: extra headers for every request (e.g. authorization; never cached).
        timeout: seconds for connect and read.
        offline: serve only from ``cache``; :class:`OfflineCacheMiss` otherwise.
        retry: retry policy; its sleeps go through ``limiter.clock``.
    """

    def __init__(
        self,
        service: str,
        limiter: RateLimiter,
        cache: HttpCache | None = None,
        *,
        session: Any = None,
        user_agent: str = "musicgraph",
        headers: Mapping[str, str] | None = None,
        timeout: float = 15.0,
        offline: bool = False,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.service = service
        self.limiter = limiter
        self.cache = cache
        if session is None:
            import requests

            session = requests.Session()
        self.session = session
        self.user_agent = user_agent
        self.headers: dict[str, str] = dict(headers or {})
        self.timeout = timeout
        self.offline = offline
        self.retry = retry or RetryPolicy()
        self.requests_sent = 0

    @property
    def clock(self) -> Clock:
        return self.limiter.clock if self.limiter is not None else SystemClock()

    def get(
        self,
        url: str,
        params: Mapping[str, Any] | None = None,
        *,
        use_cache: bool = True,
        accept: str = "application/json",
        cache_statuses: Iterable[int] = (200, 404),
        raise_for_status: bool = True,
    ) -> HttpResponse:
        """GET ``url`` (from the cache when possible); raise :class:`ApiError` subclasses on failure.

        A 404 raises :class:`NotFoundError` (and is cached, so a rerun does not ask again). With
        ``raise_for_status=False`` 4xx answers are returned for the caller to interpret (services
        such as Last.fm put their error codes in the body); retries still apply to 429 and 5xx.
        """
        params = {k: v for k, v in (params or {}).items() if v is not None}
        described = canonical_request("GET", url, params)
        key = request_key("GET", url, params)
        if use_cache and self.cache is not None:
            cached = self.cache.get(key, allow_stale=self.offline)
            if cached is not None:
                log.debug("%s: cache hit %s", self.service, described)
                return self._checked(cached) if raise_for_status else cached
        if self.offline:
            raise OfflineCacheMiss(
                f"{self.service}: offline mode and no cached response for {described} "
                "(run without --offline / MUSICGRAPH_OFFLINE=0 to fetch it)",
                service=self.service,
                url=described,
            )
        response = self._send(url, params, described, accept)
        if use_cache and self.cache is not None and response.status in set(cache_statuses):
            self.cache.put(key, response)
        return self._checked(response) if raise_for_status else response

    def forget(self, url: str, params: Mapping[str, Any] | None = None) -> None:
        """Drop the cached response of a request (an answer found to be a transient error)."""
        if self.cache is not None:
            self.cache.delete(request_key("GET", url, {k: v for k, v in (params or {}).items() if v is not None}))

    def _checked(self, response: HttpResponse) -> HttpResponse:
        if response.status == 404:
            raise NotFoundError(
                f"{self.service}: not found (404): {response.url}",
                service=self.service, url=response.url, status=404,
            )
        if response.status >= 400:
            raise ApiError(
                f"{self.service}: HTTP {response.status} for {response.url}: {response.text[:200]}",
                service=self.service, url=response.url, status=response.status,
            )
        return response

    def _send(self, url: str, params: Mapping[str, Any], described: str, accept: str) -> HttpResponse:
        import requests

        headers = {"User-Agent": self.user_agent, "Accept": accept, **self.headers}
        last_problem = ""
        last_status: int | None = None
        for attempt in range(self.retry.retries + 1):
            self.limiter.acquire()
            self.requests_sent += 1
            wait: float | None = None
            try:
                raw = self.session.get(url, params=dict(params), headers=headers, timeout=self.timeout)
            except requests.Timeout as exc:
                last_problem, last_status = f"timed out after {self.timeout:g}s ({exc.__class__.__name__})", None
            except requests.RequestException as exc:
                # the exception text carries the full URL, query string (api_key=...) included
                last_problem, last_status = redact(f"network error: {exc}"), None
            else:
                status = int(raw.status_code)
                if status not in self.retry.retry_statuses:
                    return HttpResponse(
                        status=status, body=raw.content, url=described,
                        content_type=raw.headers.get("Content-Type", ""), service=self.service,
                    )
                last_status = status
                last_problem = f"HTTP {status}"
                wait = parse_retry_after(raw.headers.get("Retry-After"))
                if wait is not None:
                    wait = min(wait, self.retry.max_retry_after)
                    self.limiter.defer(wait)
            if attempt == self.retry.retries:
                break
            backoff = self.retry.delay(attempt)
            log.warning(
                "%s: %s for %s; retry %d/%d in %.1fs",
                self.service, last_problem, described, attempt + 1, self.retry.retries,
                wait if wait is not None else backoff,
            )
            if wait is None:
                self.clock.sleep(backoff)
        tries = self.retry.retries + 1
        if last_status == 429:
            raise RateLimitedError(
                f"{self.service}: still rate limited (HTTP 429) after {tries} tries for {described}",
                service=self.service, url=described, status=429,
            )
        raise ApiUnavailableError(
            f"{self.service}: {last_problem} after {tries} tries for {described}; "
            "check the network, or use --offline (MUSICGRAPH_OFFLINE=1) to serve from the cache",
            service=self.service, url=described, status=last_status,
        )

    def get_json(self, url: str, params: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        """GET and parse JSON. A malformed body is not kept in the cache (a rerun asks again)."""
        response = self.get(url, params, **kwargs)
        try:
            return response.json()
        except MalformedResponseError:
            self.forget(url, params)
            raise


def default_cache(cache_dir: Path) -> HttpCache:
    """The shared on-disk response cache of all API clients (``<cache_dir>/http.sqlite``)."""
    return HttpCache(Path(cache_dir) / "http.sqlite")


def default_user_agent(contact: str) -> str:
    """The User-Agent an API client sends unless its service asks for another:
    ``musicgraph/<version> ( <contact> )``."""
    from musicgraph import __version__

    return f"musicgraph/{__version__} ( {contact} )"


def service_client(
    service: str,
    rate_per_second: float,
    *,
    user_agent: str | None = None,
    cache: HttpCache | None = None,
    session: Any = None,
    clock: Clock | None = None,
    retry: RetryPolicy | None = None,
    offline: bool | None = None,
    timeout: float | None = None,
) -> HttpClient:
    """The :class:`HttpClient` an API client uses by default: its own rate limiter (burst 1), the shared
    cache under ``MUSICGRAPH_HOME/cache``, the offline setting and :func:`default_user_agent`, unless given."""
    from musicgraph.config import get_settings

    settings = get_settings()
    if user_agent is None:
        user_agent = default_user_agent(settings.contact)
    extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
    return HttpClient(
        service,
        RateLimiter(rate_per_second, burst=1, clock=clock, name=service),
        cache if cache is not None else default_cache(settings.cache_dir),
        session=session,
        user_agent=user_agent,
        offline=settings.offline if offline is None else offline,
        retry=retry,
        **extra,
    )


def require_credential(service: str, secret: str | None, missing: str, http: HttpClient | None,
                       offline: bool | None) -> bool:
    """Check the key or token (``secret``) of an API that needs one; returns the offline mode to use.

    The secret is registered for redaction first. ``offline`` defaults to the given client's, else
    the setting; without a secret only offline use is possible, otherwise
    :class:`MissingCredentialError` with the message ``missing``.
    """
    from musicgraph.config import get_settings

    register_secret(secret)  # redacted from every error, log line and stored record
    if offline is None:
        offline = http.offline if http is not None else get_settings().offline
    if not secret and not offline:
        raise MissingCredentialError(missing, service=service)
    return offline
