"""Silences people made: create, read, list, expire, and the ones that may still apply.

Expiring sets `ends_at` to the moment (as Alertmanager does); the row stays
as the record of who silenced what, when and why. Expiring also moves the
pending `silence_end` timers to that moment, so the incidents a silence held
are looked at again at once (lifecycle/silence_end.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, func, insert, select, update

from autoticket.store.tables import silences, timers
from autoticket.store.timers import SILENCE_END

__all__ = [
    "SilenceState",
    "create_silence",
    "expire_silence",
    "get_silence",
    "list_silences",
    "silences_since",
    "state_of",
    "wake_held",
]

SilenceState = Literal["pending", "active", "expired"]


def state_of(row: Any, now: datetime) -> SilenceState:
    if row.ends_at <= now:
        return "expired"
    return "pending" if row.starts_at > now else "active"


def create_silence(
    conn: Connection,
    matchers: Sequence[str],
    starts_at: datetime,
    ends_at: datetime,
    created_by: str,
    comment: str,
    now: datetime,
) -> int:
    """Store a silence (its matchers already checked); returns its id."""
    result = conn.execute(
        insert(silences).values(
            matchers=list(matchers),
            starts_at=starts_at,
            ends_at=ends_at,
            created_by=created_by,
            comment=comment,
            created_at=now,
            updated_at=now,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def get_silence(conn: Connection, silence_id: int) -> Any | None:
    return conn.execute(select(silences).where(silences.c.id == silence_id)).first()


def list_silences(
    conn: Connection, state: SilenceState | None, now: datetime, limit: int, offset: int
) -> tuple[list[Any], int]:
    """Newest first; `state` filters on pending / active / expired at `now`."""
    query = select(silences)
    if state == "expired":
        query = query.where(silences.c.ends_at <= now)
    elif state == "active":
        query = query.where(silences.c.ends_at > now, silences.c.starts_at <= now)
    elif state == "pending":
        query = query.where(silences.c.starts_at > now)
    total = conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = conn.execute(query.order_by(silences.c.id.desc()).limit(limit).offset(offset)).fetchall()
    return list(rows), int(total)


def expire_silence(conn: Connection, silence_id: int, by: str, now: datetime) -> bool:
    """End a silence now; False when it had already ended."""
    result = conn.execute(
        update(silences)
        .where(silences.c.id == silence_id, silences.c.ends_at > now)
        .values(ends_at=now, updated_at=now, expired_by=by)
    )
    if result.rowcount == 0:
        return False
    wake_held(conn, now)
    return True


def wake_held(conn: Connection, now: datetime) -> None:
    """Move the pending silence_end timers to `now`: their incidents' silences changed."""
    conn.execute(
        update(timers).where(timers.c.kind == SILENCE_END, timers.c.due_at > now).values(due_at=now)
    )


def silences_since(conn: Connection, since: datetime) -> list[Any]:
    """The stored silences that have not ended by `since`, oldest first."""
    query = select(silences).where(silences.c.ends_at > since).order_by(silences.c.id)
    return list(conn.execute(query).fetchall())
