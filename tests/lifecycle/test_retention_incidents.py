"""Retention of resolved incidents and everything that hangs off them.

A resolved incident goes, with its alerts, events, timeline, decisions,
ticket, external references, outbox rows and timers, once resolved (and
unchanged) more than `retention.incidents` ago and outside `reopen_within`;
open incidents, incidents with an alert seen since and incidents with a
ticket action still to send stay. Each on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, func, insert, select, update

from autoticket.clock import FixedClock
from autoticket.config import Config
from autoticket.lifecycle import backlog_left, purge
from autoticket.lifecycle.retention import INCIDENT_SHARE
from autoticket.model import Delivery
from autoticket.service.runtime import Runtime
from autoticket.store import inbox as inbox_store
from autoticket.store.tables import (
    alerts,
    decisions,
    events,
    incidents,
    outbox,
    ticket_refs,
    ticket_updates,
    tickets,
    timeline,
    timers,
)
from conftest import am_alert, am_payload

SECOND = timedelta(seconds=1)
CHILDREN = (alerts, events, timeline, decisions, outbox, tickets, ticket_updates)


@pytest.fixture
def clock(t0: datetime) -> FixedClock:
    return FixedClock(t0)


@pytest.fixture
def runtime(engine: Engine, config: Config, clock: FixedClock) -> Runtime:
    return Runtime(config, engine, clock=clock, start_worker=False)


def _deliver(rt: Runtime, name: str, status: str = "firing", **kw: Any) -> None:
    body = orjson.dumps(am_payload(am_alert(alertname=name, status=status, **kw)))
    delivery = Delivery(f"{name}-{status}-{rt.clock.now().isoformat()}", "alertmanager",
                        rt.clock.now(), body, {})  # fmt: skip
    with rt.engine.begin() as conn:
        inbox_store.append(conn, [(delivery, 1)])
    rt.worker.drain()


def _resolved_incident(rt: Runtime, clock: FixedClock, name: str) -> tuple[int, datetime]:
    """Fire, resolve, let auto-resolve run: a resolved incident with a ticket; its id and
    resolution time."""
    start = clock.now()
    _deliver(rt, name)
    clock.set(start + timedelta(minutes=1))
    _deliver(rt, name, status="resolved")
    clock.set(start + timedelta(minutes=10))
    rt.worker.drain()
    with rt.engine.connect() as conn:
        row = conn.execute(
            select(incidents.c.id, incidents.c.resolved_at, incidents.c.status).where(
                incidents.c.title.like(f"{name}%")
            )
        ).one()
    assert row.status == "resolved"
    clock.set(start)
    return row.id, row.resolved_at


def _rows_of(engine: Engine, incident_id: int) -> dict[str, int]:
    with engine.connect() as conn:
        found = {
            t.name: conn.execute(
                select(func.count()).select_from(t).where(t.c.incident_id == incident_id)
            ).scalar_one()
            for t in (*CHILDREN, incidents)
            if t is not incidents
        }
        found["incidents"] = conn.execute(
            select(func.count()).select_from(incidents).where(incidents.c.id == incident_id)
        ).scalar_one()
    return found


def _purge(rt: Runtime, now: datetime, **kw: Any) -> dict[str, int]:
    reopen_within = kw.pop("reopen_within", rt.config.timers.reopen_within)
    with rt.engine.begin() as conn:
        return purge(conn, now, rt.config.retention, reopen_within=reopen_within, **kw)


def test_a_resolved_incident_is_kept_to_the_second_then_goes_with_all_its_rows(
    runtime: Runtime, clock: FixedClock
) -> None:
    incident_id, resolved_at = _resolved_incident(runtime, clock, "Gone")
    with runtime.engine.begin() as conn:
        ticket_id = conn.execute(
            select(tickets.c.id).where(tickets.c.incident_id == incident_id)
        ).scalar_one()
        conn.execute(
            insert(ticket_refs).values(ticket_id=ticket_id, sink="jira", external_id="J-1")
        )
        conn.execute(  # a timer that outlived its reason
            insert(timers).values(
                kind="auto_resolve",
                subject=str(incident_id),
                due_at=resolved_at,
                payload={},
                created_at=resolved_at,
            )
        )
    kept = _rows_of(runtime.engine, incident_id)
    assert all(kept.values()), kept  # every kind of row exists before the purge
    edge = resolved_at + runtime.config.retention.incidents
    assert _purge(runtime, edge)["incidents"] == 0
    # Its events went at retention.events (30d); everything else is kept.
    assert _rows_of(runtime.engine, incident_id) == kept | {"events": 0}
    removed = _purge(runtime, edge + SECOND)
    assert removed["incidents"] == 1
    assert removed["ticket_refs"] == 1 and removed["timers"] == 1
    assert all(n == 0 for n in _rows_of(runtime.engine, incident_id).values())
    with runtime.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ticket_refs)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(timers)).scalar_one() == 0


def test_open_incidents_stay_however_old(runtime: Runtime, clock: FixedClock, t0: datetime) -> None:
    _deliver(runtime, "StillFiring")
    far = t0 + 10 * runtime.config.retention.incidents
    assert _purge(runtime, far)["incidents"] == 0
    with runtime.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(incidents)).scalar_one() == 1
        assert conn.execute(select(func.count()).select_from(alerts)).scalar_one() == 1


def test_never_inside_the_reopen_window_even_when_it_is_longer(
    runtime: Runtime, clock: FixedClock
) -> None:
    incident_id, resolved_at = _resolved_incident(runtime, clock, "Window")
    window = runtime.config.retention.incidents + timedelta(days=10)
    assert _purge(runtime, resolved_at + window, reopen_within=window)["incidents"] == 0
    assert _rows_of(runtime.engine, incident_id)["incidents"] == 1
    assert _purge(runtime, resolved_at + window + SECOND, reopen_within=window)["incidents"] == 1


def test_an_alert_seen_since_or_an_action_to_send_keeps_the_incident(
    runtime: Runtime, clock: FixedClock
) -> None:
    seen_id, resolved_at = _resolved_incident(runtime, clock, "Seen")
    sending_id, _ = _resolved_incident(runtime, clock, "Sending")
    later = resolved_at + runtime.config.retention.incidents + SECOND
    with runtime.engine.begin() as conn:
        conn.execute(
            update(alerts).where(alerts.c.incident_id == seen_id).values(last_seen=later - SECOND)
        )
        conn.execute(
            update(outbox).where(outbox.c.incident_id == sending_id).values(status="pending")
        )
    assert _purge(runtime, later)["incidents"] == 0
    with runtime.engine.begin() as conn:
        conn.execute(update(outbox).where(outbox.c.incident_id == sending_id).values(status="done"))
    assert _purge(runtime, later)["incidents"] == 1
    assert _rows_of(runtime.engine, seen_id)["incidents"] == 1
    assert _rows_of(runtime.engine, sending_id)["incidents"] == 0


def test_the_same_alert_after_a_purge_opens_a_new_incident_and_ticket(
    runtime: Runtime, clock: FixedClock
) -> None:
    _, resolved_at = _resolved_incident(runtime, clock, "Again")
    later = resolved_at + runtime.config.retention.incidents + SECOND
    assert _purge(runtime, later)["incidents"] == 1
    clock.set(later)
    _deliver(runtime, "Again", starts_at=later.isoformat().replace("+00:00", "Z"))
    with runtime.engine.connect() as conn:
        rows = list(conn.execute(select(tickets.c.opened_at, tickets.c.status)))
        opened = conn.execute(select(incidents.c.opened_at)).scalars().all()
    assert [(r.opened_at, r.status) for r in rows] == [(later, "open")]
    assert opened == [later]  # a new incident, not the purged one


def test_alerts_and_decisions_of_no_incident_go_by_age(
    runtime: Runtime, clock: FixedClock, t0: datetime
) -> None:
    _deliver(runtime, "NeverFired", status="resolved")  # an alert without an incident
    with runtime.engine.begin() as conn:
        conn.execute(
            insert(decisions).values(
                incident_id=None, at=t0, stage="route", outcome="dropped", inputs={}
            )
        )
    r = runtime.config.retention
    at_edge = _purge(runtime, t0 + min(r.incidents, r.events))
    assert (at_edge["alerts"], at_edge["decisions"]) == (0, 0)
    removed = _purge(runtime, t0 + max(r.incidents, r.events) + SECOND)
    assert (removed["alerts"], removed["decisions"]) == (1, 1)


def test_incidents_go_in_bounded_steps(runtime: Runtime, clock: FixedClock) -> None:
    resolved = [_resolved_incident(runtime, clock, f"Step{n}") for n in range(3)]
    later = max(at for _, at in resolved) + runtime.config.retention.incidents + SECOND
    limit = 2 * INCIDENT_SHARE  # two incidents per call
    first = _purge(runtime, later, limit=limit)
    assert first["incidents"] == 2 and backlog_left(first, limit)
    second = _purge(runtime, later, limit=limit)
    assert second["incidents"] == 1 and not backlog_left(second, limit)


def test_the_worker_purges_old_incidents(runtime: Runtime, clock: FixedClock) -> None:
    incident_id, resolved_at = _resolved_incident(runtime, clock, "ByWorker")
    clock.set(resolved_at + runtime.config.retention.incidents + SECOND)
    runtime.worker.run_once()
    assert _rows_of(runtime.engine, incident_id)["incidents"] == 0
    assert b'autoticket_purged_rows_total{table="incidents"} 1.0' in runtime.telemetry.render()
