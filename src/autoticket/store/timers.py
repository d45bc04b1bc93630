"""The timers agenda: schedule, cancel, and take what is due.

A timer is a row (kind, subject, due_at, payload), one per (kind, subject);
scheduling again moves it. The kind's module (lifecycle/) decides what firing
means and re-checks its subject, so a timer that outlived its reason fires
into nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select

from autoticket.model import Timer
from autoticket.store.tables import timers
from autoticket.store.upsert import upsert

__all__ = [
    "AUTO_RESOLVE",
    "RELEASE_CHECK",
    "SILENCE_END",
    "TICKET_PAUSE",
    "TICKET_UPDATE",
    "cancel",
    "delete_fired",
    "due",
    "due_subjects",
    "next_due",
    "pending_of",
    "schedule",
]


# The incident's `resolve_due_at` is mirrored on the agenda under this kind
# (store/correlation_state.py keeps them in step); lifecycle/auto_resolve.py fires it.
AUTO_RESOLVE = "auto_resolve"
# An update that coalescing held back (engine/coalesce.py); lifecycle/ticket_updates.py fires it.
TICKET_UPDATE = "ticket_update"
# A new incident's ticket held for its route's `pause` (subject: the incident id);
# lifecycle/pause.py fires it: still firing, the ticket opens; else suppressed.
TICKET_PAUSE = "ticket_pause"
# A new incident's ticket held by a silence (subject: the incident id); due when
# the silence ends, lifecycle/silence_end.py fires it: still firing and no longer
# silenced, the ticket opens (or reopens); still silenced, it waits again.
SILENCE_END = "silence_end"
# A release still being judged (subject: the release id); lifecycle/release_check.py fires it.
RELEASE_CHECK = "release_check"


def schedule(conn: Connection, items: Iterable[Timer], now: datetime | None = None) -> None:
    """Set each (kind, subject) timer to its due time, replacing an earlier one.

    `created_at` is the timer's `set_at`, else `now`, else its due time."""
    rows: list[dict[str, Any]] = [
        {
            "kind": t.kind,
            "subject": t.subject,
            "due_at": t.due_at,
            "payload": t.payload,
            "created_at": t.set_at or now or t.due_at,
        }
        for t in items
    ]
    upsert(conn, timers, rows, ["kind", "subject"])


def cancel(conn: Connection, kind: str, subjects: Iterable[str]) -> None:
    wanted = sorted(set(subjects))
    if wanted:
        conn.execute(
            delete(timers).where(
                timers.c.kind == kind, timers.c.subject.in_(bindparam("s", expanding=True))
            ),
            {"s": wanted},
        )


# Built once: these run between the segments of every batch.
_KINDS = bindparam("kinds", expanding=True)
# A seek per kind on ix_timers_kind_due_at: without it, the unique index on
# (kind, subject) made SQLite read and sort every pending timer, each batch.
_NEXT_DUE = (
    select(timers.c.due_at).where(timers.c.kind.in_(_KINDS)).order_by(timers.c.due_at).limit(1)
)
_DUE = (
    select(timers)
    .where(
        timers.c.due_at <= bindparam("until", type_=timers.c.due_at.type),
        timers.c.kind.in_(_KINDS),
    )
    .order_by(timers.c.due_at, timers.c.id)
    .limit(bindparam("limit"))
)


def next_due(conn: Connection, kinds: list[str]) -> datetime | None:
    return conn.execute(_NEXT_DUE, {"kinds": kinds}).scalar_one_or_none()


def due(conn: Connection, until: datetime, kinds: list[str], limit: int = 500) -> list[Timer]:
    """Timers due by `until`, in due order. On PostgreSQL they are locked for this
    transaction and timers another worker holds are skipped."""
    query = _DUE.with_for_update(skip_locked=True) if conn.dialect.name == "postgresql" else _DUE
    params = {"until": until, "kinds": kinds, "limit": limit}
    return [
        Timer(row.kind, row.subject, row.due_at, row.payload or {}, row.id)
        for row in conn.execute(query, params)
    ]


def due_subjects(conn: Connection, until: datetime, kind: str) -> list[str]:
    """The subjects of `kind`'s timers due by `until`, without locking them (a look ahead)."""
    query = (
        select(timers.c.subject)
        .where(timers.c.due_at <= until, timers.c.kind == kind)
        .distinct()
        .order_by(timers.c.subject)
    )
    return list(conn.execute(query).scalars())


_DELETE_FIRED = delete(timers).where(
    timers.c.id == bindparam("b_id"),
    timers.c.due_at == bindparam("b_due", type_=timers.c.due_at.type),
)


def delete_fired(conn: Connection, fired: Iterable[Timer]) -> None:
    """Delete fired timers, unless they were moved (scheduled again) meanwhile."""
    params = [{"b_id": t.id, "b_due": t.due_at} for t in fired if t.id is not None]
    if params:
        conn.execute(_DELETE_FIRED, params)


def pending_of(conn: Connection, subject: str) -> list[Timer]:
    """The pending timers of one subject, for explain."""
    query = select(timers).where(timers.c.subject == subject).order_by(timers.c.due_at)
    return [
        Timer(row.kind, row.subject, row.due_at, row.payload or {}, row.id)
        for row in conn.execute(query)
    ]
