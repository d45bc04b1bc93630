"""What every fake service shares: failure injection and a request log.

Failure kinds: an HTTP status as a string ("401", "404", "410", "429",
"500", "503"), "timeout" / "reset" (no answer, nothing done) and
"timeout_after" / "reset_after" (the request is applied, then the answer is
lost: the crash-between-create-and-record case). A random failure (`fail_rate`)
picks among 5xx, 429, timeouts and resets, lost answers included.
"""

from __future__ import annotations

import json
import random
from collections import deque
from collections.abc import Callable
from typing import Any

import httpx

Match = Callable[[httpx.Request], bool]
RANDOM_KINDS = ("500", "503", "429", "timeout", "reset", "timeout_after", "reset_after")


class FakeService:
    """Subclasses implement `handle` (the API) and `error` (its error body)."""

    def __init__(self, fail_rate: float = 0.0, seed: int = 0) -> None:
        self.fail_rate = fail_rate
        self.rng = random.Random(seed)
        self.script: deque[tuple[str, Match | None]] = deque()
        self.requests: list[httpx.Request] = []
        self.failures: dict[str, int] = {}
        self.retry_after = "7"
        self.transport = httpx.MockTransport(self._serve)

    def fail_next(self, *kinds: str, when: Match | None = None) -> None:
        """Fail the next calls (those `when` matches, if given) with `kinds`, in order."""
        self.script.extend((kind, when) for kind in kinds)

    def handle(self, request: httpx.Request) -> httpx.Response:
        raise NotImplementedError

    # Uniform views for tests over every fake (chaos): "open" or "closed", and the
    # text of the comments (work notes) in the order they were written.
    def state_of(self, ref: str) -> str:
        raise NotImplementedError

    def comments_of(self, ref: str) -> list[str]:
        raise NotImplementedError

    def error(self, status: int, message: str) -> httpx.Response:
        raise NotImplementedError

    def rate_limited(self) -> httpx.Response:
        return with_headers(self.error(429, "Too many requests"), {"Retry-After": self.retry_after})

    def _pick(self, request: httpx.Request) -> str | None:
        if self.script:
            kind, when = self.script[0]
            if when is None or when(request):
                self.script.popleft()
                return kind
            return None
        if self.fail_rate and self.rng.random() < self.fail_rate:
            return self.rng.choice(RANDOM_KINDS)
        return None

    def _serve(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        kind = self._pick(request)
        if kind is None:
            return self.handle(request)
        self.failures[kind] = self.failures.get(kind, 0) + 1
        if kind.endswith("_after"):
            self.handle(request)
            kind = kind.removesuffix("_after")
        if kind == "timeout":
            raise httpx.ReadTimeout("timed out", request=request)
        if kind == "reset":
            raise httpx.ReadError("[Errno 104] Connection reset by peer", request=request)
        status = int(kind)
        if status == 429:
            return self.rate_limited()
        return self.error(status, httpx.codes.get_reason_phrase(status))


def with_headers(response: httpx.Response, headers: dict[str, str]) -> httpx.Response:
    response.headers.update(headers)
    return response


def json_of(request: httpx.Request) -> Any:
    return json.loads(request.content or b"null")
