"""A lane's pace and its circuit breaker: both per sink, both in memory.

The token bucket keeps a sink under its `rate_limit`; the breaker stops
calling a remote that keeps failing (`breaker_failures` transient failures
in a row) for `breaker_cooldown`, then lets one probe through (half-open):
its success closes the breaker, its failure opens it again.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Literal

__all__ = ["BREAKER_STATES", "Breaker", "TokenBucket"]

log = logging.getLogger("autoticket.sinks")

State = Literal["closed", "open", "half-open"]
BREAKER_STATES: dict[str, int] = {"closed": 0, "half-open": 1, "open": 2}


class TokenBucket:
    """`rate` calls per second on average, bursts up to `burst` (at least 1)."""

    def __init__(self, rate: float, now: datetime, burst: float | None = None) -> None:
        self.rate = rate
        self.capacity = max(1.0, burst if burst is not None else rate)
        self.tokens = self.capacity
        self.at = now

    def _refill(self, now: datetime) -> None:
        elapsed = max(0.0, (now - self.at).total_seconds())
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
        self.at = max(self.at, now)

    def take(self, now: datetime) -> bool:
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def wait(self, now: datetime) -> timedelta:
        """How long until a token is there."""
        self._refill(now)
        return timedelta(seconds=max(0.0, (1.0 - self.tokens) / self.rate))


class Breaker:
    def __init__(self, sink: str, failures: int, cooldown: timedelta) -> None:
        self.sink = sink
        self.failures = failures
        self.cooldown = cooldown
        self.state: State = "closed"
        self.streak = 0
        self.opened_at: datetime | None = None
        self.transitions = 0

    def _set(self, state: State, why: str) -> None:
        if state != self.state:
            log.warning("sink %s: circuit breaker %s → %s (%s)", self.sink, self.state, state, why)
            self.state = state
            self.transitions += 1

    def allows(self, now: datetime) -> bool:
        """Whether a call may go out now; moves open → half-open once the cool-down is over."""
        if self.state == "open":
            assert self.opened_at is not None
            if now - self.opened_at < self.cooldown:
                return False
            self._set("half-open", "cool-down over, probing")
        return True

    @property
    def probing(self) -> bool:
        return self.state == "half-open"

    def success(self) -> None:
        self.streak = 0
        self._set("closed", "a call succeeded")

    def failure(self, now: datetime) -> None:
        self.streak += 1
        if self.state == "half-open" or self.streak >= self.failures:
            self.opened_at = now
            why = (
                "probe failed" if self.state == "half-open" else f"{self.streak} failures in a row"
            )
            self._set("open", why)

    def reopens_at(self) -> datetime | None:
        return self.opened_at + self.cooldown if self.state == "open" and self.opened_at else None
