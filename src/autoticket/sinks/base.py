"""What every ticket sink shares.

A sink applies a batch of due outbox actions per call (all of its own, in
outbox order) and says how each one went; the outbox dispatcher owns retries
and backoff. The built-in store is a sink that writes in the dispatcher's own
transaction, so its effects and the outbox rows' `done` marks commit together
(exactly once without a lookup).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal, Protocol

from sqlalchemy import Connection

__all__ = ["OutboxItem", "SinkResult", "TransactionalSink"]


@dataclass(slots=True)
class OutboxItem:
    id: int
    idempotency_key: str
    incident_id: int
    sink: str
    action: str
    payload: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0


@dataclass(slots=True)
class SinkResult:
    outcome: Literal["ok", "retry", "permanent"]
    external_ref: str | None = None
    reason: str = ""


class TransactionalSink(Protocol):
    """A sink whose effect lives in autoticket's own database."""

    name: ClassVar[str]

    def apply_batch(
        self, conn: Connection, items: list[OutboxItem], now: datetime
    ) -> list[SinkResult]:
        """Apply `items` in order, in `conn`'s transaction; one result per item, same order.

        Several items may concern one incident: the end state must be that of
        applying them one by one. A sink whose items can fail one at a time
        must not apply an incident's item after an earlier one of it failed;
        it answers `retry` for the later ones, so order holds across retries.
        """
        ...
