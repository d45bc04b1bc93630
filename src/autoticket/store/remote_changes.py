"""Changes people made to remote tickets (two-way sync), kept on the incident's timeline.

The timeline is the record: a `remote_closed` entry of a sink whose latest
`remote_*` open/close entry it is means that sink's ticket was closed by a
person, and autoticket does not reopen it automatically (see
`sinks/sync.py`).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from autoticket.store.tables import outbox, ticket_refs, tickets, timeline
from autoticket.store.timeline import add_entries, entry

__all__ = ["KINDS", "add_remote_change", "already_recorded", "human_closed", "incident_of_ref"]

KINDS = {
    "closed": "remote_closed",
    "reopened": "remote_reopened",
    "reassigned": "remote_reassigned",
    "acknowledged": "remote_acknowledged",
    "commented": "remote_commented",
}
_STATE_KINDS = ("remote_closed", "remote_reopened")


def incident_of_ref(conn: Connection, sink: str, remote_ref: str) -> int | None:
    """The incident whose ticket in `sink` is `remote_ref` (the outbox first, then
    `ticket_refs`); None when autoticket never recorded it."""
    found = conn.execute(
        select(outbox.c.incident_id)
        .where(outbox.c.sink == sink, outbox.c.external_ref == remote_ref)
        .order_by(outbox.c.id.desc())
        .limit(1)
    ).scalar()
    if found is not None:
        return int(found)
    found = conn.execute(
        select(tickets.c.incident_id)
        .join(ticket_refs, ticket_refs.c.ticket_id == tickets.c.id)
        .where(ticket_refs.c.sink == sink, ticket_refs.c.external_id == remote_ref)
        .limit(1)
    ).scalar()
    return int(found) if found is not None else None


def _data(sink: str, remote_ref: str, by: str, detail: str) -> dict[str, Any]:
    return {"sink": sink, "remote_ref": remote_ref, "by": by, "detail": detail}


def already_recorded(
    conn: Connection,
    incident_id: int,
    sink: str,
    kind: str,
    remote_ref: str,
    by: str,
    at: datetime,
    detail: str,
) -> bool:
    """Whether this very change is on the timeline: a remote retrying its delivery
    (or a poll seeing it again) must not write it twice."""
    query = select(timeline.c.data).where(
        timeline.c.incident_id == incident_id, timeline.c.kind == KINDS[kind], timeline.c.at == at
    )
    wanted = _data(sink, remote_ref, by, detail)
    return any(data == wanted for data in conn.execute(query).scalars())


def add_remote_change(
    conn: Connection,
    incident_id: int,
    sink: str,
    kind: str,
    remote_ref: str,
    by: str,
    at: datetime,
    detail: str,
) -> dict[str, Any]:
    """One timeline entry for a remote change; returns it."""
    who = by or "someone"
    message = f"{sink} ticket {remote_ref} {kind} by {who}" + (f" ({detail})" if detail else "")
    data = _data(sink, remote_ref, by, detail)
    row = entry(incident_id, at, KINDS[kind], message[:2000], data)
    add_entries(conn, [row])
    return row


def human_closed(conn: Connection, sink: str, incident_ids: Collection[int]) -> dict[int, str]:
    """Incidents whose `sink` ticket a person closed last (and did not reopen since),
    with the entry's message."""
    if not incident_ids:
        return {}
    query = (
        select(timeline.c.incident_id, timeline.c.kind, timeline.c.message, timeline.c.data)
        .where(
            timeline.c.incident_id.in_(sorted(incident_ids)),
            timeline.c.kind.in_(_STATE_KINDS),
        )
        .order_by(timeline.c.id)
    )
    latest: dict[int, tuple[str, str]] = {}
    for incident_id, kind, message, data in conn.execute(query):
        if isinstance(data, dict) and data.get("sink") == sink:
            latest[incident_id] = (kind, message)
    return {i: m for i, (k, m) in latest.items() if k == "remote_closed"}
