"""The route stage at its edges: what a dropped event's decision says, and earlier
drops of the batch kept."""

from __future__ import annotations

from datetime import UTC, datetime

from autoticket.config import Config, RouteConfig
from autoticket.model import AlertStatus, Decision, Event, EventKind, Severity
from autoticket.pipeline.base import Batch, Context
from autoticket.pipeline.route import RouteStage
from autoticket.policy import RouteTable

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

CONFIG = Config(
    routes=[
        RouteConfig(name="noise", matchers=['alertname="Watchdog"'], action="ignore"),
        RouteConfig(name="db", matchers=['service="db"']),
    ]
)


def _event(event_id: str, **labels: str) -> Event:
    return Event(
        id=event_id,
        source="prometheus-eu",
        kind=EventKind.ALERT,
        status=AlertStatus.FIRING,
        occurred_at=T0,
        received_at=T0,
        title="t",
        severity=Severity.WARNING,
        fingerprint=event_id,
        raw_ref=event_id,
        labels=labels,
    )


def _run(batch: Batch) -> Batch:
    return RouteStage(RouteTable.from_config(CONFIG)).run(batch, Context(T0, CONFIG)).batch


def test_dropped_events_name_their_source_and_kept_ones_do_not() -> None:
    events = [
        _event("u", alertname="X"),
        _event("i", alertname="Watchdog"),
        _event("k", service="db"),
    ]
    out = _run(Batch(events=events))
    assert [(d.subject, d.outcome, d.inputs["source"]) for d in out.dropped] == [
        ("u", "unrouted", "prometheus-eu"),
        ("i", "ignored", "prometheus-eu"),
    ]
    [kept] = out.events
    [matched] = kept.decisions
    assert matched.outcome == "matched" and "source" not in matched.inputs


def test_a_matched_event_gives_the_matchers_reason_unchanged() -> None:
    [kept] = _run(Batch(events=[_event("k", service="db")])).events
    [decision] = kept.decisions
    assert decision.inputs["reason"] == "route 'db' matched: matchers service=\"db\""


def test_drops_of_earlier_stages_stay_before_this_stage_drops() -> None:
    earlier = Decision("redact", "dropped", None, "x")
    out = _run(Batch(events=[_event("u", alertname="X")], dropped=[earlier]))
    assert [d.subject for d in out.dropped] == ["x", "u"]
