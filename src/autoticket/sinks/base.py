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

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal, Protocol

import httpx
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection

from autoticket.sinks.dispatch import DispatchSettings

__all__ = [
    "REMOTE_KINDS",
    "NoSettings",
    "OutboxItem",
    "ProbeFailed",
    "ProbeSkipped",
    "RemoteChange",
    "Sink",
    "SinkResult",
    "TransactionalSink",
]

REMOTE_KINDS = frozenset({"closed", "reopened", "reassigned", "acknowledged", "commented"})


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


@dataclass(slots=True, frozen=True)
class RemoteChange:
    """A change a person made to a remote ticket (two-way sync).

    `remote_ref` is the ticket's id in the remote system (the `external_ref`
    autoticket recorded); `kind` one of `REMOTE_KINDS`; `by` who did it (as
    the remote names them), `at` when, `detail` e.g. the resolution
    ("won't fix"), the new assignee or the start of a comment. Written to the incident's timeline;
    a `closed` one stops autoticket from reopening that sink's ticket.
    """

    remote_ref: str
    kind: Literal["closed", "reopened", "reassigned", "acknowledged", "commented"]
    by: str = ""
    at: datetime | None = None
    detail: str = ""


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


class ProbeFailed(Exception):
    """A sink's remote is unreachable or refuses its credentials; the message says why."""


class ProbeSkipped(Exception):
    """A sink's remote cannot be checked without acting (posting, paging); says why."""


class Sink:
    """A sink that calls the outside world: one attempt per `apply`, no transaction open.

    Subclasses set `type` and `Settings`, and implement `apply`. `secrets`
    holds the values of the environment variables the settings name, read
    once at start-up; a sink must never put them into a `SinkResult.reason`.
    """

    type: ClassVar[str]
    Settings: ClassVar[type[BaseModel]] = NoSettings
    # The dispatcher's settings of this sink (retries, pace, breaker, sync), set by
    # `build_sinks` from the same config entry; every type gets them.
    dispatch: DispatchSettings = DispatchSettings()

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

    # Two-way sync: both optional. A sink whose remote can call back implements
    # `parse_webhook`; one that cannot, `poll`. The defaults report nothing.

    @property
    def webhook_secret(self) -> str | None:
        """The secret of `webhook_secret_env` or `webhook_secret_file`, when the sink
        takes a webhook."""
        key = self.dispatch.webhook_secret_key
        return self.secrets.get(key) if key else None

    def webhook_auth(self) -> str:
        """How a callback proves itself, as `GET /api/v1/sinks` shows it."""
        return "shared secret (Authorization: Bearer, or X-Autoticket-Webhook-Secret)"

    def authenticate_webhook(self, headers: Mapping[str, str], body: bytes) -> str | None:
        """None when the callback is authentic, else why not. The default: the secret
        itself as `Authorization: Bearer <secret>` or `X-Autoticket-Webhook-Secret`;
        sinks whose remote signs its callbacks (GitHub, Jira Cloud, PagerDuty) check
        the signature instead."""
        secret = self.webhook_secret
        if not secret:
            return "no webhook secret configured"
        lowered = {k.lower(): v for k, v in headers.items()}
        given = lowered.get("x-autoticket-webhook-secret", "")
        auth = lowered.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            given = given or auth[7:].strip()
        if not given:
            return "the secret is missing (Authorization: Bearer or X-Autoticket-Webhook-Secret)"
        if not hmac.compare_digest(given.encode(), secret.encode()):
            return "the secret does not match"
        return None

    def reopens_remote(self, item: OutboxItem) -> bool:
        """Whether sending `item` would reopen a ticket a person closed (then it is
        skipped while their close stands: never fight a person). A reopen does;
        a sink whose updates reopen as well (PagerDuty's trigger) says so."""
        return item.action == "reopen"

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[RemoteChange]:
        """The changes a remote's callback (`POST /api/v1/sinks/{name}/webhook`) reports.

        Called after the request's secret was checked; raise `ValueError` with
        a reason for a body it cannot read (answered 400).
        """
        return []

    def probe(self) -> str:
        """Check reachability and credentials with one or two harmless reads (never a
        write): return what was checked, raise `ProbeFailed` with the reason, or
        `ProbeSkipped` where the remote offers no harmless check (`check-config --probe`)."""
        raise ProbeSkipped(f"type {self.type!r} has no remote check")

    def poll(self, since: datetime | None) -> list[RemoteChange]:
        """The changes made remotely since `since` (None: the first poll), one call per
        `poll_interval` by the sink's lane, outside any transaction."""
        return []
