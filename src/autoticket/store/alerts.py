"""Writes to alerts outside correlate's batch state."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select, update

from autoticket.store.tables import alerts

__all__ = ["close_firing_episodes", "firing_alerts_of"]


def close_firing_episodes(conn: Connection, incident_id: int, now: datetime) -> int:
    """Mark every alert still firing in the incident as resolved at `now`; return how many."""
    result = conn.execute(
        update(alerts)
        .where(alerts.c.incident_id == incident_id, alerts.c.status == "firing")
        .values(status="resolved", resolved_since=now)
    )
    return result.rowcount


def firing_alerts_of(conn: Connection, incident_id: int) -> list[tuple[str, dict[str, str]]]:
    """(title, labels) of the incident's firing alerts, by fingerprint."""
    query = (
        select(alerts.c.title, alerts.c.labels)
        .where(alerts.c.incident_id == incident_id, alerts.c.status == "firing")
        .order_by(alerts.c.fingerprint)
    )
    return [(row.title, dict(row.labels)) for row in conn.execute(query)]
