"""HTTP responses and transport errors, classified once for every HTTP sink.

As Alertmanager's `Retrier.Check`: 2xx is done; 408, 425, 429 and 5xx are
worth another attempt (honouring `Retry-After`); a connection error or a
timeout too; any other status will not get better by itself and parks the
action. Reasons name the status and the exception type only, never a header
or a body, so a token echoed back by the remote cannot leak into the outbox.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx

from autoticket.sinks.base import SinkResult

__all__ = ["RETRYABLE_STATUSES", "classify", "classify_error", "parse_retry_after", "send"]

RETRYABLE_STATUSES = frozenset({408, 425, 429})
MAX_RETRY_AFTER = timedelta(hours=1)


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """`Retry-After` as seconds or an HTTP-date; None when absent or unreadable.

    A date in the past means "now" (zero); a very long wish is capped at an hour.
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        delay = timedelta(seconds=int(value))
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        delay = max(timedelta(0), when - now)
    return min(delay, MAX_RETRY_AFTER)


def classify(response: httpx.Response, now: datetime) -> SinkResult:
    """ok / retry / permanent for one response; the caller fills in the remote reference."""
    status = response.status_code
    reason = f"HTTP {status} {httpx.codes.get_reason_phrase(status)}".strip()
    if 200 <= status < 300:
        return SinkResult("ok")
    if status in RETRYABLE_STATUSES or status >= 500:
        after = parse_retry_after(response.headers.get("retry-after"), now)
        return SinkResult("retry", reason=reason, retry_after=after)
    return SinkResult("permanent", reason=reason)


def classify_error(exc: httpx.HTTPError) -> SinkResult:
    """A request that got no response: retry on timeouts and transport errors.

    The message of the exception is left out: some embed the request URL,
    which may carry a token in its query.
    """
    if isinstance(exc, httpx.TimeoutException):
        return SinkResult("retry", reason=f"timeout ({type(exc).__name__})")
    if isinstance(exc, httpx.TransportError):
        return SinkResult("retry", reason=f"connection failed ({type(exc).__name__})")
    return SinkResult("permanent", reason=f"request failed ({type(exc).__name__})")


def send(
    client: httpx.Client,
    request: httpx.Request,
    now: Callable[[], datetime],
) -> tuple[SinkResult, httpx.Response | None]:
    """One attempt: send `request` and classify what came back (or did not)."""
    try:
        response = client.send(request)
        response.read()
    except httpx.HTTPError as exc:
        return classify_error(exc), None
    return classify(response, now()), response
