"""PagerDuty webhooks v3, read back: what a human did to an alert autoticket raised.

`PagerDutySink.parse_webhook` and `authenticate_webhook` call it for
`POST /api/v1/sinks/{name}/webhook` (two-way sync). PagerDuty signs the raw body with each of the
subscription's secrets (HMAC-SHA256, hex) and sends them comma-separated in
`X-PagerDuty-Signature: v1=<hex>[,v1=<hex>]` (two while a secret rotates).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["SIGNATURE_HEADER", "PagerDutyChange", "WebhookError", "parse_changes", "verify"]

SIGNATURE_HEADER = "X-PagerDuty-Signature"
KINDS: dict[str, Literal["acknowledged", "resolved", "reassigned"]] = {
    "incident.acknowledged": "acknowledged",
    "incident.resolved": "resolved",
    "incident.reassigned": "reassigned",
}
PREFIX = "autoticket-"  # the dedup keys the sink sends (sinks/incident_key.py)


class WebhookError(ValueError):
    """A body that is not a v3 webhook event; the message names the field."""


@dataclass(frozen=True, slots=True)
class PagerDutyChange:
    correlation_key: str  # the incident's dedup_key, as the sink sent it
    kind: Literal["acknowledged", "resolved", "reassigned"]
    human: bool  # done by a user (not by autoticket's own events through the integration)
    by: str | None
    at: str | None
    url: str | None
    event_id: str
    assignees: tuple[str, ...] = ()


def verify(secrets: Sequence[str], header: str | None, body: bytes) -> bool:
    """True when one `v1=` signature of the header matches the body under one secret."""
    if not header:
        return False
    given = [p.strip()[3:] for p in header.split(",") if p.strip().startswith("v1=")]
    for secret in secrets:
        mac = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if any(hmac.compare_digest(mac, g) for g in given):
            return True
    return False


def _field(obj: Any, name: str, where: str) -> Any:
    if not isinstance(obj, dict) or name not in obj:
        raise WebhookError(f"{where}.{name}: missing")
    return obj[name]


def _link(url: Any) -> str | None:
    return url if isinstance(url, str) and url.startswith(("https://", "http://")) else None


def parse_changes(body: bytes) -> list[PagerDutyChange]:
    """The change of one delivery, if it is one autoticket follows (else an empty list)."""
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise WebhookError(f"body: not JSON ({exc.msg})") from None
    event = _field(doc, "event", "body")
    kind = KINDS.get(str(_field(event, "event_type", "event")))
    if kind is None:
        return []  # triggered, annotated, priority_updated …: not a human decision we track
    data = _field(event, "data", "event")
    key = data.get("incident_key") if isinstance(data, dict) else None
    if not isinstance(key, str) or not key.startswith(PREFIX):
        return []  # an incident autoticket did not raise
    agent = event.get("agent") if isinstance(event.get("agent"), dict) else {}
    assignees = tuple(
        str(a.get("summary"))
        for a in data.get("assignees") or []
        if isinstance(a, dict) and a.get("summary")
    )
    return [
        PagerDutyChange(
            correlation_key=key,
            kind=kind,
            human=agent.get("type") == "user_reference",
            by=str(agent["summary"]) if agent.get("summary") else None,
            at=event.get("occurred_at") if isinstance(event.get("occurred_at"), str) else None,
            url=_link(data.get("html_url")),
            event_id=str(_field(event, "id", "event")),
            assignees=assignees,
        )
    ]
