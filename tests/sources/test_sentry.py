"""Sentry issue alerts and issue webhooks: identity, status by action, refusals."""

from __future__ import annotations

from typing import Any

import pytest
from vendor_samples import parse, refusal, sample

from autoticket.model import AlertStatus, Severity


def test_issue_alert_fires_with_tags_and_links() -> None:
    (event,) = parse("sentry", sample("sentry", "event_alert"))
    assert event.status is AlertStatus.FIRING
    assert event.severity is Severity.HIGH
    assert event.labels["service"] == "checkout"
    assert event.labels["environment"] == "prod"
    assert event.labels["issue_id"] == "4930137285"
    assert "server_name=checkout-7d9f8b6c4-x2k9q" in event.annotations["tags"]
    assert event.links["sentry"].endswith(
        "/issues/4930137285/events/e4874d664c3540c1a32eab185f12c5ab/"
    )
    assert event.source_meta["triggered_rule"] == "Checkout errors in prod"


def test_issue_resolved_resolves_the_issue_alert() -> None:
    (alert,) = parse("sentry", sample("sentry", "event_alert"))
    (created,) = parse("sentry", sample("sentry", "issue_created"))
    (resolved,) = parse("sentry", sample("sentry", "issue_resolved"))
    assert created.status is AlertStatus.FIRING
    assert resolved.status is AlertStatus.RESOLVED
    assert alert.fingerprint == created.fingerprint == resolved.fingerprint
    assert resolved.ends_at == resolved.occurred_at
    assert resolved.source_meta["short_id"] == "CHECKOUT-3F"


def test_another_issue_is_another_alert() -> None:
    payload = sample("sentry", "event_alert")
    payload["data"]["event"]["issue_id"] = "4930137999"
    assert (
        parse("sentry", payload)[0].fingerprint
        != parse("sentry", sample("sentry", "event_alert"))[0].fingerprint
    )


@pytest.mark.parametrize(
    ("level", "severity"),
    [
        ("fatal", Severity.CRITICAL),
        ("warning", Severity.WARNING),
        ("info", Severity.INFO),
        ("debug", Severity.INFO),
        (None, Severity.HIGH),
    ],
)
def test_level_maps_to_severity(level: str | None, severity: Severity) -> None:
    payload = sample("sentry", "event_alert")
    payload["data"]["event"]["level"] = level
    assert parse("sentry", payload)[0].severity is severity


def _event(**changes: Any) -> dict[str, Any]:
    payload = sample("sentry", "event_alert")
    payload["data"]["event"].update(changes)
    return payload


@pytest.mark.parametrize(
    ("payload", "field", "fragment"),
    [
        ([], "body", "JSON object"),
        ({"action": "triggered"}, "data", "required"),
        ({"action": "exploded", "data": {}}, "action", "expected one of"),
        ({"data": {"other": {}}}, "data", "data.event"),
        (_event(title=None), "data.event.title", "required"),
        (_event(title=""), "data.event.title", "non-empty"),
        (_event(issue_id=[1]), "data.event.issue_id", "an id"),
        (_event(tags=[["environment"]]), "data.event.tags[0]", "pair"),
        (_event(tags=[["environment", 1]]), "data.event.tags[0]", "string value"),
        (_event(tags="env:prod"), "data.event.tags", "pairs"),
        (_event(datetime="today"), "data.event.datetime", "RFC 3339"),
    ],
)
def test_malformed_payload_names_the_field(payload: Any, field: str, fragment: str) -> None:
    exc = refusal("sentry", payload)
    assert exc.field == field
    assert fragment in exc.reason


def test_issue_without_project_names_it() -> None:
    payload = sample("sentry", "issue_resolved")
    del payload["data"]["issue"]["project"]
    assert refusal("sentry", payload).field == "data.issue.project"
