"""An incident's escalation on the agenda: one `escalate` timer per incident.

The timer's payload says where the escalation stands (policy, step, round);
lifecycle/escalation.py fires it. Stopping it (an acknowledgement from the
API, the UI or a sink's two-way sync) deletes the timer and says so on the
timeline; the responder notified last is kept in the incident's context
(`oncall`), so the incident and its ticket name them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select

from autoticket.store.incidents import set_context
from autoticket.store.tables import incidents, timers
from autoticket.store.timeline import add_entries, entry

__all__ = ["ESCALATE", "pending", "responder_of", "set_responder", "stop"]

ESCALATE = "escalate"


def pending(conn: Connection, incident_id: int) -> dict[str, Any] | None:
    """The incident's pending escalation (its payload and `due_at`), or None."""
    row = conn.execute(
        select(timers.c.due_at, timers.c.payload).where(
            timers.c.kind == ESCALATE, timers.c.subject == str(incident_id)
        )
    ).first()
    if row is None:
        return None
    return {**(row.payload or {}), "due_at": row.due_at}


def stop(
    conn: Connection,
    incident_id: int,
    at: datetime,
    by: str,
    via: str,
    why: str = "acknowledged",
) -> bool:
    """Stop the incident's escalation (`why`: acknowledged or resolved, `via` api, ui, a
    sink's ticket); False if none was running. Writes an `escalation_stopped` entry."""
    gone = conn.execute(
        delete(timers).where(timers.c.kind == ESCALATE, timers.c.subject == str(incident_id))
    ).rowcount
    if not gone:
        return False
    who = by or "someone"
    add_entries(
        conn,
        [
            entry(
                incident_id,
                at,
                "escalation_stopped",
                f"escalation stopped: {why} by {who} ({via})",
                {"by": by, "via": via, "why": why},
            )
        ],
    )
    return True


def responder_of(conn: Connection, incident_id: int) -> dict[str, Any] | None:
    context = conn.execute(
        select(incidents.c.context).where(incidents.c.id == incident_id)
    ).scalar_one_or_none()
    found = (context or {}).get("oncall")
    return found if isinstance(found, dict) else None


def set_responder(conn: Connection, incident_id: int, responder: dict[str, Any]) -> None:
    """Name the responder notified last in the incident's context (`oncall`)."""
    context = conn.execute(
        select(incidents.c.context).where(incidents.c.id == incident_id)
    ).scalar_one_or_none()
    updated = dict(context or {})
    updated["oncall"] = responder
    set_context(conn, incident_id, updated)
