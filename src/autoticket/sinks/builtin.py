"""The built-in ticket store as a sink."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import Connection, insert

from autoticket.sinks.base import OutboxItem, SinkResult
from autoticket.store.tables import timeline
from autoticket.store.tickets import write_ticket_action

__all__ = ["BuiltinSink"]

_VERBS = {"open": "opened", "update": "updated", "resolve": "resolved", "reopen": "reopened"}


class BuiltinSink:
    name: ClassVar[str] = "builtin"

    def apply(self, conn: Connection, item: OutboxItem, now: datetime) -> SinkResult:
        ticket_id = write_ticket_action(conn, item.incident_id, item.action, item.payload, now)
        verb = _VERBS.get(item.action, item.action)
        why = ", ".join(item.payload.get("reasons", []))
        conn.execute(
            insert(timeline).values(
                incident_id=item.incident_id,
                at=now,
                kind=f"ticket_{item.action}",
                message=f"ticket #{ticket_id} {verb} ({why})",
                data={"ticket": ticket_id, "sink": self.name, "key": item.idempotency_key},
            )
        )
        return SinkResult("ok", external_ref=str(ticket_id))
