"""Leases on outbox rows of external sinks: claim, then record the outcome.

An external sink is called outside any transaction. A claim marks due rows
with a token and moves `next_attempt_at` to the end of a lease, in one short
transaction; the outcome is recorded in another, only by the token's holder.
A dispatcher that dies mid-call leaves the row pending: once the lease runs
out it is due again and delivered again under the same idempotency key.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from autoticket.store.outbox import due
from autoticket.store.tables import outbox, ticket_refs, tickets
from autoticket.store.upsert import upsert

__all__ = ["claim", "known_refs", "record_done", "record_retry", "release"]


def claim(
    conn: Connection,
    sink: str,
    now: datetime,
    lease: timedelta,
    limit: int,
    after: Collection[str] = (),
) -> tuple[str, list[Any]]:
    """Lease up to `limit` due rows of `sink` (in outbox order); return the token and rows.

    A row waits while its incident has a pending row of a sink in `after`
    enqueued no later than it: the built-in ticket exists before the remote
    one, so the remote reference can be attached to it (`ticket_refs`).
    """
    rows = due(conn, now, limit, sinks=[sink])
    if rows and after:
        anchors = _first_pending_of(conn, after, {row.incident_id for row in rows})
        rows = [r for r in rows if (a := anchors.get(r.incident_id)) is None or r.created_at < a]
    token = secrets.token_hex(16)
    if rows:
        conn.execute(
            update(outbox)
            .where(outbox.c.id.in_([row.id for row in rows]))
            .values(claim_token=token, next_attempt_at=now + lease)
        )
    return token, rows


def known_refs(conn: Connection, sink: str, incident_ids: Collection[int]) -> dict[int, str]:
    """Per incident: the remote reference its latest done action of `sink` recorded."""
    if not incident_ids:
        return {}
    latest = (
        select(outbox.c.incident_id, func.max(outbox.c.id).label("id"))
        .where(
            outbox.c.sink == sink,
            outbox.c.status == "done",
            outbox.c.external_ref.is_not(None),
            outbox.c.incident_id.in_(sorted(incident_ids)),
        )
        .group_by(outbox.c.incident_id)
        .subquery()
    )
    query = select(outbox.c.incident_id, outbox.c.external_ref).join(
        latest, outbox.c.id == latest.c.id
    )
    return {incident: ref for incident, ref in conn.execute(query)}


def _first_pending_of(
    conn: Connection, sinks: Collection[str], incident_ids: set[int]
) -> dict[int, datetime]:
    """Per incident: when its oldest pending row of `sinks` was enqueued."""
    query = (
        select(outbox.c.incident_id, func.min(outbox.c.created_at))
        .where(
            outbox.c.status == "pending",
            outbox.c.sink.in_(sorted(sinks)),
            outbox.c.incident_id.in_(sorted(incident_ids)),
        )
        .group_by(outbox.c.incident_id)
    )
    return {incident: first for incident, first in conn.execute(query)}


def _mine(row_id: int, token: str) -> Any:
    return update(outbox).where(
        outbox.c.id == row_id, outbox.c.claim_token == token, outbox.c.status == "pending"
    )


def record_done(
    conn: Connection,
    row_id: int,
    token: str,
    now: datetime,
    external_ref: str | None,
    url: str | None,
) -> bool:
    """Mark the row done and keep its remote reference; False if the lease was lost.

    The reference also goes to `ticket_refs` when the incident has a built-in
    ticket (one per ticket and sink, the latest wins).
    """
    values: dict[str, Any] = {
        "status": "done",
        "done_at": now,
        "attempts": outbox.c.attempts + 1,
        "claim_token": None,
        "external_ref": external_ref,
        "external_url": url,
    }
    result = conn.execute(
        _mine(row_id, token).values(values).returning(outbox.c.incident_id, outbox.c.sink)
    )
    row = result.first()
    if row is None:
        return False
    if external_ref:
        ticket_id = conn.execute(
            select(tickets.c.id).where(tickets.c.incident_id == row.incident_id)
        ).scalar()
        if ticket_id is not None:
            ref = {"ticket_id": ticket_id, "sink": row.sink, "external_id": external_ref}
            upsert(conn, ticket_refs, [{**ref, "url": url}], ["ticket_id", "sink"])
    return True


def record_retry(
    conn: Connection,
    row_id: int,
    token: str,
    now: datetime,
    error: str,
    delay: timedelta | None,
) -> bool:
    """Another attempt after `delay`, or park the row (failed) when None; False if not ours."""
    values: dict[str, Any] = {
        "attempts": outbox.c.attempts + 1,
        "last_error": error[:2000],
        "claim_token": None,
    }
    if delay is None:
        values["status"] = "failed"
    else:
        values["next_attempt_at"] = now + delay
    return conn.execute(_mine(row_id, token).values(values)).rowcount == 1


_RELEASE = (
    update(outbox)
    .where(
        outbox.c.id.in_(bindparam("ids", expanding=True)),
        outbox.c.claim_token == bindparam("token"),
    )
    .values(claim_token=None, next_attempt_at=bindparam("at", type_=outbox.c.next_attempt_at.type))
)


def release(conn: Connection, ids: list[int], token: str, at: datetime) -> None:
    """Give back claimed rows that were not attempted; they are due again at `at`."""
    if ids:
        conn.execute(_RELEASE, {"ids": ids, "token": token, "at": at})
