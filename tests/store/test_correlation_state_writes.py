"""SqlCorrelationState: the writes that cannot wait for the batch's flush.

Opening and reopening an incident claim its key (`open_key`, unique among
open incidents) in the database at once, so another state on the same
database (another worker, a retried batch) joins that incident instead of
opening a second one, even before the first state flushes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, select

from autoticket.model import Incident, IncidentStatus, Severity
from autoticket.store.correlation_state import SqlCorrelationState
from autoticket.store.tables import incidents

KEY = "payments-prod|alertname=A,environment=prod"


def _draft(at: datetime, title: str = "A on checkout") -> Incident:
    return Incident(
        id=0,
        correlation_key=KEY,
        route="payments-prod",
        title=title,
        team="payments",
        severity=Severity.CRITICAL,
        priority="P1",
        status=IncidentStatus.OPEN,
        opened_at=at,
        updated_at=at,
        group_labels={"alertname": "A", "environment": "prod"},
    )


def _resolved_incident(engine: Engine, t0: datetime) -> int:
    with engine.begin() as conn:
        state = SqlCorrelationState(conn)
        incident, created = state.create_incident(_draft(t0), {"service": "checkout"})
        assert created
        incident.status = IncidentStatus.RESOLVED
        incident.resolved_at = t0 + timedelta(minutes=5)
        state.save_incident(incident)
        state.flush()
        return incident.id


def test_a_reopen_claims_the_key_before_the_flush(engine: Engine, t0: datetime) -> None:
    incident_id = _resolved_incident(engine, t0)
    now = t0 + timedelta(minutes=10)
    with engine.begin() as conn:
        first = SqlCorrelationState(conn)
        recent = first.reopenable(KEY, now - timedelta(hours=1))
        assert recent is not None and recent.id == incident_id
        reopened, won = first.reopen(recent, now)
        assert won
        assert reopened.status is IncidentStatus.OPEN
        assert reopened.resolved_at is None
        assert reopened.updated_at == now
        # No flush yet: another state sees the reopened incident in the database.
        other = SqlCorrelationState(conn)
        assert other.reopenable(KEY, now - timedelta(hours=1)) is None
        joined, created = other.create_incident(_draft(now, "a second opening"), {})
        assert not created
        assert joined.id == incident_id
        assert joined.status is IncidentStatus.OPEN
        assert other.open_incident(KEY) is joined
    with engine.connect() as conn:
        rows = conn.execute(select(incidents.c.id, incidents.c.open_key)).all()
        assert [(r.id, r.open_key) for r in rows] == [(incident_id, KEY)]


def test_an_open_incident_is_found_by_key_and_id(engine: Engine, t0: datetime) -> None:
    with engine.begin() as conn:
        created, _ = SqlCorrelationState(conn).create_incident(_draft(t0), {"service": "x"})
    with engine.begin() as conn:
        state = SqlCorrelationState(conn)
        state.prefetch([], [KEY])
        found = state.open_incident(KEY)
        assert found is not None and found.id == created.id
        assert state.incident(created.id) is found
        assert state.open_incident("another|key") is None
        context = conn.execute(
            select(incidents.c.context, incidents.c.opened_at, incidents.c.group_labels).where(
                incidents.c.id == created.id
            )
        ).one()
        assert context.context == {"service": "x"}
        assert context.group_labels == {"alertname": "A", "environment": "prod"}
        assert context.opened_at.replace(tzinfo=t0.tzinfo) == t0


def test_an_incident_not_loaded_yet_is_read_once(engine: Engine, t0: datetime) -> None:
    with engine.begin() as conn:
        first, _ = SqlCorrelationState(conn).create_incident(_draft(t0), {})
        other = _draft(t0, "another key")
        other.correlation_key = "default|alertname=B,environment=prod"
        second, _ = SqlCorrelationState(conn).create_incident(other, {})
    with engine.begin() as conn:
        state = SqlCorrelationState(conn)
        found = state.incident(second.id)  # nothing prefetched: read from the table
        assert (found.id, found.title) == (second.id, "another key")
        assert state.incident(second.id) is found
        assert state.open_incident(other.correlation_key) is found
        assert state.incident(first.id).correlation_key == KEY


def test_the_most_recently_resolved_incident_is_the_one_to_reopen(
    engine: Engine, t0: datetime
) -> None:
    ids = []
    for opened, resolved in ((0, 50), (10, 20)):  # the older incident resolved last
        with engine.begin() as conn:
            state = SqlCorrelationState(conn)
            incident, _ = state.create_incident(_draft(t0 + timedelta(minutes=opened)), {})
            incident.status = IncidentStatus.RESOLVED
            incident.resolved_at = t0 + timedelta(minutes=resolved)
            state.save_incident(incident)
            state.flush()
            ids.append(incident.id)
    with engine.begin() as conn:
        state = SqlCorrelationState(conn)
        assert state.reopenable(KEY, t0) is not None
        assert state.reopenable(KEY, t0).id == ids[0]
        assert state.reopenable(KEY, t0 + timedelta(minutes=51)) is None


def test_a_state_can_flush_more_than_once(engine: Engine, t0: datetime) -> None:
    from autoticket.store.tables import timeline

    with engine.begin() as conn:
        state = SqlCorrelationState(conn)
        incident, _ = state.create_incident(_draft(t0), {})
        state.add_timeline(incident.id, t0, "opened", "first", {})
        state.flush()
        state.add_timeline(incident.id, t0, "note", "second", {})
        state.flush()
        messages = conn.execute(select(timeline.c.message).order_by(timeline.c.id)).scalars()
        assert list(messages) == ["first", "second"]
