"""Retention: drop what is old enough not to be needed, in bounded steps.

- processed inbox rows (raw bodies; also those kept as dead letters, whose
  dead letter holds the body) after `retention.inbox`;
- events of resolved incidents, and events without an incident, after
  `retention.events` (an open incident keeps all of its events for explain);
- dead letters after `retention.dead_letters`.
Pending inbox rows are never touched. Each call deletes at most `limit` rows
per table, so a long backlog is worked off over several rounds without a long
write lock.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Select, Table, delete, select

from autoticket.config import RetentionConfig
from autoticket.store.tables import dead_letters, events, inbox, incidents

__all__ = ["purge"]


def purge(
    conn: Connection, now: datetime, retention: RetentionConfig, limit: int = 5000
) -> dict[str, int]:
    old_inbox = (
        select(inbox.c.id)
        .where(inbox.c.status.in_(("done", "dead")), inbox.c.received_at < now - retention.inbox)
        .limit(limit)
    )
    resolved = select(incidents.c.id).where(incidents.c.open_key.is_(None))
    old_events = (
        select(events.c.id)
        .where(
            events.c.received_at < now - retention.events,
            events.c.incident_id.is_(None) | events.c.incident_id.in_(resolved),
        )
        .limit(limit)
    )
    old_letters = (
        select(dead_letters.c.id)
        .where(dead_letters.c.received_at < now - retention.dead_letters)
        .limit(limit)
    )
    return {
        "inbox": _delete(conn, inbox, old_inbox),
        "events": _delete(conn, events, old_events),
        "dead_letters": _delete(conn, dead_letters, old_letters),
    }


def _delete(conn: Connection, table: Table, ids_query: Select[tuple[object]]) -> int:
    ids = list(conn.execute(ids_query).scalars())
    if ids:
        conn.execute(delete(table).where(table.c.id.in_(ids)))
    return len(ids)
