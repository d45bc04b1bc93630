"""The `webhook` sink: one signed JSON POST per ticket action.

The body is documented in docs/sinks.md. The signature is HMAC-SHA256, keyed
with the secret named by `secret_env`, over `<timestamp>.<raw body>`; the
timestamp travels in its own header, so a receiver can refuse old requests
(replays) as well as forged ones.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar

import httpx
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl

from autoticket.config import Duration
from autoticket.sinks.base import OutboxItem, ProbeSkipped, Sink, SinkResult
from autoticket.sinks.http import send

__all__ = ["SCHEMA_VERSION", "WebhookSettings", "WebhookSink", "sign"]

SCHEMA_VERSION = "1"
SIGNATURE_HEADER = "X-Autoticket-Signature"
TIMESTAMP_HEADER = "X-Autoticket-Timestamp"
RESERVED = frozenset(
    {"content-type", "idempotency-key", "authorization", "host", "content-length"}
    | {SIGNATURE_HEADER.lower(), TIMESTAMP_HEADER.lower()}
)
TICKET_FIELDS = ("title", "team", "priority", "severity", "status", "opened_at", "reasons")


def _timeout(value: timedelta) -> timedelta:
    if not timedelta(0) < value <= timedelta(minutes=5):
        raise ValueError("timeout must be more than 0s and at most 5m")
    return value


def _headers(value: dict[str, str]) -> dict[str, str]:
    taken = sorted(h for h in value if h.lower() in RESERVED)
    if taken:
        raise ValueError(f"headers set by autoticket itself cannot be overridden: {taken}")
    return value


class WebhookSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: HttpUrl
    secret_env: str = Field(min_length=1, description="env var holding the HMAC secret")
    token_env: str | None = Field(default=None, description="env var of a bearer token")
    timeout: Annotated[Duration, AfterValidator(_timeout)] = timedelta(seconds=10)
    headers: Annotated[dict[str, str], AfterValidator(_headers)] = Field(default_factory=dict)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header's value: `sha256=` + hex HMAC of `<timestamp>.<body>`."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def body_of(item: OutboxItem, sent_at: datetime) -> dict[str, Any]:
    """The documented JSON of one action (docs/sinks.md, "webhook")."""
    payload = item.payload
    return {
        "version": SCHEMA_VERSION,
        "action": item.action,
        "incident_id": item.incident_id,
        "idempotency_key": item.idempotency_key,
        "ticket": {f: payload.get(f) for f in TICKET_FIELDS},
        "changed_at": payload.get("at"),
        "sent_at": sent_at.isoformat().replace("+00:00", "Z"),
        "attempt": item.attempts + 1,
    }


class WebhookSink(Sink):
    type: ClassVar[str] = "webhook"
    Settings: ClassVar[type[BaseModel]] = WebhookSettings

    def probe(self) -> str:
        raise ProbeSkipped(
            "a generic webhook has no harmless call: only a real action would check it"
        )

    def apply(self, item: OutboxItem) -> SinkResult:
        settings = self.settings
        assert isinstance(settings, WebhookSettings)
        now = datetime.now(UTC)
        body = json.dumps(body_of(item, now), separators=(",", ":")).encode()
        timestamp = str(int(now.timestamp()))
        headers = {
            **settings.headers,
            "Content-Type": "application/json",
            "Idempotency-Key": item.idempotency_key,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self.secrets[settings.secret_env], timestamp, body),
        }
        if settings.token_env:
            headers["Authorization"] = f"Bearer {self.secrets[settings.token_env]}"
        seconds = settings.timeout.total_seconds()
        request = self.client.build_request(
            "POST", str(settings.url), content=body, headers=headers, timeout=seconds
        )
        result, response = send(self.client, request, lambda: datetime.now(UTC))
        if result.outcome == "ok" and response is not None:
            result.external_ref, result.url = _reference(response)
        return result


def _reference(response: httpx.Response) -> tuple[str | None, str | None]:
    """The receiver may answer `{"id": ..., "url": ...}`: the remote ticket."""
    try:
        data = response.json()
    except ValueError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    ref, url = data.get("id"), data.get("url")
    return (str(ref)[:256] if ref not in (None, "") else None), (
        url if isinstance(url, str) else None
    )
