"""decide's verdict at its edges: the first event of each incident, whose team wins,
and an incident whose route has left the config."""

from __future__ import annotations

from datetime import datetime, timedelta

from autoticket.config import parse_config_text
from autoticket.model import (
    AlertStatus,
    Event,
    EventKind,
    Incident,
    IncidentChange,
    IncidentStatus,
    Severity,
)
from autoticket.pipeline.base import Batch, Context
from autoticket.pipeline.decide import DecideStage

CONFIG = parse_config_text(
    """
priorities: {critical: P0}
routes:
  - name: db
    matchers: ['service="db"']
    team: dba
    sinks: [builtin]
  - name: default
"""
)


class _State:
    def __init__(self, *known: Incident) -> None:
        self.by_id = {i.id: i for i in known}

    def incident(self, incident_id: int) -> Incident:
        return self.by_id[incident_id]

    def silence_rows(self, since: datetime) -> list[object]:
        return []

    def releases_between(self, *_: object) -> list[object]:
        return []


def _incident(incident_id: int, route: str, team: str | None = None) -> Incident:
    at = datetime(2026, 1, 5, 10, 0)
    return Incident(
        id=incident_id,
        correlation_key=f"{route}|{incident_id}",
        route=route,
        title="t",
        team=team,
        severity=Severity.CRITICAL,
        priority="",
        status=IncidentStatus.OPEN,
        opened_at=at,
        updated_at=at,
    )


def _event(event_id: str, incident_id: int | None, at: datetime) -> Event:
    return Event(
        id=event_id,
        source="generic",
        kind=EventKind.ALERT,
        status=AlertStatus.FIRING,
        occurred_at=at,
        received_at=at,
        title="t",
        severity=Severity.CRITICAL,
        fingerprint=event_id,
        raw_ref=event_id,
        incident_id=incident_id,
    )


def test_each_verdict_carries_the_earliest_receipt_of_its_own_incident(t0: datetime) -> None:
    later, latest = t0 + timedelta(seconds=5), t0 + timedelta(seconds=9)
    events = [
        _event("a", 1, later),
        _event("b", 1, t0),  # earlier, listed second
        _event("c", 1, latest),
        _event("d", 2, latest),
        _event("e", 3, t0),  # incident 3 did not change in this batch
    ]
    changes = [IncidentChange(1, "opened", "db", ["a"]), IncidentChange(2, "opened", "db", ["d"])]
    state = _State(_incident(1, "db"), _incident(2, "db"), _incident(3, "db"))
    result = DecideStage(CONFIG).run(
        Batch(events=events, changes=changes), Context(t0, CONFIG, state)
    )
    assert [(v.incident_id, v.first_received_at) for v in result.batch.verdicts] == [
        (1, t0),
        (2, latest),
    ]


def test_the_incident_team_wins_over_the_route_team(t0: datetime) -> None:
    changes = [IncidentChange(1, "opened", "db", ["a"])]
    state = _State(_incident(1, "db", team="sre"))
    result = DecideStage(CONFIG).run(Batch(changes=changes), Context(t0, CONFIG, state))
    [verdict] = result.batch.verdicts
    assert (verdict.team, verdict.rule, verdict.sinks, verdict.action) == (
        "sre",
        "db",
        ["builtin"],
        "open",
    )


def test_an_incident_whose_route_left_the_config_files_no_ticket(t0: datetime) -> None:
    changes = [IncidentChange(1, "alert_added", "gone", ["a"])]
    state = _State(_incident(1, "gone"))
    result = DecideStage(CONFIG).run(Batch(changes=changes), Context(t0, CONFIG, state))
    [verdict] = result.batch.verdicts
    assert verdict.action is None
    assert verdict.rule == "gone"
    assert verdict.team is None
    assert verdict.sinks == []
    assert verdict.priority == "P0", "the config's priorities still apply"
    assert verdict.changes == ["alert_added"]


def test_the_ticket_describes_the_most_telling_event_of_its_incident(t0: datetime) -> None:
    """Firing before resolved, then the most severe, then the earliest; on a full tie
    the first one listed."""

    def event(name: str, status: AlertStatus, severity: Severity, seconds: int) -> Event:
        e = _event(name, 1, t0 + timedelta(seconds=seconds))
        e.status, e.severity, e.title = status, severity, f"title {name}"
        return e

    events = [
        event("resolved", AlertStatus.RESOLVED, Severity.CRITICAL, 0),
        event("later", AlertStatus.FIRING, Severity.WARNING, 5),
        event("earliest", AlertStatus.FIRING, Severity.WARNING, 1),
        event("tie", AlertStatus.FIRING, Severity.WARNING, 1),
    ]
    changes = [IncidentChange(1, "alert_added", "db", ["later"])]
    result = DecideStage(CONFIG).run(
        Batch(events=events, changes=changes), Context(t0, CONFIG, _State(_incident(1, "db")))
    )
    [verdict] = result.batch.verdicts
    assert verdict.details is not None
    assert verdict.details.summary == "title earliest"


def test_the_ticket_summary_and_description_prefer_the_annotations(t0: datetime) -> None:
    e = _event("a", 1, t0)
    e.title, e.description = "title", "the event's description"
    e.annotations = {"summary": "annotated summary", "description": "annotated description"}
    changes = [IncidentChange(1, "opened", "db", ["a"])]
    result = DecideStage(CONFIG).run(
        Batch(events=[e], changes=changes), Context(t0, CONFIG, _State(_incident(1, "db")))
    )
    [verdict] = result.batch.verdicts
    assert verdict.details is not None
    assert (verdict.details.summary, verdict.details.description) == (
        "annotated summary",
        "annotated description",
    )
