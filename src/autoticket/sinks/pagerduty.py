"""The `pagerduty` sink: PagerDuty Events API v2 (`POST /v2/enqueue`).

PagerDuty deduplicates natively: every event carries the incident's
correlation key as `dedup_key`, so an open sent twice (a crash between
PagerDuty's 202 and the record, a lost answer) joins the alert the first one
made instead of paging twice. An update triggers again with the same key
(PagerDuty folds it into the open alert; updates reach a sink already
coalesced), an acknowledgement acknowledges, a resolve resolves, a reopen
triggers. The Events API cannot be read back: what a human does in PagerDuty
comes back only through its v3 webhooks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar

import httpx
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl

from autoticket.config import Duration
from autoticket.sinks.base import OutboxItem, ProbeSkipped, RemoteChange, Sink, SinkResult
from autoticket.sinks.http import send
from autoticket.sinks.incident_key import correlation_key
from autoticket.sinks.pagerduty_webhook import SIGNATURE_HEADER, parse_changes, verify
from autoticket.sinks.tracker_hooks import iso_time

__all__ = ["SEVERITIES", "PagerDutySettings", "PagerDutySink", "event_of"]

DEFAULT_URL = "https://events.pagerduty.com/v2/enqueue"
MAX_SUMMARY = 1024  # PagerDuty's limit on payload.summary
MAX_BODY = 4096  # of the ticket body in custom_details
MAX_ERRORS_SHOWN = 3
# autoticket's four levels onto PagerDuty's four.
SEVERITIES = {"critical": "critical", "high": "error", "warning": "warning", "info": "info"}
DETAIL_FIELDS = ("team", "priority", "severity", "status", "opened_at", "reasons")


def _timeout(value: timedelta) -> timedelta:
    if not timedelta(0) < value <= timedelta(minutes=5):
        raise ValueError("timeout must be more than 0s and at most 5m")
    return value


class PagerDutySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    url: HttpUrl = HttpUrl(DEFAULT_URL)  # e.g. https://events.eu.pagerduty.com/v2/enqueue
    routing_key_env: str = Field(min_length=1, description="env var of the integration key")
    source: str = Field(default="autoticket", min_length=1, max_length=255)
    component: str | None = Field(default=None, max_length=255)
    group: str | None = Field(default=None, max_length=255, description="default: the team")
    event_class: str | None = Field(default=None, alias="class", max_length=255)
    public_url: HttpUrl | None = Field(default=None, description="autoticket's own base URL")
    timeout: Annotated[Duration, AfterValidator(_timeout)] = timedelta(seconds=10)


def event_action(item: OutboxItem) -> str:
    if item.action == "resolve":
        return "resolve"
    if item.action == "update" and item.payload.get("status") == "acknowledged":
        return "acknowledge"
    return "trigger"  # open, reopen, and an update with news


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def incident_link(public_url: HttpUrl | None, incident_id: int) -> str | None:
    """The autoticket page of the incident (HttpUrl admits only http and https)."""
    if public_url is None:
        return None
    return f"{str(public_url).rstrip('/')}/incidents/{incident_id}"


def event_of(settings: PagerDutySettings, routing_key: str, item: OutboxItem) -> dict[str, Any]:
    """The Events API v2 body of one action."""
    action = event_action(item)
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": correlation_key(item),
    }
    if action != "trigger":
        return event
    p = item.payload
    title = str(p.get("title") or f"incident {item.incident_id}")
    details: dict[str, Any] = {f: p.get(f) for f in DETAIL_FIELDS}
    details["incident_id"] = item.incident_id
    details["action"] = item.action
    if isinstance(p.get("body"), str):
        details["body"] = _cut(p["body"], MAX_BODY)
    payload: dict[str, Any] = {
        "summary": _cut(f"[{p.get('priority') or '?'}] {title}", MAX_SUMMARY),
        "source": settings.source,
        "severity": SEVERITIES.get(str(p.get("severity")), "error"),
        "custom_details": details,
    }
    if p.get("at"):
        payload["timestamp"] = p["at"]
    if settings.component:
        payload["component"] = settings.component
    group = settings.group or p.get("team")
    if group:
        payload["group"] = _cut(str(group), 255)
    if settings.event_class:
        payload["class"] = settings.event_class
    event["payload"] = payload
    event["client"] = "autoticket"
    link = incident_link(settings.public_url, item.incident_id)
    if link:
        event["client_url"] = link
        event["links"] = [{"href": link, "text": f"autoticket incident #{item.incident_id}"}]
    return event


def refused_reason(response: httpx.Response, routing_key: str) -> str:
    """A 400's reason, naming PagerDuty's `errors` (never echoing the routing key)."""
    try:
        errors = response.json().get("errors")
    except (ValueError, AttributeError):
        errors = None
    if not isinstance(errors, list) or not errors:
        return "HTTP 400 Bad Request: PagerDuty refused the event"
    shown = [_cut(str(e), 200).replace(routing_key, "***") for e in errors[:MAX_ERRORS_SHOWN]]
    return "HTTP 400 Bad Request: PagerDuty refused the event: " + "; ".join(shown)


class PagerDutySink(Sink):
    type: ClassVar[str] = "pagerduty"
    Settings: ClassVar[type[BaseModel]] = PagerDutySettings

    def webhook_auth(self) -> str:
        return f"{SIGNATURE_HEADER} (v1, the webhook subscription's secret)"

    def authenticate_webhook(self, headers: Mapping[str, str], body: bytes) -> str | None:
        """PagerDuty signs each delivery (v3 webhooks); two `v1=` while a secret rotates."""
        secret = self.webhook_secret
        if not secret:
            return "no webhook secret configured"
        header = {k.lower(): v for k, v in headers.items()}.get(SIGNATURE_HEADER.lower())
        if not header:
            return f"{SIGNATURE_HEADER} is missing"
        if not verify([secret], header, body):
            return f"{SIGNATURE_HEADER}: no v1 signature matches the body"
        return None

    def reopens_remote(self, item: OutboxItem) -> bool:
        """A trigger after a person resolved the alert would page again under the same
        dedup_key: a reopen, and an update with news, wait while their resolve stands."""
        return item.action != "open" and event_action(item) == "trigger"

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[RemoteChange]:
        """A person's acknowledge, resolve or reassign of an alert autoticket raised.

        The remote reference is the dedup key, as the sink records it. What the
        integration did on autoticket's own events (agent not a user) is left out.
        """
        found: list[RemoteChange] = []
        for change in parse_changes(body):
            if not change.human:
                continue
            kind = "closed" if change.kind == "resolved" else change.kind
            detail = ", ".join(change.assignees) if kind == "reassigned" else ""
            found.append(
                RemoteChange(
                    change.correlation_key, kind, change.by or "", iso_time(change.at), detail
                )
            )
        return found

    def probe(self) -> str:
        settings = self.settings
        assert isinstance(settings, PagerDutySettings)
        key = self.secrets[settings.routing_key_env]
        shape = "" if len(key) == 32 else f"; note: it has {len(key)} characters, not 32"
        raise ProbeSkipped(
            "the Events API v2 has no read: only sending an event would check the routing key"
            + shape
        )

    def apply(self, item: OutboxItem) -> SinkResult:
        settings = self.settings
        assert isinstance(settings, PagerDutySettings)
        routing_key = self.secrets[settings.routing_key_env]
        body = json.dumps(event_of(settings, routing_key, item), separators=(",", ":"))
        request = self.client.build_request(
            "POST",
            str(settings.url),
            content=body.encode(),
            headers={"Content-Type": "application/json"},
            timeout=settings.timeout.total_seconds(),
        )
        result, response = send(self.client, request, lambda: datetime.now(UTC))
        if response is not None and response.status_code == 400:
            result.reason = refused_reason(response, routing_key)
        if result.outcome == "ok":
            # The dedup key is the remote reference: PagerDuty's alert is found by it.
            result.external_ref = correlation_key(item)
        return result
