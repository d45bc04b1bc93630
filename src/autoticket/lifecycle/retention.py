"""Retention: drop what is old enough not to be needed, in bounded steps.

- processed inbox rows (raw bodies; also those kept as dead letters, whose
  dead letter holds the body) after `retention.inbox`;
- events of resolved incidents, events without an incident and the decisions
  without an incident (why an event was dropped) after `retention.events`;
- dead letters after `retention.dead_letters`;
- resolved incidents, with their alerts, events, timeline, decisions, ticket,
  outbox rows and timers, once resolved and last changed more than
  `retention.incidents` ago, and never inside `timers.reopen_within` of their
  resolution (a firing there must find them to reopen them); an incident with
  an alert seen since, or a ticket action still pending, stays; alerts of no
  incident, after `retention.incidents` without being seen;
- releases (with their pending re-judging timer) after `retention.releases`
  since they started, and pushed metric samples after
  `retention.metric_samples` by their sample time `t`.
Pending inbox rows and open incidents are never touched. Each call deletes at
most `limit` rows per table (and `limit // INCIDENT_SHARE` incidents, as each
takes its rows along), so a long backlog is worked off over several rounds
without a long write lock.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, Select, Table, delete, exists, select

from autoticket.config import RetentionConfig
from autoticket.store.forget import delete_incidents
from autoticket.store.tables import (
    alerts,
    dead_letters,
    decisions,
    events,
    inbox,
    incidents,
    metric_samples,
    outbox,
    releases,
    timers,
)
from autoticket.store.timers import RELEASE_CHECK

__all__ = ["INCIDENT_SHARE", "backlog_left", "purge"]

# Incidents per call: a tenth of the per-table limit, as each brings its rows along.
INCIDENT_SHARE = 10


def purge(
    conn: Connection,
    now: datetime,
    retention: RetentionConfig,
    limit: int = 5000,
    reopen_within: timedelta = timedelta(0),
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
    removed = {
        "inbox": _delete(conn, inbox, old_inbox),
        "events": _delete(conn, events, old_events),
        "dead_letters": _delete(conn, dead_letters, old_letters),
        "decisions": _delete(conn, decisions, _lone_decisions(now - retention.events, limit)),
        "alerts": _delete_alerts(conn, now - retention.incidents, limit),
        "releases": _delete_releases(conn, now - retention.releases, limit),
        "metric_samples": _delete(
            conn,
            metric_samples,
            select(metric_samples.c.id)
            .where(metric_samples.c.t < now - retention.metric_samples)
            .limit(limit),
        ),
    }
    cutoff = now - max(retention.incidents, reopen_within)
    gone = delete_incidents(conn, _old_incidents(conn, cutoff, max(1, limit // INCIDENT_SHARE)))
    for table, count in gone.items():
        removed[table] = removed.get(table, 0) + count
    return removed


def backlog_left(removed: dict[str, int], limit: int) -> bool:
    """Whether a call that removed `removed` stopped at a bound: more may be left."""
    incidents_bound = max(1, limit // INCIDENT_SHARE)
    return removed.get("incidents", 0) >= incidents_bound or any(
        count >= limit for table, count in removed.items() if table != "incidents"
    )


def _old_incidents(conn: Connection, cutoff: datetime, limit: int) -> list[int]:
    """Resolved before `cutoff`, unchanged since, no alert seen since, nothing to send."""
    seen_since = exists().where(
        alerts.c.incident_id == incidents.c.id, alerts.c.last_seen >= cutoff
    )
    to_send = exists().where(outbox.c.incident_id == incidents.c.id, outbox.c.status == "pending")
    query = (
        select(incidents.c.id)
        .where(
            incidents.c.open_key.is_(None),
            incidents.c.status == "resolved",
            incidents.c.resolved_at < cutoff,
            incidents.c.updated_at < cutoff,
            ~seen_since,
            ~to_send,
        )
        .order_by(incidents.c.resolved_at)
        .limit(limit)
    )
    return list(conn.execute(query).scalars())


def _lone_decisions(cutoff: datetime, limit: int) -> Select[tuple[object]]:
    """Decisions about events that joined no incident (dropped, unrouted)."""
    return (
        select(decisions.c.id)
        .where(decisions.c.incident_id.is_(None), decisions.c.at < cutoff)
        .limit(limit)
    )


def _delete_alerts(conn: Connection, cutoff: datetime, limit: int) -> int:
    """Alerts of no incident (a resolve never seen firing) not seen since `cutoff`."""
    keys = list(
        conn.execute(
            select(alerts.c.fingerprint)
            .where(alerts.c.incident_id.is_(None), alerts.c.last_seen < cutoff)
            .limit(limit)
        ).scalars()
    )
    if keys:
        conn.execute(delete(alerts).where(alerts.c.fingerprint.in_(keys)))
    return len(keys)


def _delete_releases(conn: Connection, cutoff: datetime, limit: int) -> int:
    """Releases started before `cutoff`, and any timer still set on them."""
    ids = list(
        conn.execute(select(releases.c.id).where(releases.c.started_at < cutoff).limit(limit))
        .scalars()
    )
    if ids:
        conn.execute(
            delete(timers).where(
                timers.c.kind == RELEASE_CHECK, timers.c.subject.in_([str(i) for i in ids])
            )
        )
        conn.execute(delete(releases).where(releases.c.id.in_(ids)))
    return len(ids)


def _delete(conn: Connection, table: Table, ids_query: Select[tuple[object]]) -> int:
    ids = list(conn.execute(ids_query).scalars())
    if ids:
        conn.execute(delete(table).where(table.c.id.in_(ids)))
    return len(ids)
