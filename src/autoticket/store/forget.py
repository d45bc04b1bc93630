"""Deleting incidents for good, with every row that hangs off them (retention).

The tables have no foreign keys, so the children go first by hand: events,
alerts, timeline, decisions, outbox rows, the ticket with its external
references and update state, and the incident's timers (auto-resolve, held
ticket update), then the incidents themselves. Callers
choose which incidents may go; this module only makes sure nothing of them
is left behind to point at a missing incident.
"""

from __future__ import annotations

from sqlalchemy import Connection, Table, delete, select

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
from autoticket.store.timers import AUTO_RESOLVE, TICKET_UPDATE

__all__ = ["delete_incidents"]

_BY_INCIDENT: tuple[Table, ...] = (events, alerts, timeline, decisions, outbox, ticket_updates)
# Timer kinds whose subject is an incident id.
_INCIDENT_TIMERS = (AUTO_RESOLVE, TICKET_UPDATE)


def delete_incidents(conn: Connection, ids: list[int]) -> dict[str, int]:
    """Delete the incidents `ids` and their rows; rows deleted per table."""
    removed = {t.name: 0 for t in (*_BY_INCIDENT, ticket_refs, tickets, timers, incidents)}
    if not ids:
        return removed
    for table in _BY_INCIDENT:
        removed[table.name] = _count(
            conn.execute(delete(table).where(table.c.incident_id.in_(ids)))
        )
    ticket_ids = list(
        conn.execute(select(tickets.c.id).where(tickets.c.incident_id.in_(ids))).scalars()
    )
    if ticket_ids:
        removed["ticket_refs"] = _count(
            conn.execute(delete(ticket_refs).where(ticket_refs.c.ticket_id.in_(ticket_ids)))
        )
        removed["tickets"] = _count(
            conn.execute(delete(tickets).where(tickets.c.id.in_(ticket_ids)))
        )
    subjects = [str(i) for i in ids]
    removed["timers"] = _count(
        conn.execute(
            delete(timers).where(
                timers.c.kind.in_(_INCIDENT_TIMERS), timers.c.subject.in_(subjects)
            )
        )
    )
    removed["incidents"] = _count(conn.execute(delete(incidents).where(incidents.c.id.in_(ids))))
    return removed


def _count(result: object) -> int:
    return max(int(getattr(result, "rowcount", 0) or 0), 0)
