"""Grafana unified alerting webhook: links, values, resolved alerts, refusals."""

from __future__ import annotations

from typing import Any

import pytest
from vendor_samples import parse, refusal, sample

from autoticket.model import AlertStatus, Severity, fingerprint_of


def test_firing_alert_keeps_grafana_links_and_values() -> None:
    (event,) = parse("grafana", sample("grafana", "firing"))
    assert event.status is AlertStatus.FIRING
    assert event.severity is Severity.HIGH
    assert event.links["silence"].startswith("https://grafana.example.com/alerting/silence/")
    assert event.links["dashboard"].endswith("/d/checkout?orgId=1")
    assert event.links["panel"].endswith("viewPanel=4")
    assert event.links["grafana"] == "https://grafana.example.com/"
    assert "alertmanager" not in event.links
    assert event.annotations["values"] == "B=1.2, C=1"
    assert event.source_meta["grafana_fingerprint"] == "a1b2c3d4e5f60718"
    assert event.source_meta["org_id"] == "1"
    assert event.fingerprint == fingerprint_of("grafana", event.labels)


def test_resolved_alert_resolves_the_same_fingerprint() -> None:
    (firing,) = parse("grafana", sample("grafana", "firing"))
    (resolved,) = parse("grafana", sample("grafana", "resolved"))
    assert resolved.status is AlertStatus.RESOLVED
    assert resolved.fingerprint == firing.fingerprint
    assert resolved.ends_at is not None
    assert resolved.occurred_at == resolved.ends_at


@pytest.mark.parametrize(
    ("change", "field", "fragment"),
    [
        ({"orgId": "one"}, "orgId", "non-negative integer"),
        ({"alerts": "x"}, "alerts", "expected an array"),
    ],
)
def test_bad_group_fields_name_the_field(change: dict[str, Any], field: str, fragment: str) -> None:
    payload = sample("grafana", "firing") | change
    exc = refusal("grafana", payload)
    assert exc.field == field
    assert fragment in exc.reason


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [
        ("values", {"B": "high"}, "alerts[0].values.B"),
        ("values", [1, 2], "alerts[0].values"),
        ("silenceURL", 3, "alerts[0].silenceURL"),
        ("valueString", {}, "alerts[0].valueString"),
        ("labels", {"a": 1}, "alerts[0].labels.a"),
        ("status", "alerting", "alerts[0].status"),
    ],
)
def test_bad_alert_fields_name_the_field(key: str, value: Any, field: str) -> None:
    payload = sample("grafana", "firing")
    payload["alerts"][0][key] = value
    assert refusal("grafana", payload).field == field


def test_null_values_are_no_data() -> None:
    payload = sample("grafana", "firing")
    payload["alerts"][0]["values"] = {"B": None}
    (event,) = parse("grafana", payload)
    assert event.annotations["values"] == "B=null"
