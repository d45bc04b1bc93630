"""enrich (owner precedence), decide (actions, priorities) and normalize, table-driven."""

from __future__ import annotations

from datetime import datetime

import pytest

from autoticket.config import Config, parse_config_text
from autoticket.engine.actions import Actions, apply_verdict
from autoticket.model import (
    AlertStatus,
    Delivery,
    Event,
    EventKind,
    Incident,
    IncidentChange,
    IncidentStatus,
    Severity,
)
from autoticket.pipeline.base import Batch, Context
from autoticket.pipeline.decide import DecideStage
from autoticket.pipeline.enrich import EnrichStage
from autoticket.pipeline.normalize import NormalizeStage

CATALOG = parse_config_text(
    """
catalog:
  default_team: platform
  services:
    checkout: {team: payments, tier: "1", runbook: https://rb/checkout}
routes:
  - name: quiet
    matchers: ['alertname="Quiet"']
    action: ignore
  - name: db
    matchers: ['service="db"']
    team: dba
    priorities: {warning: P2}
  - name: default
"""
)


def _event(t0: datetime, **labels: str) -> Event:
    return Event(
        id="e1",
        source="generic",
        kind=EventKind.ALERT,
        status=AlertStatus.FIRING,
        occurred_at=t0,
        received_at=t0,
        title="t",
        severity=Severity.WARNING,
        fingerprint="f",
        raw_ref="d1",
        labels=labels,
    )


@pytest.mark.parametrize(
    ("labels", "annotations", "team", "rule", "tier", "runbook"),
    [
        (
            {"service": "checkout"},
            {},
            "payments",
            "catalog service 'checkout'",
            "1",
            "https://rb/checkout",
        ),
        (
            {"service": "checkout", "team": "sre"},
            {},
            "sre",
            "label team",
            "1",
            "https://rb/checkout",
        ),
        ({"service": "unknown"}, {}, "platform", "catalog default_team", None, None),
        (
            {"service": "checkout"},
            {"runbook_url": "https://rb/own"},
            "payments",
            "catalog service 'checkout'",
            "1",
            "https://rb/own",
        ),
        ({}, {}, "platform", "catalog default_team", None, None),
    ],
)
def test_enrich_precedence(
    t0: datetime,
    labels: dict[str, str],
    annotations: dict[str, str],
    team: str,
    rule: str,
    tier: str | None,
    runbook: str | None,
) -> None:
    event = _event(t0, **labels)
    event.annotations = annotations
    EnrichStage(CATALOG.catalog).run(Batch(events=[event]), Context(t0, CATALOG))
    assert (event.team, event.tier, event.runbook) == (team, tier, runbook)
    [decision] = event.decisions
    assert decision.stage == "enrich" and decision.rule == rule


def test_enrich_without_any_owner(t0: datetime) -> None:
    event = _event(t0, service="x")
    EnrichStage(Config().catalog).run(Batch(events=[event]), Context(t0, Config()))
    assert event.team is None
    assert event.decisions[0].outcome == "no owner"


class _State:
    def __init__(self, incident: Incident) -> None:
        self.incident_obj = incident
        self.saved: list[Incident] = []

    def incident(self, incident_id: int) -> Incident:
        return self.incident_obj

    def save_incident(self, incident: Incident) -> None:
        self.saved.append(incident)


def _incident(t0: datetime, route: str, severity: Severity, team: str | None = None) -> Incident:
    return Incident(
        id=7,
        correlation_key=f"{route}|k",
        route=route,
        title="t",
        team=team,
        severity=severity,
        priority="",
        status=IncidentStatus.OPEN,
        opened_at=t0,
        updated_at=t0,
    )


@pytest.mark.parametrize(
    ("route", "severity", "kinds", "action", "priority", "team"),
    [
        ("default", Severity.CRITICAL, ["opened"], "open", "P1", None),
        ("default", Severity.INFO, ["opened", "alert_added"], "open", "P4", None),
        ("default", Severity.HIGH, ["reopened"], "reopen", "P2", None),
        ("default", Severity.WARNING, ["alert_added", "severity_changed"], "update", "P3", None),
        ("db", Severity.WARNING, ["opened"], "open", "P2", "dba"),  # route override + team
        ("quiet", Severity.CRITICAL, ["opened"], None, "P1", None),  # not a ticket route
    ],
)
def test_decide(
    t0: datetime,
    route: str,
    severity: Severity,
    kinds: list[str],
    action: str | None,
    priority: str,
    team: str | None,
) -> None:
    incident = _incident(t0, route, severity)
    changes = [IncidentChange(7, k, route, ["e1"]) for k in kinds]
    result = DecideStage(CATALOG).run(
        Batch(changes=changes), Context(t0, CATALOG, _State(incident))
    )
    [verdict] = result.batch.verdicts
    assert (verdict.action, verdict.priority, verdict.team) == (action, priority, team)
    assert incident.priority == "" and incident.team is None, "decide only reads the incident"
    actions = Actions(CATALOG)
    apply_verdict(verdict, _State(incident), actions)
    assert incident.priority == priority
    assert incident.team == team
    [(_, decision)] = actions.decisions
    if severity is Severity.INFO:  # an info incident's ticket is held, explained
        assert actions.actions == []
        assert decision.outcome == "ticket held"
        assert decision.inputs == {"held": "severity info", "changes": kinds}
        assert incident.held == "severity info"
        return
    if action is None:
        assert actions.actions == []
        assert decision.outcome == "no ticket"
        return
    [ticket_action] = actions.actions
    assert ticket_action.action == action
    assert ticket_action.idempotency_key.endswith(f":v1:{action}")
    assert ticket_action.payload["priority"] == priority
    assert ticket_action.sinks == ["builtin"]
    assert decision.inputs["changes"] == kinds


def test_normalize_keeps_unparsable_deliveries_as_dead_letters(t0: datetime) -> None:
    deliveries = [
        Delivery("ok", "generic", t0, b'{"title": "disk full"}'),
        Delivery("bad-json", "generic", t0, b"{"),
        Delivery("bad-shape", "generic", t0, b'{"title": ""}'),
        Delivery("bad-source", "nagios", t0, b"{}"),
    ]
    result = NormalizeStage().run(Batch(deliveries=deliveries), Context(t0, Config()))
    assert [e.id for e in result.batch.events] == ["ok-0"]
    dead = {d.delivery.id: d for d in result.batch.dead_letters}
    assert set(dead) == {"bad-json", "bad-shape", "bad-source"}
    assert dead["bad-json"].field == "body"
    assert dead["bad-shape"].field == "title"
    assert "nagios" in dead["bad-source"].error


def test_an_info_incident_files_its_ticket_once_it_grows_worse(t0: datetime) -> None:
    incident = _incident(t0, "default", Severity.INFO)
    state = _State(incident)
    opened = DecideStage(CATALOG).run(
        Batch(changes=[IncidentChange(7, "opened", "default", ["e1"])]),
        Context(t0, CATALOG, state),
    )
    actions = Actions(CATALOG)
    apply_verdict(opened.batch.verdicts[0], state, actions)
    assert incident.held == "severity info" and actions.actions == []
    held = actions.ticket(
        incident, "resolve", source="lifecycle", outcome="resolve", rule="r", reasons=["resolved"]
    )
    assert held.sinks == [] and actions.actions == [], "a held incident's resolve is not sent"
    assert actions.decisions[-1][1].outcome == "resolve held"
    incident.severity = Severity.WARNING
    grew = DecideStage(CATALOG).run(
        Batch(changes=[IncidentChange(7, "severity_changed", "default", ["e2"])]),
        Context(t0, CATALOG, state),
    )
    apply_verdict(grew.batch.verdicts[0], state, actions)
    [ticket] = actions.actions
    assert ticket.action == "open" and incident.held is None
    assert ticket.payload["reasons"] == [
        "severity_changed",
        "severity warning: no longer held as info",
    ]


def test_a_route_with_ticket_info_files_info_incidents(t0: datetime) -> None:
    config = parse_config_text("routes:\n  - name: default\n    ticket_info: true\n")
    incident = _incident(t0, "default", Severity.INFO)
    state = _State(incident)
    result = DecideStage(config).run(
        Batch(changes=[IncidentChange(7, "opened", "default", ["e1"])]),
        Context(t0, config, state),
    )
    actions = Actions(config)
    apply_verdict(result.batch.verdicts[0], state, actions)
    assert [a.action for a in actions.actions] == ["open"] and incident.held is None


def test_a_shadow_route_decides_and_explains_but_files_nothing_until_it_acts(
    t0: datetime,
) -> None:
    shadow = parse_config_text("routes:\n  - name: default\n    shadow: true\n")
    incident = _incident(t0, "default", Severity.CRITICAL)
    state = _State(incident)
    opened = DecideStage(shadow).run(
        Batch(changes=[IncidentChange(7, "opened", "default", ["e1"])]),
        Context(t0, shadow, state),
    )
    actions = Actions(shadow)
    apply_verdict(opened.batch.verdicts[0], state, actions)
    assert actions.actions == [] and incident.held == "shadow route"
    [(_, decision)] = actions.decisions
    assert decision.outcome == "ticket held" and decision.inputs["held"] == "shadow route"
    acting = parse_config_text("routes:\n  - name: default\n")
    later = DecideStage(acting).run(
        Batch(changes=[IncidentChange(7, "alert_added", "default", ["e2"])]),
        Context(t0, acting, state),
    )
    actions = Actions(acting)
    apply_verdict(later.batch.verdicts[0], state, actions)
    [ticket] = actions.actions
    assert ticket.action == "open" and incident.held is None
    assert ticket.payload["reasons"][-1] == "its route is no longer in shadow mode"
