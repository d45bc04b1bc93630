"""Normalized events and the decisions made about incidents."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select

from autoticket.model import Decision, Event
from autoticket.store.tables import decisions, events
from autoticket.store.upsert import insert_ignore

__all__ = ["add_decisions", "decisions_of", "events_of", "insert_events", "latest_annotations"]


def insert_events(conn: Connection, batch: list[Event]) -> None:
    """Store each event once; a retried delivery with the same ids is ignored."""
    rows = [
        {
            "id": e.id,
            "delivery_id": e.raw_ref,
            "source": e.source,
            "fingerprint": e.fingerprint,
            "incident_id": e.incident_id,
            "status": e.status.value,
            "severity": int(e.severity),
            "title": e.title,
            "occurred_at": e.occurred_at,
            "received_at": e.received_at,
            "route": e.route,
            "team": e.team,
            "labels": e.labels,
            "annotations": e.annotations,
            "decisions": [d.as_dict() for d in e.decisions],
        }
        for e in batch
    ]
    insert_ignore(conn, events, rows, ["id"])


def add_decisions(conn: Connection, items: list[tuple[int | None, Decision]], at: datetime) -> None:
    if not items:
        return
    conn.execute(
        insert(decisions),
        [
            {
                "incident_id": incident_id,
                "at": at,
                "stage": d.stage,
                "rule": d.rule,
                "outcome": d.outcome,
                "subject": d.subject,
                "inputs": d.inputs,
            }
            for incident_id, d in items
        ],
    )


def events_of(conn: Connection, incident_id: int, limit: int = 200) -> list[dict[str, Any]]:
    query = (
        select(events)
        .where(events.c.incident_id == incident_id)
        .order_by(events.c.received_at, events.c.id)
        .limit(limit)
    )
    return [dict(r._mapping) for r in conn.execute(query)]


def decisions_of(conn: Connection, incident_id: int) -> list[dict[str, Any]]:
    query = select(decisions).where(decisions.c.incident_id == incident_id).order_by(decisions.c.id)
    return [dict(r._mapping) for r in conn.execute(query)]


def latest_annotations(
    conn: Connection, incident_id: int, fingerprints: list[str]
) -> dict[str, dict[str, str]]:
    """The annotations of each alert's latest event in an incident, by fingerprint.

    One row per fingerprint is read (a window over the incident's events), so
    an incident with thousands of repeats costs what its alerts cost.
    """
    if not fingerprints:
        return {}
    newest = func.row_number().over(
        partition_by=events.c.fingerprint,
        order_by=(events.c.received_at.desc(), events.c.id.desc()),
    )
    ranked = (
        select(events.c.fingerprint, events.c.annotations, newest.label("n"))
        .where(events.c.incident_id == incident_id, events.c.fingerprint.in_(fingerprints))
        .subquery()
    )
    query = select(ranked.c.fingerprint, ranked.c.annotations).where(ranked.c.n == 1)
    return {r.fingerprint: dict(r.annotations or {}) for r in conn.execute(query)}
