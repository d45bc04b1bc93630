"""The transactional dispatcher: applies due actions of the transactional sinks
(the built-in store), in the caller's transaction, with retry and backoff.

Rows of other sinks are left alone: the external dispatcher (`sinks/external.py`)
claims them and calls their sinks outside any transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from autoticket.sinks.base import OutboxItem, SinkResult, TransactionalSink
from autoticket.sinks.builtin import BuiltinSink
from autoticket.store import outbox as outbox_store

__all__ = ["MAX_ATTEMPTS", "Applied", "Dispatcher", "backoff", "item_of"]

Applied = list[tuple[OutboxItem, SinkResult]]

MAX_ATTEMPTS = 12


def backoff(attempts: int) -> timedelta:
    """1s, 2s, 4s ... capped at 10 minutes."""
    return timedelta(seconds=min(600, 2 ** max(0, attempts)))


def item_of(row: Any) -> OutboxItem:
    """An outbox row as the item a sink is handed."""
    return OutboxItem(
        row.id,
        row.idempotency_key,
        row.incident_id,
        row.sink,
        row.action,
        row.payload,
        row.attempts,
    )


def _by_sink(rows: list[Any]) -> dict[str, list[OutboxItem]]:
    """Due rows grouped by sink, each group in outbox order."""
    groups: dict[str, list[OutboxItem]] = {}
    for row in rows:
        groups.setdefault(row.sink, []).append(item_of(row))
    return groups


class Dispatcher:
    def __init__(
        self,
        sinks: dict[str, TransactionalSink] | None = None,
        on_applied: Callable[[OutboxItem, datetime], None] | None = None,
        on_committed: Callable[[Applied], None] | None = None,
    ) -> None:
        """`on_applied` is called for each action as it is applied, inside the
        transaction; `on_committed` with all of them by `committed()`, once that
        transaction has committed (what a log may report as done)."""
        self.sinks: dict[str, TransactionalSink] = sinks or {"builtin": BuiltinSink()}
        self.on_applied = on_applied
        self.on_committed = on_committed
        self._uncommitted: Applied = []

    def any_due(self, conn: Connection, now: datetime) -> bool:
        """Whether one of this dispatcher's sinks has a due row (a read, no write lock)."""
        return outbox_store.any_due(conn, now, self.sinks)

    def dispatch_due(self, conn: Connection, now: datetime, limit: int = 500) -> int:
        """Apply every due action of these sinks in the caller's transaction; return how
        many were done.

        Each sink gets one `apply_batch` call with its due items; all `done`
        marks are one statement, in the same transaction as the sinks' writes.
        """
        self._uncommitted = []
        done: list[int] = []
        for name, items in _by_sink(outbox_store.due(conn, now, limit, self.sinks)).items():
            sink = self.sinks[name]
            results = sink.apply_batch(conn, items, now)
            if len(results) != len(items):
                raise RuntimeError(f"sink {name!r}: {len(results)} results for {len(items)} items")
            done.extend(self._settle(conn, items, results, now))
        outbox_store.mark_done(conn, done, now)
        return len(done)

    def committed(self) -> None:
        """The transaction of the last `dispatch_due` committed: report what it applied."""
        applied, self._uncommitted = self._uncommitted, []
        if applied and self.on_committed is not None:
            self.on_committed(applied)

    def _settle(
        self, conn: Connection, items: list[OutboxItem], results: list[SinkResult], now: datetime
    ) -> list[int]:
        """Schedule retries or give up on failed items; return the ids of applied ones."""
        done: list[int] = []
        for item, result in zip(items, results, strict=True):
            if result.outcome == "ok":
                done.append(item.id)
                self._uncommitted.append((item, result))
                if self.on_applied is not None:
                    self.on_applied(item, now)
            elif result.outcome == "retry" and item.attempts + 1 < MAX_ATTEMPTS:
                outbox_store.mark_retry(conn, item.id, now, result.reason, backoff(item.attempts))
            else:
                outbox_store.mark_retry(conn, item.id, now, result.reason, None)
        return done
