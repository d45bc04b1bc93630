"""What every ticket sink shares.

Two kinds of sink:

- a *transactional* sink (the built-in store) writes into autoticket's own
  database, in the dispatcher's transaction, so its effects and the outbox
  rows' `done` marks commit together (exactly once without a lookup);
- an *external* sink (`Sink`) calls the outside world. It is called outside
  any transaction, one attempt per call; the external dispatcher owns leases,
  retries and backoff, and records the outcome (`sinks/external.py`).

Each sink type has a pydantic `Settings` class for its entry in the config's
`sinks:` map; an external sink receives its `httpx.Client` and never builds one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal, Protocol

import httpx
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection

__all__ = ["NoSettings", "OutboxItem", "Sink", "SinkResult", "TransactionalSink"]


@dataclass(slots=True)
class OutboxItem:
    id: int
    idempotency_key: str
    incident_id: int
    sink: str
    action: str
    payload: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0
    # The remote ticket an earlier action of this incident created in this sink
    # (the latest `external_ref` recorded for it), so updates find their ticket.
    remote_ref: str | None = None


@dataclass(slots=True)
class SinkResult:
    outcome: Literal["ok", "retry", "permanent"]
    external_ref: str | None = None
    reason: str = ""
    url: str | None = None
    retry_after: timedelta | None = None  # the remote's own wish (Retry-After)


class NoSettings(BaseModel):
    """For sink types that take no settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)


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


class Sink:
    """A sink that calls the outside world: one attempt per `apply`, no transaction open.

    Subclasses set `type` and `Settings`, and implement `apply`. `secrets`
    holds the values of the environment variables the settings name, read
    once at start-up; a sink must never put them into a `SinkResult.reason`.
    """

    type: ClassVar[str]
    Settings: ClassVar[type[BaseModel]] = NoSettings

    def __init__(
        self,
        name: str,
        settings: BaseModel,
        client: httpx.Client,
        secrets: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.client = client
        self.secrets = dict(secrets or {})

    @staticmethod
    def secret_fields(settings: BaseModel) -> dict[str, str]:
        """Field → environment variable, for the fields that name one (ending in `_env`)."""
        named = {f: getattr(settings, f) for f in type(settings).model_fields if f.endswith("_env")}
        return {field: var for field, var in named.items() if isinstance(var, str)}

    @property
    def timeout(self) -> timedelta:
        """The longest one call may take; the claim's lease is derived from it."""
        value = getattr(self.settings, "timeout", None)
        return value if isinstance(value, timedelta) else timedelta(seconds=10)

    def use_config(self, config: Any) -> None:
        """Called once after construction with the whole `Config` (e.g. the catalog's
        team contacts); most sinks need nothing beyond their settings."""

    def apply(self, item: OutboxItem) -> SinkResult:
        raise NotImplementedError
