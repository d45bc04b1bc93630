"""The built-in ticket store as a sink."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import Connection

from autoticket.sinks.base import NoSettings, OutboxItem, SinkResult
from autoticket.store.tickets import TicketWrite, write_ticket_actions
from autoticket.store.timeline import add_entries, entry

__all__ = ["BuiltinSink"]

_VERBS = {"open": "opened", "update": "updated", "resolve": "resolved", "reopen": "reopened"}


class BuiltinSink:
    """Transactional: writes in the dispatcher's transaction (see `sinks/base.py`)."""

    name: ClassVar[str] = "builtin"
    type: ClassVar[str] = "builtin"
    Settings: ClassVar[type[NoSettings]] = NoSettings

    def apply_batch(
        self, conn: Connection, items: list[OutboxItem], now: datetime
    ) -> list[SinkResult]:
        """Write the tickets, then one timeline entry per item: constant statements per batch."""
        if not items:
            return []
        writes = [TicketWrite(i.incident_id, i.action, i.payload) for i in items]
        ticket_ids = write_ticket_actions(conn, writes, now)
        entries = [self._entry(i, t, now) for i, t in zip(items, ticket_ids, strict=True)]
        add_entries(conn, entries)
        return [SinkResult("ok", external_ref=str(t)) for t in ticket_ids]

    def _entry(self, item: OutboxItem, ticket_id: int, now: datetime) -> dict[str, Any]:
        verb = _VERBS.get(item.action, item.action)
        why = ", ".join(item.payload.get("reasons", []))
        return entry(
            item.incident_id,
            now,
            f"ticket_{item.action}",
            f"ticket #{ticket_id} {verb} ({why})",
            {"ticket": ticket_id, "sink": self.name, "key": item.idempotency_key},
        )
