"""Edges of the correlation state that `make mutate` found unguarded (docs/testing.md):
what `create_incident` hands back, a gone incident, which due times count as
not yet on the agenda, and when an auto-resolve timer says it was set."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, select

from autoticket.model import Incident, IncidentStatus, Severity
from autoticket.store.correlation_state import SqlCorrelationState
from autoticket.store.tables import incidents, timers


def _draft(key: str, now: datetime, due: datetime | None = None) -> Incident:
    return Incident(
        id=0,
        correlation_key=key,
        route="payments-prod",
        title=f"incident of {key}",
        team="payments",
        severity=Severity.HIGH,
        priority="P2",
        status=IncidentStatus.OPEN,
        opened_at=now,
        updated_at=now,
        group_labels={},
        resolve_due_at=due,
    )


def test_a_created_incident_carries_its_stored_id(engine: Engine, t0: datetime) -> None:
    with engine.begin() as conn:
        state = SqlCorrelationState(conn)
        incident, created = state.create_incident(_draft("k1", t0), {})
        stored = conn.execute(select(incidents.c.id).where(incidents.c.open_key == "k1")).scalar()
        assert created is True and incident.id == stored
        assert state.incident(stored) is incident
        assert state.open_incident("k1") is incident


def test_find_incident_reads_it_again_or_says_it_is_gone(engine: Engine, t0: datetime) -> None:
    with engine.begin() as conn:
        state = SqlCorrelationState(conn)
        incident, _ = state.create_incident(_draft("k1", t0), {})
        found = state.find_incident(incident.id)
        assert found is not None and found.id == incident.id and found.title == "incident of k1"
        assert state.find_incident(incident.id + 1000) is None


def test_unflushed_due_is_the_soonest_changed_due_time(engine: Engine, t0: datetime) -> None:
    """Only due times that differ from the stored ones count, and the soonest wins
    whatever order the incidents come in."""
    with engine.begin() as conn:
        state = SqlCorrelationState(conn)
        stored, _ = state.create_incident(_draft("k1", t0, due=t0 + timedelta(minutes=1)), {})
        state.save_incident(stored)  # dirty, but its due time is the stored one
        assert state.unflushed_due() is None
        sooner, _ = state.create_incident(_draft("k2", t0), {})
        later, _ = state.create_incident(_draft("k3", t0), {})
        sooner.resolve_due_at = t0 + timedelta(minutes=5)
        later.resolve_due_at = t0 + timedelta(minutes=10)
        state.save_incident(sooner)
        state.save_incident(later)
        assert state.unflushed_due() == t0 + timedelta(minutes=5)


def test_a_flushed_due_time_is_on_the_agenda_and_set_when_the_incident_changed(
    engine: Engine, t0: datetime
) -> None:
    changed_at = t0 + timedelta(seconds=30)
    due = t0 + timedelta(minutes=5)
    with engine.begin() as conn:
        state = SqlCorrelationState(conn)
        incident, _ = state.create_incident(_draft("k1", t0), {})
        incident.resolve_due_at = due
        incident.updated_at = changed_at
        state.save_incident(incident)
        assert state.unflushed_due() == due
        state.flush()
        assert state.unflushed_due() is None
        state.save_incident(incident)  # changed again, same due time: still on the agenda
        assert state.unflushed_due() is None
        row = conn.execute(select(timers.c.subject, timers.c.due_at, timers.c.created_at)).one()
    assert row.subject == str(incident.id)
    assert row.due_at.replace(tzinfo=None) == due.replace(tzinfo=None)
    assert row.created_at.replace(tzinfo=None) == changed_at.replace(tzinfo=None)
