"""The coalescing state of ticket updates: read for a batch's incidents, written once."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, bindparam, select

from autoticket.model import TicketUpdateState
from autoticket.store.tables import ticket_updates
from autoticket.store.upsert import upsert

__all__ = ["load_update_states", "save_update_states"]

_LOAD = select(ticket_updates).where(
    ticket_updates.c.incident_id.in_(bindparam("ids", expanding=True))
)


def load_update_states(conn: Connection, ids: Iterable[int]) -> dict[int, TicketUpdateState]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    return {
        row.incident_id: TicketUpdateState(
            incident_id=row.incident_id,
            sent_at=row.sent_at,
            sent_alerts=row.sent_alerts,
            sent_priority=row.sent_priority,
            seen=set(row.seen),
            pending=list(row.pending),
            pending_body=row.pending_body,
        )
        for row in conn.execute(_LOAD, {"ids": wanted})
    }


def save_update_states(conn: Connection, states: Iterable[TicketUpdateState]) -> None:
    rows = [
        {
            "incident_id": s.incident_id,
            "sent_at": s.sent_at,
            "sent_alerts": s.sent_alerts,
            "sent_priority": s.sent_priority,
            "seen": sorted(s.seen),
            "pending": s.pending,
            "pending_body": s.pending_body,
        }
        for s in sorted(states, key=lambda s: s.incident_id)
    ]
    upsert(conn, ticket_updates, rows, ["incident_id"])
