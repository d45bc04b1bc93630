"""PagerDuty v3 webhooks read back: signatures and the changes autoticket follows."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest

from autoticket.sinks.pagerduty_webhook import PagerDutyChange, WebhookError, parse_changes, verify

SECRET = "pd-webhook-secret"
KEY = "autoticket-3f2a9c0d1e2b3c4d5e6f"


def sign(secret: str, body: bytes) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def delivery(event_type: str, key: str = KEY, agent: str = "user_reference") -> bytes:
    event: dict[str, Any] = {
        "event": {
            "id": "01DEN8R2E2E3FJ9ZB0BVV6MGPS",
            "event_type": event_type,
            "resource_type": "incident",
            "occurred_at": "2026-01-05T10:05:00.000Z",
            "agent": {"id": "PXPGF42", "summary": "Ada Lovelace", "type": agent},
            "data": {
                "id": "PT4KHLK",
                "type": "incident",
                "html_url": "https://acme.pagerduty.com/incidents/PT4KHLK",
                "status": "resolved",
                "incident_key": key,
                "assignees": [{"id": "PU1", "summary": "Grace Hopper", "type": "user_reference"}],
            },
        }
    }
    return json.dumps(event).encode()


def test_a_signature_from_either_secret_of_a_rotation_is_accepted() -> None:
    body = delivery("incident.resolved")
    assert verify([SECRET], sign(SECRET, body), body)
    assert verify(["new-secret", SECRET], f"{sign('old', body)}, {sign(SECRET, body)}", body)
    assert not verify([SECRET], sign("another", body), body)
    assert not verify([SECRET], sign(SECRET, body), body + b" ")
    assert not verify([SECRET], None, body)
    assert not verify([SECRET], sign(SECRET, body).replace("v1=", "v0="), body)


@pytest.mark.parametrize(
    ("event_type", "kind"),
    [
        ("incident.acknowledged", "acknowledged"),
        ("incident.resolved", "resolved"),
        ("incident.reassigned", "reassigned"),
    ],
)
def test_human_changes_are_read(event_type: str, kind: str) -> None:
    assert parse_changes(delivery(event_type)) == [
        PagerDutyChange(
            correlation_key=KEY,
            kind=kind,  # type: ignore[arg-type]
            human=True,
            by="Ada Lovelace",
            at="2026-01-05T10:05:00.000Z",
            url="https://acme.pagerduty.com/incidents/PT4KHLK",
            event_id="01DEN8R2E2E3FJ9ZB0BVV6MGPS",
            assignees=("Grace Hopper",),
        )
    ]


def test_our_own_resolve_through_the_integration_is_not_a_human_one() -> None:
    (change,) = parse_changes(delivery("incident.resolved", agent="service_reference"))
    assert not change.human


def test_other_events_and_other_incidents_are_ignored() -> None:
    assert parse_changes(delivery("incident.triggered")) == []
    assert parse_changes(delivery("incident.resolved", key="someone-elses-key")) == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "body: not JSON"),
        (b"{}", "body.event: missing"),
        (b'{"event": {}}', "event.event_type: missing"),
        (b'{"event": {"event_type": "incident.resolved"}}', "event.data: missing"),
    ],
)
def test_a_malformed_body_names_the_field(body: bytes, message: str) -> None:
    with pytest.raises(WebhookError, match=message):
        parse_changes(body)
