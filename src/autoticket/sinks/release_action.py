"""The release action webhook: one signed POST per (release, action) to a CD system.

`releases.action_webhook` names a URL and the environment variable of an
HMAC secret; when a release's final verdict calls for one of its `actions`
(pause, rollback), the judge enqueues one outbox row for this sink with an
idempotency key of the release and the action (lifecycle/release_check.py),
and the external dispatcher calls it outside any transaction, with retries
and backoff. The body is the row's payload (release, verdict, score,
action, reasons, per-metric evidence, link) plus `sent_at` and `attempt`;
it is signed like the `webhook` sink (docs/releases.md, "Action webhook"):
`X-Autoticket-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">`
with the timestamp in `X-Autoticket-Timestamp`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl

from autoticket.config import Duration
from autoticket.sinks.base import OutboxItem, Sink, SinkResult
from autoticket.sinks.http import send
from autoticket.sinks.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, _timeout, sign

__all__ = ["EVENT_HEADER", "ReleaseActionSettings", "ReleaseActionSink"]

EVENT_HEADER = "X-Autoticket-Event"


class ReleaseActionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: HttpUrl
    secret_env: str = Field(min_length=1, description="env var holding the HMAC secret")
    timeout: Annotated[Duration, AfterValidator(_timeout)] = timedelta(seconds=10)


class ReleaseActionSink(Sink):
    type: ClassVar[str] = "release-action"
    Settings: ClassVar[type[BaseModel]] = ReleaseActionSettings

    def apply(self, item: OutboxItem) -> SinkResult:
        settings = self.settings
        assert isinstance(settings, ReleaseActionSettings)
        now = datetime.now(UTC)
        document = dict(item.payload) | {
            "idempotency_key": item.idempotency_key,
            "sent_at": now.isoformat().replace("+00:00", "Z"),
            "attempt": item.attempts + 1,
        }
        body = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
        timestamp = str(int(now.timestamp()))
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": item.idempotency_key,
            EVENT_HEADER: "release-action",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self.secrets[settings.secret_env], timestamp, body),
        }
        request = self.client.build_request(
            "POST",
            str(settings.url),
            content=body,
            headers=headers,
            timeout=settings.timeout.total_seconds(),
        )
        result, _ = send(self.client, request, lambda: datetime.now(UTC))
        return result
