"""Timeline entries: every change to an incident, as data."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert

from autoticket.store.tables import timeline

__all__ = ["add_entries", "entry"]


def entry(
    incident_id: int, at: datetime, kind: str, message: str, data: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "incident_id": incident_id,
        "at": at,
        "kind": kind,
        "message": message,
        "data": data or {},
    }


def add_entries(conn: Connection, entries: list[dict[str, Any]]) -> None:
    if entries:
        conn.execute(insert(timeline), entries)
