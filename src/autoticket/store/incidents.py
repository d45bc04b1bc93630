"""Read queries over incidents, their alerts and timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, update

from autoticket.store.tables import alerts, incidents, timeline

__all__ = [
    "alerts_count",
    "alerts_of",
    "get_incident",
    "incidents_opened_between",
    "list_incidents",
    "set_context",
    "timeline_count",
    "timeline_of",
]


def list_incidents(
    conn: Connection,
    status: str | None = None,
    limit: int = 100,
    offset: int = 0,
    by_priority: bool = False,
) -> tuple[list[Any], int]:
    """Newest first; `by_priority`: most urgent first (P1 before P2), then the oldest."""
    query = select(incidents)
    count = select(func.count()).select_from(incidents)
    if status == "active":
        cond = incidents.c.status != "resolved"
    elif status:
        cond = incidents.c.status == status
    else:
        cond = None
    if cond is not None:
        query, count = query.where(cond), count.where(cond)
    order = (
        (incidents.c.priority, incidents.c.opened_at, incidents.c.id)
        if by_priority
        else (incidents.c.id.desc(),)
    )
    rows = list(conn.execute(query.order_by(*order).limit(limit).offset(offset)))
    return rows, int(conn.execute(count).scalar_one())


def get_incident(conn: Connection, incident_id: int) -> Any | None:
    return conn.execute(select(incidents).where(incidents.c.id == incident_id)).first()


def alerts_of(conn: Connection, incident_id: int, limit: int = 500, offset: int = 0) -> list[Any]:
    """A page of the incident's alerts, first seen first: at most `limit` after `offset`."""
    query = (
        select(alerts)
        .where(alerts.c.incident_id == incident_id)
        .order_by(alerts.c.first_seen, alerts.c.fingerprint)
        .limit(limit)
        .offset(offset)
    )
    return list(conn.execute(query))


def alerts_count(conn: Connection, incident_id: int) -> int:
    count = select(func.count()).select_from(alerts).where(alerts.c.incident_id == incident_id)
    return int(conn.execute(count).scalar_one())


def timeline_of(conn: Connection, incident_id: int, limit: int = 500) -> list[Any]:
    """The latest `limit` timeline entries of the incident, in time order."""
    query = (
        select(timeline)
        .where(timeline.c.incident_id == incident_id)
        .order_by(timeline.c.at.desc(), timeline.c.id.desc())
        .limit(limit)
    )
    return list(reversed(list(conn.execute(query))))


def timeline_count(conn: Connection, incident_id: int) -> int:
    query = select(func.count()).select_from(timeline).where(timeline.c.incident_id == incident_id)
    return int(conn.execute(query).scalar_one())


def set_context(conn: Connection, incident_id: int, context: dict[str, Any]) -> None:
    conn.execute(update(incidents).where(incidents.c.id == incident_id).values(context=context))


def incidents_opened_between(
    conn: Connection, start: datetime, end: datetime, limit: int = 20
) -> list[Any]:
    """Incidents opened in [start, end], oldest first, at most `limit`."""
    query = (
        select(incidents)
        .where(incidents.c.opened_at >= start, incidents.c.opened_at <= end)
        .order_by(incidents.c.opened_at, incidents.c.id)
        .limit(limit)
    )
    return list(conn.execute(query))
