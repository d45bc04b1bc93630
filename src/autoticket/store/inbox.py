"""The inbox: raw deliveries, stored durably before the service answers 2xx."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, func, insert, select, update

from autoticket.model import Delivery
from autoticket.store.tables import inbox

__all__ = [
    "any_pending",
    "append",
    "claim_one",
    "claim_pending",
    "mark_dead",
    "mark_processed",
    "oldest_pending",
    "pending_count",
]


def append(
    conn: Connection,
    deliveries: list[tuple[Delivery, int]],
    processed_at: datetime | None = None,
) -> None:
    """Append (delivery, event_count) pairs in one statement.

    With `processed_at`, they are stored as already done: kept as received
    (a deploy webhook handled at once), never claimed by a worker.
    """
    if not deliveries:
        return
    status = "pending" if processed_at is None else "done"
    conn.execute(
        insert(inbox),
        [
            {
                "delivery_id": d.id,
                "source": d.source,
                "received_at": d.received_at,
                "headers": d.headers,
                "body": d.body,
                "event_count": n,
                "status": status,
                "processed_at": processed_at,
            }
            for d, n in deliveries
        ],
    )


def _claim(conn: Connection, query: Select[Any]) -> list[Delivery]:
    """Run a select of pending rows; on PostgreSQL lock them, skipping rows others hold."""
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return [
        Delivery(r.delivery_id, r.source, r.received_at, bytes(r.body), dict(r.headers), r.id)
        for r in conn.execute(query)
    ]


_PENDING = select(
    inbox.c.id,
    inbox.c.delivery_id,
    inbox.c.source,
    inbox.c.received_at,
    inbox.c.headers,
    inbox.c.body,
).where(inbox.c.status == "pending")


_PENDING_SIZED = select(
    inbox.c.id,
    inbox.c.delivery_id,
    inbox.c.source,
    inbox.c.received_at,
    inbox.c.headers,
    inbox.c.event_count,
    func.length(inbox.c.body).label("size"),
    inbox.c.body,
).where(inbox.c.status == "pending")


def claim_pending(
    conn: Connection, limit: int, max_events: int | None = None, max_bytes: int | None = None
) -> list[Delivery]:
    """The oldest pending deliveries: at most `limit` of them, and no more than
    `max_events` events or `max_bytes` of bodies in all (but always at least one).

    One query, read row by row (a server-side cursor on PostgreSQL) and left
    at the first row past a bound, so a backlog of large deliveries does not
    load more than one batch's worth of bodies into memory.
    """
    if max_events is None and max_bytes is None:
        return _claim(conn, _PENDING.order_by(inbox.c.id).limit(limit))
    query = _PENDING_SIZED.order_by(inbox.c.id).limit(limit)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    taken: list[Delivery] = []
    events = size = 0
    # Per statement: Connection.execution_options would change the connection itself.
    result = conn.execute(query, execution_options={"stream_results": True})
    try:
        for r in result:
            events += r.event_count
            size += r.size or 0
            over = (max_events is not None and events > max_events) or (
                max_bytes is not None and size > max_bytes
            )
            if over and taken:
                break
            taken.append(
                Delivery(
                    r.delivery_id, r.source, r.received_at, bytes(r.body), dict(r.headers), r.id
                )
            )
    finally:
        result.close()
    return taken


def claim_one(conn: Connection, inbox_id: int) -> Delivery | None:
    """The delivery of one inbox row if it is still pending."""
    found = _claim(conn, _PENDING.where(inbox.c.id == inbox_id))
    return found[0] if found else None


def mark_dead(conn: Connection, inbox_ids: list[int], now: datetime) -> None:
    """Deliveries the pipeline could not process; their dead letter says why."""
    if inbox_ids:
        conn.execute(
            update(inbox).where(inbox.c.id.in_(inbox_ids)).values(status="dead", processed_at=now)
        )


def any_pending(conn: Connection) -> bool:
    """Whether a delivery waits: a cheap read before taking a write transaction."""
    query = select(inbox.c.id).where(inbox.c.status == "pending").limit(1)
    return conn.execute(query).first() is not None


def oldest_pending(conn: Connection) -> datetime | None:
    query = select(func.min(inbox.c.received_at)).where(inbox.c.status == "pending")
    return conn.execute(query).scalar_one_or_none()


def mark_processed(conn: Connection, inbox_ids: list[int], now: datetime) -> None:
    if inbox_ids:
        conn.execute(
            update(inbox).where(inbox.c.id.in_(inbox_ids)).values(status="done", processed_at=now)
        )


def pending_count(conn: Connection) -> int:
    query = select(func.count()).select_from(inbox).where(inbox.c.status == "pending")
    return int(conn.execute(query).scalar_one())
