"""sinks/http.py classifies each response once: ok, retry (with Retry-After) or park."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from autoticket.sinks.http import classify, classify_error, parse_retry_after

NOW = datetime(2026, 1, 5, 10, 0, 0, tzinfo=UTC)

# status, headers, expected outcome, expected retry_after
RESPONSES: list[tuple[int, dict[str, str], str, timedelta | None]] = [
    (200, {}, "ok", None),
    (201, {}, "ok", None),
    (204, {}, "ok", None),
    (400, {}, "permanent", None),
    (401, {}, "permanent", None),
    (403, {}, "permanent", None),
    (404, {}, "permanent", None),
    (409, {}, "permanent", None),
    (422, {}, "permanent", None),
    (408, {}, "retry", None),
    (425, {}, "retry", None),
    (429, {}, "retry", None),
    (429, {"Retry-After": "30"}, "retry", timedelta(seconds=30)),
    (503, {"Retry-After": "Mon, 05 Jan 2026 10:02:00 GMT"}, "retry", timedelta(minutes=2)),
    (503, {"Retry-After": "Mon, 05 Jan 2026 09:00:00 GMT"}, "retry", timedelta(0)),
    (503, {"Retry-After": "soon"}, "retry", None),
    (503, {"Retry-After": "999999"}, "retry", timedelta(hours=1)),
    (500, {}, "retry", None),
    (502, {}, "retry", None),
    (504, {}, "retry", None),
    (301, {}, "permanent", None),
]


@pytest.mark.parametrize(("status", "headers", "outcome", "after"), RESPONSES)
def test_response_classification(
    status: int, headers: dict[str, str], outcome: str, after: timedelta | None
) -> None:
    result = classify(httpx.Response(status, headers=headers), NOW)
    assert (result.outcome, result.retry_after) == (outcome, after)
    if outcome != "ok":
        assert result.reason.startswith(f"HTTP {status}")


def test_the_reason_is_the_standard_phrase_not_the_remote_one() -> None:
    response = httpx.Response(500, extensions={"reason_phrase": b"token=hunter2"})
    assert classify(response, NOW).reason == "HTTP 500 Internal Server Error"


REQUEST = httpx.Request("POST", "https://hooks.example/x?token=hunter2")
ERRORS: list[tuple[httpx.HTTPError, str, str]] = [
    (httpx.ConnectTimeout("t", request=REQUEST), "retry", "timeout"),
    (httpx.ReadTimeout("t", request=REQUEST), "retry", "timeout"),
    (httpx.ConnectError("refused hunter2", request=REQUEST), "retry", "connection failed"),
    (httpx.RemoteProtocolError("x", request=REQUEST), "retry", "connection failed"),
    (httpx.UnsupportedProtocol("x hunter2", request=REQUEST), "retry", "connection failed"),
    (httpx.TooManyRedirects("x", request=REQUEST), "permanent", "request failed"),
]


@pytest.mark.parametrize(("exc", "outcome", "reason"), ERRORS)
def test_transport_errors(exc: httpx.HTTPError, outcome: str, reason: str) -> None:
    result = classify_error(exc)
    assert result.outcome == outcome
    assert result.reason.startswith(reason)
    assert "hunter2" not in result.reason


@pytest.mark.parametrize("value", [None, "", "  ", "-5", "1.5"])
def test_unreadable_retry_after_is_ignored(value: str | None) -> None:
    assert parse_retry_after(value, NOW) is None
