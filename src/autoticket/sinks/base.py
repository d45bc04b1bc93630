"""What every ticket sink shares.

A sink applies one outbox action per call and says how it went; the outbox
dispatcher owns retries and backoff. The built-in store is a sink that writes
in the dispatcher's own transaction, so its effect and the outbox row's
`done` mark commit together (exactly once without a lookup).
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

    def apply(self, conn: Connection, item: OutboxItem, now: datetime) -> SinkResult: ...
