"""The built-in ticket store: one ticket per incident."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, update

from autoticket.store.tables import tickets
from autoticket.store.upsert import insert_ignore

__all__ = ["get_ticket", "list_tickets", "ticket_of_incident", "write_ticket_action"]


def ticket_of_incident(conn: Connection, incident_id: int) -> Any | None:
    return conn.execute(select(tickets).where(tickets.c.incident_id == incident_id)).first()


def write_ticket_action(
    conn: Connection, incident_id: int, action: str, payload: dict[str, Any], now: datetime
) -> int:
    """Apply one action; return the ticket id. Safe to call again with the same input.

    Times come from the decision (`payload["at"]`) so replay is deterministic;
    `now` is only the fallback.
    """
    at = datetime.fromisoformat(str(payload["at"])) if payload.get("at") else now
    fields = {
        "title": payload["title"],
        "team": payload.get("team"),
        "priority": payload["priority"],
        "severity": _severity_level(payload.get("severity")),
        "updated_at": at,
    }
    existing = ticket_of_incident(conn, incident_id)
    if existing is None:
        insert_ignore(
            conn,
            tickets,
            [
                fields
                | {
                    "incident_id": incident_id,
                    "status": "open",
                    "opened_at": at,
                    "reopen_count": 0,
                    "update_count": 0,
                }
            ],
            ["incident_id"],
        )
        existing = ticket_of_incident(conn, incident_id)
        assert existing is not None
        if action == "open":
            return int(existing.id)
    values: dict[str, Any] = dict(fields)
    if action == "resolve":
        values.update(status="resolved", resolved_at=at)
    elif action == "reopen":
        values.update(status="open", resolved_at=None, reopen_count=tickets.c.reopen_count + 1)
    elif action == "update":
        values.update(update_count=tickets.c.update_count + 1)
        if payload.get("status") == "acknowledged" and existing.status == "open":
            values["status"] = "acknowledged"
    conn.execute(update(tickets).where(tickets.c.id == existing.id).values(values))
    return int(existing.id)


def _severity_level(label: Any) -> int:
    from autoticket.model import Severity

    return int(Severity.parse(str(label), default=Severity.WARNING))


def get_ticket(conn: Connection, ticket_id: int) -> Any | None:
    return conn.execute(select(tickets).where(tickets.c.id == ticket_id)).first()


def list_tickets(
    conn: Connection, status: str | None = None, limit: int = 100, offset: int = 0
) -> tuple[list[Any], int]:
    query = select(tickets)
    count = select(func.count()).select_from(tickets)
    if status == "active":
        query = query.where(tickets.c.status != "resolved")
        count = count.where(tickets.c.status != "resolved")
    elif status:
        query = query.where(tickets.c.status == status)
        count = count.where(tickets.c.status == status)
    rows = list(conn.execute(query.order_by(tickets.c.id.desc()).limit(limit).offset(offset)))
    return rows, int(conn.execute(count).scalar_one())
