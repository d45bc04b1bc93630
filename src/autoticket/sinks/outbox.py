"""The outbox dispatcher: applies due actions to their sinks, with retry and backoff."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Connection

from autoticket.sinks.base import OutboxItem, TransactionalSink
from autoticket.sinks.builtin import BuiltinSink
from autoticket.store import outbox as outbox_store

__all__ = ["Dispatcher", "backoff"]

MAX_ATTEMPTS = 12


def backoff(attempts: int) -> timedelta:
    """1s, 2s, 4s ... capped at 10 minutes."""
    return timedelta(seconds=min(600, 2 ** max(0, attempts)))


class Dispatcher:
    def __init__(
        self,
        sinks: dict[str, TransactionalSink] | None = None,
        on_applied: Callable[[OutboxItem, datetime], None] | None = None,
    ) -> None:
        self.sinks: dict[str, TransactionalSink] = sinks or {"builtin": BuiltinSink()}
        self.on_applied = on_applied

    def dispatch_due(self, conn: Connection, now: datetime, limit: int = 500) -> int:
        """Apply every due action in the caller's transaction; return how many were done."""
        done: list[int] = []
        for row in outbox_store.due(conn, now, limit):
            item = OutboxItem(
                row.id,
                row.idempotency_key,
                row.incident_id,
                row.sink,
                row.action,
                row.payload,
                row.attempts,
            )
            sink = self.sinks.get(item.sink)
            if sink is None:
                outbox_store.mark_retry(conn, item.id, now, f"unknown sink {item.sink!r}", None)
                continue
            result = sink.apply(conn, item, now)
            if result.outcome == "ok":
                done.append(item.id)
                if self.on_applied is not None:
                    self.on_applied(item, now)
            elif result.outcome == "retry" and item.attempts + 1 < MAX_ATTEMPTS:
                outbox_store.mark_retry(conn, item.id, now, result.reason, backoff(item.attempts))
            else:
                outbox_store.mark_retry(conn, item.id, now, result.reason, None)
        outbox_store.mark_done(conn, done, now)
        return len(done)
