"""The route stage: route names, decisions, and dropping ignored/unrouted events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from autoticket.config import Config, RouteConfig
from autoticket.model import AlertStatus, Event, EventKind, Severity
from autoticket.pipeline.base import Batch, Context, Stage
from autoticket.pipeline.route import RouteStage
from autoticket.policy import RouteTable

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

CONFIG = Config(
    routes=[
        RouteConfig(name="noise", matchers=['alertname="Watchdog"'], action="ignore"),
        RouteConfig(name="db", matchers=['service="db"']),
        RouteConfig(name="critical", condition="severity == 'critical'"),
    ]
)


def make_event(event_id: str, **overrides: Any) -> Event:
    fields: dict[str, Any] = {
        "id": event_id,
        "source": "alertmanager",
        "kind": EventKind.ALERT,
        "status": AlertStatus.FIRING,
        "occurred_at": T0,
        "received_at": T0,
        "title": "t",
        "severity": Severity.WARNING,
        "fingerprint": "fp",
        "raw_ref": "raw",
        "labels": {"alertname": "X"},
    }
    fields.update(overrides)
    return Event(**fields)


def run(*events: Event) -> tuple[RouteStage, Any]:
    stage = RouteStage(RouteTable.from_config(CONFIG))
    result = stage.run(Batch(events=list(events)), Context(now=T0, config=CONFIG))
    return stage, result


@pytest.mark.parametrize(
    ("overrides", "outcome", "route", "kept", "n_skipped"),
    [
        ({"labels": {"alertname": "X", "service": "db"}}, "matched", "db", True, 1),
        ({"severity": Severity.CRITICAL}, "matched", "critical", True, 2),
        ({"labels": {"alertname": "Watchdog"}}, "ignored", "noise", False, 0),
        ({}, "unrouted", None, False, 3),
    ],
)
def test_outcomes(
    overrides: dict[str, Any], outcome: str, route: str | None, kept: bool, n_skipped: int
) -> None:
    event = make_event("e1", **overrides)
    _, result = run(event)
    assert event.route == route
    assert [e.id for e in result.batch.events] == (["e1"] if kept else [])
    (decision,) = event.decisions
    assert (decision.stage, decision.outcome, decision.rule, decision.subject) == (
        "route",
        outcome,
        route,
        "e1",
    )
    assert len(decision.inputs["skipped"]) == n_skipped
    assert decision.inputs["reason"]
    # Dropped events leave their decisions in Batch.dropped; kept ones travel with the event.
    assert result.batch.dropped == ([] if kept else [decision])


def test_mixed_batch_keeps_order_and_explains_drops() -> None:
    events = [
        make_event("a", labels={"service": "db"}),
        make_event("b", labels={"alertname": "Watchdog"}),
        make_event("c"),
        make_event("d", severity=Severity.CRITICAL),
    ]
    _, result = run(*events)
    assert [e.id for e in result.batch.events] == ["a", "d"]
    assert [(d.subject, d.outcome) for d in result.batch.dropped] == [
        ("b", "ignored"),
        ("c", "unrouted"),
    ]
    ignored, unrouted = result.batch.dropped
    assert ignored.inputs["reason"].endswith("action ignore, event dropped")
    assert unrouted.inputs["reason"] == "no route matched (3 checked); event dropped"
    assert unrouted.inputs["skipped"] == [
        'noise: alertname="Watchdog" did not match (got "X")',
        'db: service="db" did not match (label absent or empty)',
        "critical: condition is false",
    ]


def test_stage_protocol_and_batch_passthrough() -> None:
    stage: Stage = RouteStage(RouteTable.from_config(CONFIG))
    assert stage.name == "route"
    batch = Batch(events=[])
    result = stage.run(batch, Context(now=T0, config=CONFIG))
    assert result.batch.events == [] and result.decisions == []
    assert result.batch.dead_letters is batch.dead_letters
