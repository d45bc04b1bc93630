"""Lifecycle timers: auto-resolve an incident once its alerts stayed resolved.

A timer is a column (`incidents.resolve_due_at`), so it survives restarts and
is visible in explain; firing it is a transaction that resolves the incident
and enqueues the ticket action with a version-derived idempotency key.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, func, select

from autoticket.config import Config
from autoticket.model import Decision, IncidentStatus, TicketAction
from autoticket.pipeline.decide import action_key, ticket_payload
from autoticket.store import outbox as outbox_store
from autoticket.store.correlation_state import SqlCorrelationState
from autoticket.store.events import add_decisions
from autoticket.store.locks import lock_keys
from autoticket.store.rows import incident_from_row
from autoticket.store.tables import incidents

__all__ = ["fire_due_timers", "next_due"]


def next_due(conn: Connection) -> datetime | None:
    query = select(func.min(incidents.c.resolve_due_at)).where(
        incidents.c.resolve_due_at.isnot(None), incidents.c.open_key.isnot(None)
    )
    return conn.execute(query).scalar_one_or_none()


def fire_due_timers(conn: Connection, now: datetime, config: Config, limit: int = 500) -> int:
    """Resolve incidents whose resolve timer is due at `now`; return how many."""
    query = (
        select(incidents)
        .where(
            incidents.c.resolve_due_at <= now,
            incidents.c.open_key.isnot(None),
            incidents.c.firing == 0,
        )
        .order_by(incidents.c.resolve_due_at, incidents.c.id)
        .limit(limit)
    )
    rows = list(conn.execute(query))
    if not rows:
        return 0
    keys = sorted({r.correlation_key for r in rows})
    if lock_keys(conn, keys):
        # Re-read under the locks, and only incidents whose keys we hold.
        rows = list(conn.execute(query.where(incidents.c.correlation_key.in_(keys))))
    state = SqlCorrelationState(conn)
    actions: list[TicketAction] = []
    decided: list[tuple[int | None, Decision]] = []
    for row in rows:
        incident = incident_from_row(row)
        due = incident.resolve_due_at or now
        incident.status = IncidentStatus.RESOLVED
        incident.resolved_at = due
        incident.resolve_due_at = None
        incident.updated_at = due
        incident.version += 1
        state.save_incident(incident)
        after = config.timers.resolve_after
        state.add_timeline(
            incident.id,
            due,
            "resolved",
            f"auto-resolved: all alerts stayed resolved for {after}",
            {"timer": "resolve_after", "after_seconds": after.total_seconds()},
        )
        sinks = config.sinks_for(incident.route)
        key = action_key(incident, "resolve")
        actions.append(
            TicketAction(incident.id, "resolve", key, sinks, ticket_payload(incident, ["resolved"]))
        )
        decided.append(
            (
                incident.id,
                Decision(
                    "lifecycle",
                    "resolve",
                    "resolve_after",
                    str(incident.id),
                    {"due": due.isoformat(), "idempotency_key": key},
                ),
            )
        )
    state.flush()
    outbox_store.enqueue(conn, actions, now)
    add_decisions(conn, decided, now)
    return len(rows)
