"""Rate limiting for the live API clients: a token bucket with an injectable clock.

Every API client owns one :class:`RateLimiter`. ``acquire()`` blocks (through the clock's
``sleep``) until a request may be sent; ``defer(seconds)`` pushes every later request back, which
is how a server's ``Retry-After`` is honoured by all requests, not only the retried one.

With ``burst=1`` the bucket is a plain minimum-interval limiter (MusicBrainz: one request per
second). Tests pass a :class:`FakeClock`, whose ``sleep`` only advances its time, so limiter and
retry behaviour is checked exactly and instantly.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

log = logging.getLogger(__name__)


class Clock(Protocol):
    """What the limiter needs from time: a monotonic ``now()`` and ``sleep(seconds)``."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock: :func:`time.monotonic` and :func:`time.sleep`."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class FakeClock:
    """A clock for tests: ``sleep`` advances ``now`` instantly and records every sleep."""

    def __init__(self, start: float = 1000.0) -> None:
        self.t = float(start)
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"cannot sleep a negative time ({seconds})")
        self.sleeps.append(seconds)
        self.t += seconds

    def advance(self, seconds: float) -> None:
        """Let time pass without a sleep (work done between requests)."""
        self.t += seconds


class RateLimiter:
    """Token bucket: at most ``burst`` requests at once, refilled at ``rate`` requests per second.

    Args:
        rate: sustained requests per second (> 0).
        burst: bucket size; 1 means evenly spaced requests at least ``1/rate`` seconds apart.
        clock: time source (default :class:`SystemClock`).
        name: shown in logs and in :meth:`describe`.
    """

    def __init__(self, rate: float, burst: int = 1, clock: Clock | None = None, name: str = "api") -> None:
        if not rate > 0:
            raise ValueError(f"rate limiter {name!r}: rate must be > 0 requests/second, got {rate}")
        if burst < 1:
            raise ValueError(f"rate limiter {name!r}: burst must be >= 1, got {burst}")
        self.rate = float(rate)
        self.burst = int(burst)
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.name = name
        self._tokens = float(burst)
        self._updated = self.clock.now()
        self._not_before = float("-inf")
        self._lock = threading.Lock()
        self.acquired = 0
        self.waited = 0.0

    @property
    def interval(self) -> float:
        """Seconds between requests at the sustained rate."""
        return 1.0 / self.rate

    def describe(self) -> str:
        """Human-readable limit, e.g. ``1.0 req/s`` (for progress bars)."""
        return f"{self.rate:g} req/s" + (f" (burst {self.burst})" if self.burst > 1 else "")

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
        self._updated = now

    def acquire(self) -> float:
        """Wait until one request may be sent and take its token; returns the seconds waited."""
        waited = 0.0
        with self._lock:
            while True:
                now = self.clock.now()
                if now < self._not_before:
                    pause = self._not_before - now
                else:
                    self._refill(now)
                    if self._tokens >= 1.0:
                        self._tokens -= 1.0
                        break
                    pause = (1.0 - self._tokens) / self.rate
                self.clock.sleep(pause)
                waited += pause
            self.acquired += 1
            self.waited += waited
        if waited > 0:
            log.debug("%s: waited %.3fs for the rate limit", self.name, waited)
        return waited

    def defer(self, seconds: float) -> None:
        """Send no request for the next ``seconds`` (a server's Retry-After).

        The bucket is drained: when the pause ends exactly one request may go at once.
        """
        if seconds <= 0:
            return
        with self._lock:
            now = self.clock.now()
            self._not_before = max(self._not_before, now + seconds)
            self._tokens = 1.0
            self._updated = self._not_before
        log.info("%s: pausing requests for %.1fs", self.name, seconds)
