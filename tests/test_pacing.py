"""The token-bucket pacer, on a fake clock."""

from __future__ import annotations

import pytest

from tap_ai_analytics.pacing import RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


def test_burst_goes_out_at_once_then_requests_are_spaced() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10, 20, clock=clock)
    for _ in range(20):
        assert limiter.acquire() == 0
    start = clock.now
    limiter.acquire()
    first_wait = clock.now - start
    limiter.acquire()
    second_wait = clock.now - start - first_wait
    # One token every 6 s; the first wait also includes the one-off safety lag.
    assert first_wait == pytest.approx(6 + limiter.lag, rel=1e-6)
    assert second_wait == pytest.approx(6, rel=1e-6)


def test_sustained_rate_never_exceeds_budget() -> None:
    clock = FakeClock()
    limiter = RateLimiter(600, 20, clock=clock)
    times = []
    for _ in range(500):
        limiter.acquire()
        times.append(clock.now)
    # In any window of 60 s at most burst + rate requests were admitted.
    for index, t0 in enumerate(times):
        in_window = sum(1 for t in times[index:] if t < t0 + 60)
        assert in_window <= 20 + 600
    elapsed = times[-1] - times[0]
    floor = (500 - 20) / 10
    assert floor <= elapsed <= floor * 1.06


def test_drain_after_429_forces_a_full_interval() -> None:
    clock = FakeClock()
    limiter = RateLimiter(60, 5, clock=clock)
    limiter.acquire()
    limiter.drain()
    waited = limiter.acquire()
    assert waited == pytest.approx(1 + limiter.lag, rel=1e-6)


def test_estimate_accounts_for_the_burst() -> None:
    limiter = RateLimiter(10, 20)
    assert limiter.seconds_for(20) == 0
    assert limiter.seconds_for(80) == pytest.approx(360)


def test_refill_is_never_counted_before_the_first_request_arrives() -> None:
    # A request sent at t=0 may reach the server late; the server's bucket then refills
    # from that later arrival. The limiter must never assume an earlier refill start.
    clock = FakeClock()
    limiter = RateLimiter(60, 2, clock=clock)
    limiter.acquire()
    limiter.acquire()
    clock.now += 1.0  # exactly one request's worth of refill, by the client's clock
    waited = limiter.acquire()
    assert waited == pytest.approx(limiter.lag, rel=1e-6)
