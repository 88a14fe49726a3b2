"""Client-side pacing: spend a request budget evenly instead of provoking 429s."""

from __future__ import annotations

import threading
import time
import typing as t


class Clock(t.Protocol):
    """What the limiter needs of a clock (``time`` itself, or a fake in tests)."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait."""
        ...


class RateLimiter:
    """A token bucket: ``burst`` requests at once, then ``per_minute`` per minute.

    Shared by every stream that uses the same credential, so the budget is spent once
    across streams. It mirrors how such APIs meter requests, with one safety lag: after
    the bucket was full, refilling is counted from slightly later than the request that
    started spending it. The server measures from when that request *arrived*, which
    can be later than when it was sent (connection set-up), so an exact mirror could be
    a hair ahead of the server and provoke a 429.
    """

    #: The refill lag in requests' worth of time (e.g. 0.3 s at 10 per minute)...
    SAFETY_MARGIN = 0.05
    #: ...and at least this many seconds, so that fast (test) rates stay safe too.
    SAFETY_SECONDS = 0.025

    def __init__(self, per_minute: float, burst: int, *, clock: Clock = time) -> None:
        """Create a full bucket.

        Args:
            per_minute: Sustained requests per minute.
            burst: Requests that may be sent back to back when the bucket is full.
            clock: Provides ``monotonic()`` and ``sleep()`` (injectable for tests).
        """
        self._clock = clock
        self.rate = per_minute / 60.0
        self.capacity = float(burst)
        self.lag = max(self.SAFETY_MARGIN / self.rate, self.SAFETY_SECONDS)
        self._tokens = self.capacity
        self._updated = self._clock.monotonic()
        self._lock = threading.Lock()

    def _refill(self, now: float) -> None:
        if now > self._updated:
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
            self._updated = now

    def acquire(self) -> float:
        """Block until a request may be sent, and spend one token.

        Returns:
            Seconds spent waiting.
        """
        with self._lock:  # held while sleeping: waiting callers queue up in order
            now = self._clock.monotonic()
            self._refill(now)
            if self._tokens >= self.capacity:
                self._updated = now + self.lag  # the server's refill starts on arrival
            waited = 0.0
            if self._tokens < 1:
                waited = max(0.0, self._updated - now) + (1 - self._tokens) / self.rate
                self._clock.sleep(waited)
                self._refill(self._clock.monotonic())
                self._tokens = max(self._tokens, 1.0)  # guards float rounding only
            self._tokens -= 1
            return waited

    def drain(self) -> None:
        """Empty the bucket after the server said we were too fast (a 429)."""
        with self._lock:
            self._tokens = 0.0
            self._updated = self._clock.monotonic() + self.lag

    def seconds_for(self, requests: int) -> float:
        """Estimate how long ``requests`` take from a full bucket (for the run plan)."""
        return max(0.0, requests - self.capacity) / self.rate
