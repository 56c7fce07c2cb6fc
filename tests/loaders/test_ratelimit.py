"""The token-bucket limiter, checked exactly with a fake clock."""

from __future__ import annotations

import pytest

from musicgraph.loaders.ratelimit import FakeClock, RateLimiter


def test_min_interval_spaces_requests_one_second_apart() -> None:
    clock = FakeClock(start=0.0)
    limiter = RateLimiter(1.0, burst=1, clock=clock)
    times = []
    for _ in range(4):
        limiter.acquire()
        times.append(clock.now())
    assert times == pytest.approx([0.0, 1.0, 2.0, 3.0])
    assert limiter.acquired == 4
    assert limiter.waited == pytest.approx(3.0)


def test_work_between_requests_counts_towards_the_interval() -> None:
    clock = FakeClock(start=0.0)
    limiter = RateLimiter(1.0, clock=clock)
    limiter.acquire()
    clock.advance(0.7)
    waited = limiter.acquire()
    assert waited == pytest.approx(0.3)
    clock.advance(5.0)  # idle time does not bank more than one token with burst=1
    assert limiter.acquire() == 0.0
    assert limiter.acquire() == pytest.approx(1.0)


def test_burst_allows_that_many_at_once_then_the_rate() -> None:
    clock = FakeClock(start=0.0)
    limiter = RateLimiter(4.0, burst=3, clock=clock)
    waits = [limiter.acquire() for _ in range(5)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3] == pytest.approx(0.25)
    assert waits[4] == pytest.approx(0.25)
    assert clock.now() == pytest.approx(0.5)


def test_defer_pauses_every_later_request() -> None:
    clock = FakeClock(start=0.0)
    limiter = RateLimiter(10.0, burst=5, clock=clock)
    limiter.acquire()
    limiter.defer(30.0)
    limiter.acquire()
    assert clock.now() == pytest.approx(30.0)
    # after the pause the bucket was drained: the next one waits one interval
    assert limiter.acquire() == pytest.approx(0.1)


def test_invalid_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="rate must be > 0"):
        RateLimiter(0.0)
    with pytest.raises(ValueError, match="burst"):
        RateLimiter(1.0, burst=0)
    with pytest.raises(ValueError):
        FakeClock().sleep(-1)


def test_describe_shows_the_limit() -> None:
    assert RateLimiter(1.0).describe() == "1 req/s"
    assert "burst 3" in RateLimiter(4.0, burst=3).describe()
