"""Read queries over incidents, their alerts and timeline."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select, update

from autoticket.store.tables import alerts, incidents, timeline

__all__ = ["alerts_of", "get_incident", "list_incidents", "set_context", "timeline_of"]


def list_incidents(
    conn: Connection, status: str | None = None, limit: int = 100, offset: int = 0
) -> tuple[list[Any], int]:
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
    rows = list(conn.execute(query.order_by(incidents.c.id.desc()).limit(limit).offset(offset)))
    return rows, int(conn.execute(count).scalar_one())


def get_incident(conn: Connection, incident_id: int) -> Any | None:
    return conn.execute(select(incidents).where(incidents.c.id == incident_id)).first()


def alerts_of(conn: Connection, incident_id: int) -> list[Any]:
    query = select(alerts).where(alerts.c.incident_id == incident_id).order_by(alerts.c.first_seen)
    return list(conn.execute(query))


def timeline_of(conn: Connection, incident_id: int) -> list[Any]:
    query = (
        select(timeline)
        .where(timeline.c.incident_id == incident_id)
        .order_by(timeline.c.at, timeline.c.id)
    )
    return list(conn.execute(query))


def set_context(conn: Connection, incident_id: int, context: dict[str, Any]) -> None:
    conn.execute(update(incidents).where(incidents.c.id == incident_id).values(context=context))
