"""The webhook sink: documented JSON, Idempotency-Key, HMAC signature a receiver can check."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import httpx
import pytest

from autoticket.config import parse_config_text
from autoticket.sinks import OutboxItem, WebhookSink, build_sinks

SECRET = "s3cret-hmac-key"
TOKEN = "tok-abc123"
CONFIG = """
sinks:
  hook:
    type: webhook
    url: https://hooks.example.com/autoticket
    secret_env: HOOK_SECRET
    token_env: HOOK_TOKEN
    timeout: 3s
    headers: {X-Team: payments}
routes:
  - name: default
    sinks: [builtin, hook]
"""
ENV = {"HOOK_SECRET": SECRET, "HOOK_TOKEN": TOKEN}


def verify(request: httpx.Request, secret: str, max_age: float = 300) -> bool:
    """What a receiver does (docs/sinks.md): recompute the HMAC, refuse old timestamps."""
    timestamp = request.headers["X-Autoticket-Timestamp"]
    expected = hmac.new(
        secret.encode(), timestamp.encode() + b"." + request.content, hashlib.sha256
    ).hexdigest()
    given = request.headers["X-Autoticket-Signature"].removeprefix("sha256=")
    fresh = abs(time.time() - int(timestamp)) <= max_age
    return hmac.compare_digest(expected, given) and fresh


def make_sink(handler: httpx.MockTransport) -> WebhookSink:
    client = httpx.Client(transport=handler)
    sink = build_sinks(parse_config_text(CONFIG), client, env=ENV)["hook"]
    assert isinstance(sink, WebhookSink)
    return sink


def item(action: str = "open", attempts: int = 0) -> OutboxItem:
    payload = {
        "title": "HighErrorRate on checkout",
        "team": "payments",
        "priority": "P1",
        "severity": "critical",
        "status": "open",
        "at": "2026-01-05T10:00:00+00:00",
        "opened_at": "2026-01-05T10:00:00+00:00",
        "reasons": ["new incident"],
        "first_received_at": "2026-01-05T10:00:00+00:00",
    }
    key = f"incident:7:v1:{action}:hook"
    return OutboxItem(11, key, 7, "hook", action, payload, attempts)


def test_posts_signed_documented_json() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if not verify(request, SECRET):
            return httpx.Response(401)
        return httpx.Response(201, json={"id": "EXT-9", "url": "https://t.example/EXT-9"})

    result = make_sink(httpx.MockTransport(handler)).apply(item())
    assert (result.outcome, result.external_ref, result.url) == (
        "ok",
        "EXT-9",
        "https://t.example/EXT-9",
    )
    request = seen[0]
    assert request.method == "POST"
    assert str(request.url) == "https://hooks.example.com/autoticket"
    assert request.headers["Idempotency-Key"] == "incident:7:v1:open:hook"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["X-Team"] == "payments"
    assert request.headers["Content-Type"] == "application/json"
    body = json.loads(request.content)
    assert body == {
        "version": "1",
        "action": "open",
        "incident_id": 7,
        "idempotency_key": "incident:7:v1:open:hook",
        "ticket": {
            "title": "HighErrorRate on checkout",
            "team": "payments",
            "priority": "P1",
            "severity": "critical",
            "status": "open",
            "opened_at": "2026-01-05T10:00:00+00:00",
            "reasons": ["new incident"],
        },
        "changed_at": "2026-01-05T10:00:00+00:00",
        "sent_at": body["sent_at"],
        "attempt": 1,
    }


def test_a_receiver_with_another_secret_or_a_changed_body_rejects_it() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    make_sink(httpx.MockTransport(handler)).apply(item())
    request = seen[0]
    assert verify(request, SECRET)
    assert not verify(request, "another-secret")
    tampered = httpx.Request(
        "POST", request.url, headers=request.headers, content=request.content.replace(b"P1", b"P4")
    )
    assert not verify(tampered, SECRET)
    assert not verify(request, SECRET, max_age=-1), "an old timestamp must be refused"


@pytest.mark.parametrize(
    ("status", "outcome"), [(200, "ok"), (500, "retry"), (429, "retry"), (400, "permanent")]
)
def test_outcome_follows_the_classification(status: int, outcome: str) -> None:
    sink = make_sink(httpx.MockTransport(lambda r: httpx.Response(status)))
    result = sink.apply(item())
    assert result.outcome == outcome
    assert result.external_ref is None


def test_a_timeout_is_a_retry() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.extensions["timeout"]["read"] == 3.0
        raise httpx.ReadTimeout("slow", request=request)

    result = make_sink(httpx.MockTransport(handler)).apply(item())
    assert (result.outcome, result.reason) == ("retry", "timeout (ReadTimeout)")


def test_every_action_is_sent_as_is() -> None:
    actions: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        actions.append(json.loads(request.content)["action"])
        return httpx.Response(204)

    sink = make_sink(httpx.MockTransport(handler))
    for action in ("open", "update", "resolve", "reopen"):
        assert sink.apply(item(action)).outcome == "ok"
    assert actions == ["open", "update", "resolve", "reopen"]
