"""The `slack` sink: one concise message per state change, by incoming webhook.

The webhook URL is the secret (`url_env`). Slack keeps no ticket: the
remote reference is synthetic (`slack:<correlation key>`), nothing is looked
up, and Slack has no idempotency key — a post whose answer was lost (a
timeout after Slack took it) is posted again by the retry. Each message
carries a short marker of its action (the same on every attempt), so such a
duplicate is visible as two messages with one marker.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar

import httpx
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl

from autoticket.config import Duration
from autoticket.sinks.base import OutboxItem, ProbeFailed, Sink, SinkResult
from autoticket.sinks.http import send
from autoticket.sinks.incident_key import action_marker, correlation_key

__all__ = ["SlackSettings", "SlackSink", "escape", "message_of", "worth_posting"]

MAX_TITLE = 300
# Slack answers errors as a short plain-text code; only such a code is quoted.
_ERROR_CODE = re.compile(r"[a-z][a-z_]{1,63}")
# An update is a state change worth a message when one of its reasons says so.
_WORTH = ("priority", "severity", "escalat")
HEADINGS = {
    "open": (":rotating_light:", "Opened"),
    "reopen": (":repeat:", "Reopened"),
    "resolve": (":white_check_mark:", "Resolved"),
    "acknowledged": (":eyes:", "Acknowledged"),
    "update": (":arrow_up:", "Changed"),
}


def _timeout(value: timedelta) -> timedelta:
    if not timedelta(0) < value <= timedelta(minutes=5):
        raise ValueError("timeout must be more than 0s and at most 5m")
    return value


class SlackSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url_env: str = Field(min_length=1, description="env var holding the webhook URL")
    public_url: HttpUrl | None = Field(default=None, description="autoticket's own base URL")
    updates: bool = False  # post plain updates too, not only state changes
    timeout: Annotated[Duration, AfterValidator(_timeout)] = timedelta(seconds=10)


def escape(text: str) -> str:
    """Slack's three control characters, so no `<!channel>` or link can be smuggled in."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _kind(item: OutboxItem) -> str:
    if item.action == "update" and item.payload.get("status") == "acknowledged":
        return "acknowledged"
    return item.action


def worth_posting(item: OutboxItem, settings: SlackSettings) -> bool:
    """Open, resolve, reopen, acknowledged, escalation or priority change; the rest if `updates`."""
    if item.action != "update" or settings.updates or _kind(item) == "acknowledged":
        return True
    reasons = " ".join(str(r) for r in item.payload.get("reasons") or []).lower()
    return any(word in reasons for word in _WORTH)


def incident_link(settings: SlackSettings, incident_id: int) -> str | None:
    if settings.public_url is None:
        return None
    return f"{str(settings.public_url).rstrip('/')}/incidents/{incident_id}"


def message_of(settings: SlackSettings, item: OutboxItem) -> dict[str, Any]:
    """`text` (the notification's fallback) plus Block Kit blocks with mrkdwn."""
    p = item.payload
    emoji, heading = HEADINGS.get(_kind(item), (":information_source:", item.action))
    title = str(p.get("title") or f"incident {item.incident_id}")
    if len(title) > MAX_TITLE:
        title = title[: MAX_TITLE - 1] + "…"
    priority = escape(str(p.get("priority") or "?"))
    link = incident_link(settings, item.incident_id)
    label = escape(title).replace("|", "¦")  # a pipe would end a link's label
    shown = f"<{link}|{label}>" if link else label
    line = f"{emoji} *{heading}* [{priority}] {shown}"
    reasons = [escape(str(r)) for r in (p.get("reasons") or [])][:5]
    if reasons and item.action == "update":
        line += "\n" + ", ".join(reasons)
    marker = action_marker(item)
    facts = [
        f"autoticket #{item.incident_id}",
        f"team {escape(str(p.get('team') or 'none'))}",
        f"severity {escape(str(p.get('severity') or '?'))}",
        f"ref {marker}",
    ]
    text = f"{heading}: [{priority}] {escape(title)} (autoticket #{item.incident_id})"
    block_id = f"{correlation_key(item)}-{marker}"
    return {
        "text": text,
        "blocks": [
            {"type": "section", "block_id": block_id, "text": {"type": "mrkdwn", "text": line}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(facts)}]},
        ],
    }


def _reason(result: SinkResult, response: httpx.Response | None) -> str:
    """The status, plus Slack's error code when the body is one (never anything else)."""
    if response is None or result.outcome == "ok":
        return result.reason
    code = response.text.strip()
    return f"{result.reason}: {code}" if _ERROR_CODE.fullmatch(code) else result.reason


class SlackSink(Sink):
    type: ClassVar[str] = "slack"
    Settings: ClassVar[type[BaseModel]] = SlackSettings

    def probe(self) -> str:
        """Post `{}`: Slack answers 400 `no_text` to a live hook without posting anything,
        and 403/404/410 to a revoked, unknown or archived one."""
        settings = self.settings
        assert isinstance(settings, SlackSettings)
        hook = self.secrets[settings.url_env]
        if not hook.startswith(("https://", "http://")):
            raise ProbeFailed(f"{settings.url_env} is not an http(s) URL")
        try:
            response = self.client.post(
                hook,
                content=b"{}",
                headers={"Content-Type": "application/json"},
                timeout=settings.timeout.total_seconds(),
            )
        except httpx.HTTPError as exc:
            raise ProbeFailed(f"cannot reach the webhook: {type(exc).__name__}") from None
        code = response.text.strip()
        if response.status_code == 400 and code == "no_text":
            return "incoming webhook live (an empty test post was refused, nothing posted)"
        shown = code if _ERROR_CODE.fullmatch(code) else ""
        raise ProbeFailed(f"the webhook answered HTTP {response.status_code} {shown}".rstrip())

    def apply(self, item: OutboxItem) -> SinkResult:
        settings = self.settings
        assert isinstance(settings, SlackSettings)
        ref = f"slack:{correlation_key(item)}"
        url = incident_link(settings, item.incident_id)
        if not worth_posting(item, settings):
            return SinkResult("ok", external_ref=ref, url=url, reason="plain update not posted")
        hook = self.secrets[settings.url_env]
        if not hook.startswith(("https://", "http://")):
            return SinkResult("permanent", reason=f"{settings.url_env} is not an http(s) URL")
        body = json.dumps(message_of(settings, item), separators=(",", ":")).encode()
        request = self.client.build_request(
            "POST",
            hook,
            content=body,
            headers={"Content-Type": "application/json"},
            timeout=settings.timeout.total_seconds(),
        )
        result, response = send(self.client, request, lambda: datetime.now(UTC))
        result.reason = _reason(result, response)
        if result.outcome == "ok":
            result.external_ref, result.url = ref, url
        return result
