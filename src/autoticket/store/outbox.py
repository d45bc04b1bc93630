"""The outbox: ticket actions written in the same transaction as the change."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from autoticket.model import TicketAction
from autoticket.store.tables import outbox
from autoticket.store.upsert import insert_ignore

__all__ = [
    "any_due",
    "counts_by_sink",
    "due",
    "enqueue",
    "mark_done",
    "mark_retry",
    "opened_sinks",
    "parked",
    "parked_one",
    "pending_by_sink",
    "unpark",
]


def enqueue(conn: Connection, actions: list[TicketAction], now: datetime) -> None:
    """One row per (action, sink); an idempotency key seen before is a no-op."""
    rows = [
        {
            "idempotency_key": f"{a.idempotency_key}:{sink}",
            "incident_id": a.incident_id,
            "sink": sink,
            "action": a.action,
            "payload": _for_sink(a.payload, sink),
            "status": "pending",
            "attempts": 0,
            "created_at": now,
            "next_attempt_at": now,
        }
        for a in actions
        for sink in a.sinks
    ]
    insert_ignore(conn, outbox, rows, ["idempotency_key"])


def opened_sinks(conn: Connection, incident_ids: Collection[int]) -> dict[int, list[str]]:
    """The sinks each incident's ticket was opened (or reopened) in, sorted."""
    found: dict[int, set[str]] = {}
    ids = sorted(incident_ids)
    for start in range(0, len(ids), 500):
        query = (
            select(outbox.c.incident_id, outbox.c.sink)
            .where(
                outbox.c.incident_id.in_(ids[start : start + 500]),
                outbox.c.action.in_(("open", "reopen")),
            )
            .distinct()
        )
        for incident_id, sink in conn.execute(query):
            found.setdefault(int(incident_id), set()).add(str(sink))
    return {i: sorted(sinks) for i, sinks in found.items()}


def _for_sink(payload: dict[str, Any], sink: str) -> dict[str, Any]:
    """The payload as `sink` gets it: its own template's title and body, if it has one
    (`per_sink`, engine/templates.py)."""
    per_sink = payload.get("per_sink")
    if not per_sink:
        return payload
    out = {k: v for k, v in payload.items() if k != "per_sink"}
    out.update(per_sink.get(sink, {}))
    return out


def _due_query(query: Any, now: datetime, sinks: Collection[str] | None) -> Any:
    query = query.where(outbox.c.status == "pending", outbox.c.next_attempt_at <= now)
    return query if sinks is None else query.where(outbox.c.sink.in_(sorted(sinks)))


def any_due(conn: Connection, now: datetime, sinks: Collection[str] | None = None) -> bool:
    """Whether some row (of `sinks`, None: any) is due: a cheap read before a write transaction."""
    return conn.execute(_due_query(select(outbox.c.id), now, sinks).limit(1)).first() is not None


def due(
    conn: Connection, now: datetime, limit: int = 500, sinks: Collection[str] | None = None
) -> list[Any]:
    """Due rows, oldest first, that may be applied now without breaking order.

    On PostgreSQL the rows are locked for this transaction and rows another
    dispatcher holds are skipped, so two workers never apply one action. An
    incident's actions reach a sink in outbox order: a row is held back while
    an earlier pending row for the same (incident, sink) is outside this
    selection (waiting for a retry, or held by another dispatcher). `sinks`
    limits the selection to those sinks (None: all).
    """
    query = _due_query(select(outbox), now, sinks).order_by(outbox.c.id).limit(limit)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = list(conn.execute(query))
    if not rows:
        return rows
    blockers = _first_pending_outside(conn, rows)
    return [
        row
        for row in rows
        if (blocker := blockers.get((row.incident_id, row.sink))) is None or row.id < blocker
    ]


def _first_pending_outside(conn: Connection, rows: list[Any]) -> dict[tuple[int, str], int]:
    """For the incidents of `rows`: the lowest pending or parked (failed) outbox id, per
    (incident, sink), that is not among `rows`. Rows after it must wait for it: a
    parked action holds its incident's later ones until it is replayed."""
    ids = [row.id for row in rows]
    incident_ids = sorted({row.incident_id for row in rows})
    query = (
        select(outbox.c.incident_id, outbox.c.sink, func.min(outbox.c.id))
        .where(
            outbox.c.status.in_(("pending", "failed")),
            outbox.c.incident_id.in_(incident_ids),
            outbox.c.id.not_in(ids),
            outbox.c.id < max(ids),
        )
        .group_by(outbox.c.incident_id, outbox.c.sink)
    )
    return {(incident, sink): first for incident, sink, first in conn.execute(query)}


_MARK_DONE = (
    update(outbox)
    .where(outbox.c.id.in_(bindparam("ids", expanding=True)))
    .values(
        status="done",
        done_at=bindparam("done_at", type_=outbox.c.done_at.type),
        attempts=outbox.c.attempts + 1,
    )
)


def mark_done(conn: Connection, ids: list[int], now: datetime) -> None:
    """One statement for all applied rows, in the caller's (the sinks') transaction."""
    if ids:
        conn.execute(_MARK_DONE, {"ids": ids, "done_at": now})


def mark_retry(
    conn: Connection, row_id: int, now: datetime, error: str, delay: timedelta | None
) -> None:
    """Schedule another attempt after `delay`, or give up (status failed) when None."""
    values: dict[str, Any] = {"attempts": outbox.c.attempts + 1, "last_error": error[:2000]}
    if delay is None:
        values["status"] = "failed"
    else:
        values["next_attempt_at"] = now + delay
    conn.execute(update(outbox).where(outbox.c.id == row_id).values(values))


def pending_by_sink(conn: Connection, exclude: Collection[str] = ()) -> dict[str, int]:
    """Pending rows per sink, leaving out the sinks in `exclude`."""
    query = select(outbox.c.sink, func.count()).where(outbox.c.status == "pending")
    if exclude:
        query = query.where(outbox.c.sink.not_in(sorted(exclude)))
    rows = conn.execute(query.group_by(outbox.c.sink))
    return {sink: int(count) for sink, count in sorted(rows)}


def counts_by_sink(conn: Connection) -> dict[str, dict[str, int]]:
    """Per sink: how many rows are pending and how many parked (failed)."""
    query = (
        select(outbox.c.sink, outbox.c.status, func.count())
        .where(outbox.c.status.in_(("pending", "failed")))
        .group_by(outbox.c.sink, outbox.c.status)
    )
    found: dict[str, dict[str, int]] = {}
    for sink, status, count in conn.execute(query):
        key = "parked" if status == "failed" else "pending"
        found.setdefault(sink, {"pending": 0, "parked": 0})[key] = int(count)
    return found


def parked(conn: Connection, sink: str, limit: int = 100, offset: int = 0) -> list[Any]:
    """A sink's parked actions, oldest first."""
    query = (
        select(outbox)
        .where(outbox.c.sink == sink, outbox.c.status == "failed")
        .order_by(outbox.c.id)
        .limit(limit)
        .offset(offset)
    )
    return list(conn.execute(query))


def parked_one(conn: Connection, sink: str, row_id: int) -> Any | None:
    """One parked action of `sink`, or None."""
    query = select(outbox).where(
        outbox.c.id == row_id, outbox.c.sink == sink, outbox.c.status == "failed"
    )
    return conn.execute(query).first()


def unpark(conn: Connection, sink: str, row_id: int, now: datetime) -> bool:
    """Put a parked action back in line, due now, with its attempts counted afresh;
    False when `row_id` is not a parked action of `sink`."""
    query = (
        update(outbox)
        .where(outbox.c.id == row_id, outbox.c.sink == sink, outbox.c.status == "failed")
        .values(status="pending", attempts=0, next_attempt_at=now, claim_token=None)
    )
    return conn.execute(query).rowcount == 1
