"""The lost-race paths of opening and reopening an incident, on SQLite and PostgreSQL.

Another worker opens (or reopens) the incident of a key between our read and
our write; the partial unique index on `open_key` refuses our write, and we
must carry on with the winner's row, never with our own draft.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update

from autoticket.model import Incident, IncidentStatus, Severity
from autoticket.store.correlation_state import SqlCorrelationState
from autoticket.store.tables import incidents

KEY = "payments-prod|alertname=HighErrorRate|service=checkout"


def _row(now: datetime, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "correlation_key": KEY,
        "open_key": KEY,
        "route": "payments-prod",
        "title": "winner",
        "severity": Severity.CRITICAL.value,
        "priority": "P1",
        "status": "open",
        "opened_at": now,
        "updated_at": now,
        "group_labels": {},
        "context": {},
        "firing": 1,
        "alert_count": 1,
        "event_count": 1,
        "version": 1,
    }
    return row | overrides


def _draft(now: datetime) -> Incident:
    return Incident(
        id=0,
        correlation_key=KEY,
        route="payments-prod",
        title="loser's draft",
        team="payments",
        severity=Severity.CRITICAL,
        priority="",
        status=IncidentStatus.OPEN,
        opened_at=now,
        updated_at=now,
        group_labels={},
    )


def _competitor(engine: Engine, conn: Connection) -> Callable[[Any], int | None]:
    """Run a statement as the other worker: committed from a second connection on
    PostgreSQL; on SQLite, whose writers take turns (BEGIN IMMEDIATE), a second
    writer cannot get in during our transaction, so it goes in on ours."""

    def run(stmt: Any) -> int | None:
        if engine.dialect.name == "sqlite":
            result = conn.execute(stmt)
        else:
            with engine.begin() as other:
                result = other.execute(stmt)
        return result.scalar_one() if stmt.is_insert else None

    return run


def _open_count(engine: Engine) -> int:
    with engine.connect() as conn:
        query = select(func.count()).select_from(incidents).where(incidents.c.open_key == KEY)
        return conn.execute(query).scalar_one()


def test_create_incident_that_lost_the_race_joins_the_winner(engine: Engine, t0: datetime) -> None:
    with engine.begin() as conn:
        state = SqlCorrelationState(conn)
        state.prefetch([], [KEY])
        assert state.open_incident(KEY) is None  # our read: nothing open yet
        winner_id = _competitor(engine, conn)(
            insert(incidents).values(_row(t0)).returning(incidents.c.id)
        )
        incident, created = state.create_incident(_draft(t0), {"first_event": "e1"})
        assert created is False
        assert incident.id == winner_id
        assert incident.title == "winner"
        joined = state.open_incident(KEY)
        assert joined is not None and joined.id == winner_id
    assert _open_count(engine) == 1


def _resolved(engine: Engine, at: datetime) -> int:
    with engine.begin() as conn:
        row = _row(at, open_key=None, status="resolved", resolved_at=at, firing=0)
        return conn.execute(insert(incidents).values(row).returning(incidents.c.id)).scalar_one()


def test_reopen_that_lost_to_another_reopen_gets_the_reopened_row(
    engine: Engine, t0: datetime
) -> None:
    resolved_id = _resolved(engine, t0)
    now = t0 + timedelta(minutes=10)
    with engine.begin() as conn:
        state = SqlCorrelationState(conn)
        state.prefetch([], [KEY])
        recent = state.reopenable(KEY, now - timedelta(hours=1))
        assert recent is not None and recent.id == resolved_id
        _competitor(engine, conn)(
            update(incidents)
            .where(incidents.c.id == resolved_id)
            .values(open_key=KEY, status="open", resolved_at=None, version=7)
        )
        incident, won = state.reopen(recent, now)
        assert won is False
        assert incident.id == resolved_id
        assert incident.status is IncidentStatus.OPEN  # the winner's row, not our stale copy
        assert incident.version == 7
        assert incident.resolved_at is None
    assert _open_count(engine) == 1


def test_reopen_that_lost_to_a_new_incident_joins_the_new_one(engine: Engine, t0: datetime) -> None:
    resolved_id = _resolved(engine, t0)
    now = t0 + timedelta(minutes=10)
    with engine.begin() as conn:
        state = SqlCorrelationState(conn)
        state.prefetch([], [KEY])
        recent = state.reopenable(KEY, now - timedelta(hours=1))
        assert recent is not None
        winner_id = _competitor(engine, conn)(
            insert(incidents).values(_row(now, title="opened meanwhile")).returning(incidents.c.id)
        )
        incident, won = state.reopen(recent, now)
        assert won is False
        assert incident.id == winner_id != resolved_id
        assert incident.title == "opened meanwhile"
    with engine.connect() as conn:
        status = conn.execute(select(incidents.c.status).where(incidents.c.id == resolved_id))
        assert status.scalar_one() == "resolved"  # ours stayed resolved
    assert _open_count(engine) == 1
