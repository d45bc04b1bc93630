"""Failure injection shared by the HTTP fakes: a seeded rate plus a scripted queue.

A failure is an HTTP status (answered instead of acting), `"timeout"` or
`"reset"` (raised before acting), or `"timeout_after"` (acted, then the answer
is lost: what a crash between the remote create and the record looks like).
"""

from __future__ import annotations

import random
from collections import deque

import httpx

Failure = int | str
MIXED: tuple[Failure, ...] = (500, 503, 429, "timeout", "reset")


class Failures:
    def __init__(self, fail_rate: float = 0.0, seed: int = 0) -> None:
        self.fail_rate = fail_rate
        self.random = random.Random(seed)
        self.queue: deque[Failure] = deque()
        self.injected: list[Failure] = []

    def next(self) -> Failure | None:
        """The failure for this request, if any (the script first, then the rate)."""
        if self.queue:
            failure: Failure | None = self.queue.popleft()
        elif self.fail_rate and self.random.random() < self.fail_rate:
            failure = self.random.choice(MIXED)
        else:
            failure = None
        if failure is not None:
            self.injected.append(failure)
        return failure


def raise_transport(failure: Failure, request: httpx.Request) -> None:
    """Raise what a network failure looks like to the client."""
    if failure in ("timeout", "timeout_after"):
        raise httpx.ReadTimeout("injected timeout", request=request)
    if failure == "reset":
        raise httpx.ReadError("injected connection reset", request=request)
