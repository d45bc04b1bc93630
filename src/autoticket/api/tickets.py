"""Tickets of the built-in store."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request

from autoticket.api.auth import as_viewer
from autoticket.api.deps import DbId, Offset, read_conn
from autoticket.api.errors import ApiError
from autoticket.model import Severity
from autoticket.store.escalations import responder_of
from autoticket.store.tickets import get_ticket, list_tickets

__all__ = ["router", "ticket_view"]

router = APIRouter(prefix="/api/v1/tickets", tags=["tickets"], dependencies=[Depends(as_viewer)])


def ticket_view(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "incident_id": row.incident_id,
        "title": row.title,
        "team": row.team,
        "priority": row.priority,
        "severity": Severity(row.severity).label,
        "status": row.status,
        "opened_at": row.opened_at,
        "updated_at": row.updated_at,
        "resolved_at": row.resolved_at,
        "reopen_count": row.reopen_count,
        "update_count": row.update_count,
    }


@router.get("")
def get_tickets(
    request: Request,
    status: Literal["active", "open", "acknowledged", "resolved"] | None = None,
    limit: int = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    with read_conn(request) as conn:
        rows, total = list_tickets(conn, status, max(1, min(limit, 1000)), max(0, offset))
    return {"items": [ticket_view(r) for r in rows], "total": total}


@router.get("/{ticket_id}")
def get_one(request: Request, ticket_id: DbId) -> dict[str, Any]:
    with read_conn(request) as conn:
        row = get_ticket(conn, ticket_id)
        oncall = responder_of(conn, row.incident_id) if row is not None else None
    if row is None:
        raise ApiError(404, "not_found", f"no ticket {ticket_id}", "ticket_id")
    # The responder the incident's escalation notified last (None: none yet).
    return ticket_view(row) | {"body": row.body, "responder": (oncall or {}).get("responder")}
