"""Datadog webhook: transitions, monitor identity, tags, dates, refusals."""

from __future__ import annotations

from typing import Any

import pytest
from vendor_samples import parse, refusal, sample

from autoticket.model import AlertStatus, Severity


def test_triggered_monitor_fires_with_its_tags() -> None:
    (event,) = parse("datadog", sample("datadog", "triggered"))
    assert event.status is AlertStatus.FIRING
    assert event.severity is Severity.HIGH  # alert_priority P2
    assert event.title == "Checkout error rate above 5%"
    assert event.labels["environment"] == "prod"
    assert event.labels["service"] == "checkout"
    assert event.labels["monitor_id"] == "98765432"
    assert event.occurred_at.isoformat() == "2024-05-14T09:20:20+00:00"
    assert event.source_meta["org"] == "Acme"


def test_recovered_resolves_the_same_monitor_group() -> None:
    (fired,) = parse("datadog", sample("datadog", "triggered"))
    (recovered,) = parse("datadog", sample("datadog", "recovered"))
    assert recovered.status is AlertStatus.RESOLVED
    assert recovered.fingerprint == fired.fingerprint
    assert recovered.ends_at == recovered.occurred_at
    other = sample("datadog", "recovered") | {"aggregate": "0000other"}
    assert parse("datadog", other)[0].fingerprint != fired.fingerprint


def test_default_template_without_monitor_fields() -> None:
    (event,) = parse("datadog", sample("datadog", "default_template"))
    assert event.status is AlertStatus.FIRING
    assert event.title == "CPU high on web-1"
    assert event.description == "CPU usage on web-1 is 97%"
    assert event.severity is Severity.HIGH


@pytest.mark.parametrize(
    ("changes", "severity"),
    [
        ({"alert_priority": "P1"}, Severity.CRITICAL),
        (
            {"alert_priority": "", "alert_transition": "Warn", "alert_type": "warning"},
            Severity.WARNING,
        ),
        ({"alert_priority": "", "alert_transition": "No Data"}, Severity.INFO),
        ({"alert_priority": "", "priority": "normal", "alert_type": "error"}, Severity.HIGH),
    ],
)
def test_severity(changes: dict[str, Any], severity: Severity) -> None:
    assert parse("datadog", sample("datadog", "triggered") | changes)[0].severity is severity


@pytest.mark.parametrize(
    ("date", "iso"),
    [
        (1715678420000, "2024-05-14T09:20:20+00:00"),
        ("1715678420", "2024-05-14T09:20:20+00:00"),
        ("2024-05-14T09:20:20Z", "2024-05-14T09:20:20+00:00"),
    ],
)
def test_date_forms(date: Any, iso: str) -> None:
    assert (
        parse("datadog", sample("datadog", "triggered") | {"date": date})[0].occurred_at.isoformat()
        == iso
    )


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"title": ""}, "title", "required"),
        ({"title": 3.5}, "title", "expected a string"),
        ({"alert_transition": "Exploded"}, "alert_transition", "Triggered, Recovered"),
        ({"tags": ["env:prod"]}, "tags", "expected a string"),
        ({"date": "yesterday"}, "date", "RFC 3339"),
        ({"date": -5}, "date", "epoch milliseconds"),
        ({"org": "Acme"}, "org", "object"),
    ],
)
def test_malformed_names_the_field(changes: dict[str, Any], field: str, fragment: str) -> None:
    exc = refusal("datadog", sample("datadog", "triggered") | changes)
    assert exc.field == field
    assert fragment in exc.reason
