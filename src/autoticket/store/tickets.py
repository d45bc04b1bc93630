"""The built-in ticket store: one ticket per incident."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from autoticket.store.tables import tickets
from autoticket.store.upsert import insert_ignore

__all__ = [
    "TicketWrite",
    "get_ticket",
    "list_tickets",
    "ticket_of_incident",
    "write_ticket_action",
    "write_ticket_actions",
]

# Columns a batch sets to absolute values; the two counters are added to instead.
_SET = ("title", "team", "priority", "severity", "status", "updated_at", "resolved_at", "body")


@dataclass(frozen=True, slots=True)
class TicketWrite:
    """One ticket action: open, update, resolve or reopen the incident's ticket."""

    incident_id: int
    action: str
    payload: Mapping[str, Any]


@dataclass(slots=True)
class _Ticket:
    """A ticket as the batch leaves it: absolute columns plus counter increments."""

    values: dict[str, Any]
    id: int | None = None
    insert: dict[str, Any] | None = None  # the row to create, when it did not exist
    reopens: int = 0
    updates: int = 0
    dirty: bool = False  # needs an UPDATE


def ticket_of_incident(conn: Connection, incident_id: int) -> Any | None:
    return conn.execute(select(tickets).where(tickets.c.incident_id == incident_id)).first()


def write_ticket_action(
    conn: Connection, incident_id: int, action: str, payload: Mapping[str, Any], now: datetime
) -> int:
    """Apply one action; return the ticket id. Safe to call again with the same input."""
    return write_ticket_actions(conn, [TicketWrite(incident_id, action, payload)], now)[0]


def write_ticket_actions(
    conn: Connection, writes: Sequence[TicketWrite], now: datetime
) -> list[int]:
    """Apply actions in order; return each one's ticket id, in the same order.

    The end state is that of applying them one by one, in a constant number of
    statements: one SELECT of the tickets involved, then at most one INSERT
    (ignoring a ticket a concurrent writer created) and one SELECT of the new
    ids, and one UPDATE, each an executemany. An incident without a ticket
    gets one first. Times come from the decision (`payload["at"]`) so replay
    is deterministic; `now` is only the fallback.
    """
    if not writes:
        return []
    found = _load(conn, {w.incident_id for w in writes})
    order: list[_Ticket] = []
    for w in writes:
        ticket = found.get(w.incident_id)
        if ticket is None:
            ticket = found[w.incident_id] = _create(w, now)
            if w.action != "open":
                _apply(ticket, w, now)
        else:
            _apply(ticket, w, now)
        order.append(ticket)
    _insert_new(conn, {i: t for i, t in found.items() if t.insert is not None})
    _update(conn, [t for t in found.values() if t.dirty])
    return [_id_of(t) for t in order]


def _id_of(ticket: _Ticket) -> int:
    if ticket.id is None:  # inserted or found: the SELECT after the insert sees it
        raise RuntimeError("ticket written but not found")
    return ticket.id


def _at(payload: Mapping[str, Any], now: datetime) -> datetime:
    return datetime.fromisoformat(str(payload["at"])) if payload.get("at") else now


def _fields(payload: Mapping[str, Any], at: datetime) -> dict[str, Any]:
    """The columns an action sets; an action without a body (a timer's, a person's) keeps it."""
    fields = {
        "title": payload["title"],
        "team": payload.get("team"),
        "priority": payload["priority"],
        "severity": _severity_level(payload.get("severity")),
        "updated_at": at,
    }
    if "body" in payload:
        fields["body"] = str(payload["body"])
    return fields


_LOAD = select(tickets.c.id, tickets.c.incident_id, *(tickets.c[c] for c in _SET)).where(
    tickets.c.incident_id.in_(bindparam("incident_ids", expanding=True))
)
_IDS = select(tickets.c.incident_id, tickets.c.id).where(
    tickets.c.incident_id.in_(bindparam("incident_ids", expanding=True))
)


def _load(conn: Connection, incident_ids: Iterable[int]) -> dict[int, _Ticket]:
    rows = conn.execute(_LOAD, {"incident_ids": sorted(incident_ids)})
    return {
        row.incident_id: _Ticket(values={c: row._mapping[c] for c in _SET}, id=int(row.id))
        for row in rows
    }


def _create(write: TicketWrite, now: datetime) -> _Ticket:
    at = _at(write.payload, now)
    values = {"body": ""} | _fields(write.payload, at) | {"status": "open", "resolved_at": None}
    row = values | {
        "incident_id": write.incident_id,
        # The incident's opening time, not the batch's: independent of batching.
        "opened_at": _opened_at(write.payload, at),
        "reopen_count": 0,
        "update_count": 0,
    }
    return _Ticket(values=values, insert=row)


def _opened_at(payload: dict[str, Any], fallback: datetime) -> datetime:
    value = payload.get("opened_at")
    return datetime.fromisoformat(str(value)) if value else fallback


def _apply(ticket: _Ticket, write: TicketWrite, now: datetime) -> None:
    at = _at(write.payload, now)
    values = ticket.values
    values.update(_fields(write.payload, at))
    if write.action == "resolve":
        values.update(status="resolved", resolved_at=at)
    elif write.action == "reopen":
        values.update(status="open", resolved_at=None)
        ticket.reopens += 1
    elif write.action == "update":
        ticket.updates += 1
        if write.payload.get("status") == "acknowledged" and values["status"] == "open":
            values["status"] = "acknowledged"
    ticket.dirty = True


def _insert_new(conn: Connection, new: dict[int, _Ticket]) -> None:
    """Create the missing tickets (insert-ignore), then learn their ids."""
    if not new:
        return
    insert_ignore(conn, tickets, [t.insert for t in new.values() if t.insert], ["incident_id"])
    for incident_id, ticket_id in conn.execute(_IDS, {"incident_ids": list(new)}):
        new[incident_id].id = int(ticket_id)


_UPDATE = (
    update(tickets)
    .where(tickets.c.id == bindparam("b_id"))
    .values(
        {c: bindparam(f"b_{c}", type_=tickets.c[c].type) for c in _SET}
        | {
            "reopen_count": tickets.c.reopen_count + bindparam("b_reopens"),
            "update_count": tickets.c.update_count + bindparam("b_updates"),
        }
    )
)


def _update(conn: Connection, changed: list[_Ticket]) -> None:
    if not changed:
        return
    rows = [
        {f"b_{c}": t.values[c] for c in _SET}
        | {"b_id": t.id, "b_reopens": t.reopens, "b_updates": t.updates}
        for t in changed
    ]
    conn.execute(_UPDATE, rows)


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
