"""enrich at its edges: a team label cut to its column, and what the decision says."""

from __future__ import annotations

from datetime import datetime

from autoticket.config import parse_config_text
from autoticket.model import AlertStatus, Event, EventKind, Severity
from autoticket.pipeline.base import Batch, Context
from autoticket.pipeline.enrich import MAX_TEAM, EnrichStage

CONFIG = parse_config_text(
    """
catalog:
  services:
    checkout: {team: payments, tier: "1", runbook: https://rb/checkout}
routes:
  - name: default
"""
)


def _enrich(t0: datetime, **labels: str) -> Event:
    event = Event(
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
    EnrichStage(CONFIG.catalog).run(Batch(events=[event]), Context(t0, CONFIG))
    return event


def test_a_team_label_is_cut_to_the_width_of_its_column(t0: datetime) -> None:
    assert _enrich(t0, team="t" * (MAX_TEAM + 1)).team == "t" * MAX_TEAM


def test_the_decision_names_the_team_and_what_the_catalog_gave(t0: datetime) -> None:
    event = _enrich(t0, service="checkout")
    [decision] = event.decisions
    assert (decision.outcome, decision.subject) == ("team=payments", "e1")
    assert decision.inputs == {
        "service": "checkout",
        "tier": "1",
        "runbook": "https://rb/checkout",
        "owner_source": "catalog",
    }


def test_without_owner_the_decision_says_why(t0: datetime) -> None:
    [decision] = _enrich(t0, service="unknown").decisions
    assert (decision.outcome, decision.rule) == (
        "no owner",
        "no team label, no catalog entry, no default",
    )
    assert decision.inputs == {
        "service": "unknown",
        "tier": None,
        "runbook": None,
        "owner_source": None,
    }
