"""Datadog webhooks integration: one monitor notification per request.

Datadog fills a payload template with `$VARIABLES`, so every value arrives
as a string (often empty when a variable does not apply). The fields read
are those of docs/sources/datadog.md's template; anything else is ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from autoticket.errors import PayloadError
from autoticket.model import AlertStatus, Event, EventKind, Severity, fingerprint_of
from autoticket.sources.base import Source, json_type, parse_time

__all__ = ["DatadogSource"]

_RESOLVED = frozenset({"recovered"})
_FIRING = frozenset(
    {"triggered", "re-triggered", "warn", "re-warn", "no data", "re-no data", "renotify"}
)
_TYPE_SEVERITY = {
    "error": Severity.HIGH,
    "warning": Severity.WARNING,
    "info": Severity.INFO,
    "success": Severity.INFO,
}
# Monitor priorities; an event's "normal"/"low" priority says nothing about severity.
_PRIORITIES = {
    "p1": Severity.CRITICAL,
    "p2": Severity.HIGH,
    "p3": Severity.WARNING,
    "p4": Severity.INFO,
    "p5": Severity.INFO,
}
# "[Triggered on {host:a}] CPU high" or "[P1] [Recovered] CPU high" -> "CPU high"
_TITLE_PREFIX = re.compile(r"^(\s*\[[^\]]*\])+\s*")
_TEXT_FIELDS = (
    "id", "title", "body", "event_msg", "alert_transition", "alert_type", "alert_status",
    "priority", "alert_priority", "tags", "link", "url", "aggregate", "alert_id",
    "alert_metric", "alert_scope", "hostname", "event_type", "date", "last_updated",
)  # fmt: skip


class DatadogSource(Source):
    """Datadog monitor notifications sent by a webhook."""

    name: ClassVar[str] = "datadog"

    def parse(
        self,
        payload: Any,
        headers: Mapping[str, str],
        *,
        delivery_id: str,
        received_at: datetime,
    ) -> list[Event]:
        payload = self.body_object(payload)
        text = {key: _text(payload, key) for key in _TEXT_FIELDS}
        raw_title = text["title"]
        if not raw_title.strip():
            raise PayloadError("title", "required field is missing or empty ($EVENT_TITLE)")
        transition = text["alert_transition"].strip().lower()
        if transition and transition not in _RESOLVED | _FIRING:
            raise PayloadError(
                "alert_transition",
                f"expected Triggered, Recovered, Warn, No Data, Re-Triggered, Renotify, ..., "
                f"got {text['alert_transition'][:64]!r}",
            )
        alert_type = text["alert_type"].strip().lower()
        resolved = transition in _RESOLVED or (not transition and alert_type == "success")
        status = AlertStatus.RESOLVED if resolved else AlertStatus.FIRING

        tags = _tags(text["tags"])
        title = _TITLE_PREFIX.sub("", raw_title).strip() or raw_title.strip()
        labels = {"alertname": title[:200]}
        for key in ("env", "environment", "service", "team"):
            if value := tags.get(key):
                labels["environment" if key == "env" else key] = value
        identity: dict[str, str] = {}
        if text["alert_id"]:
            identity["monitor_id"] = text["alert_id"]
            if text["aggregate"]:
                identity["group"] = text["aggregate"]
        labels |= identity
        if text["hostname"]:
            labels["host"] = text["hostname"]

        occurred_at = _when(payload, "date") or _when(payload, "last_updated") or received_at
        annotations = {"tags": text["tags"]} if text["tags"] else {}
        for key in ("alert_metric", "alert_scope"):
            if text[key]:
                annotations[key] = text[key]
        links = {"datadog": text["link"] or text["url"]} if text["link"] or text["url"] else {}
        meta = {
            key: text[key]
            for key in ("id", "alert_transition", "alert_status", "event_type", "aggregate")
            if text[key]
        }
        org = payload.get("org")
        if type(org) is dict and type(org.get("name")) is str and org["name"]:
            meta["org"] = org["name"]
        elif org is not None and type(org) is not dict:
            raise PayloadError("org", f"expected an object, got {json_type(org)}")
        return [
            Event(
                id=f"{delivery_id}-0",
                source=self.name,
                kind=EventKind.ALERT,
                status=status,
                occurred_at=occurred_at,
                received_at=received_at,
                title=title,
                severity=_severity(text, transition, alert_type),
                # The monitor (and its group) is the alert; without them the title is.
                fingerprint=fingerprint_of(self.name, identity or {"alertname": title}),
                raw_ref=delivery_id,
                description=text["body"] or text["event_msg"],
                labels=labels,
                annotations=annotations,
                links=links,
                source_meta=meta,
                ends_at=occurred_at if resolved else None,
            )
        ]


def _text(payload: dict[str, Any], key: str) -> str:
    """A template value: a string, a number (an unquoted $ID), or absent/null -> ""."""
    value = payload.get(key)
    if value is None:
        return ""
    if type(value) is str:
        return value
    if type(value) is int:
        return str(value)
    raise PayloadError(key, f"expected a string, got {json_type(value)}")


def _tags(text: str) -> dict[str, str]:
    """`"env:prod,service:checkout,team:payments"` -> a map (valueless tags skipped)."""
    tags: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.strip().partition(":")
        if sep and key and value:
            tags.setdefault(key, value)
    return tags


def _when(payload: dict[str, Any], key: str) -> datetime | None:
    """$DATE is epoch milliseconds (sometimes seconds); RFC 3339 is taken too."""
    value = payload.get(key)
    if value is None or value == "":
        return None
    digits = type(value) is str and value.isascii() and value.isdigit() and len(value) < 20
    if type(value) is str and not digits:
        return parse_time(value, key)
    if digits or (type(value) is int and 0 <= value < 10**19):
        number = int(value)
        try:
            return datetime.fromtimestamp(
                number / 1000 if number > 100_000_000_000 else number, tz=UTC
            )
        except (OverflowError, ValueError, OSError):
            raise PayloadError(key, f"timestamp {str(value)[:20]} is out of range") from None
    raise PayloadError(key, f"expected epoch milliseconds, got {json_type(value)}")


def _severity(text: dict[str, str], transition: str, alert_type: str) -> Severity:
    for key in ("alert_priority", "priority"):
        if text[key].strip().lower() in _PRIORITIES:
            return _PRIORITIES[text[key].strip().lower()]
    if transition in ("warn", "re-warn"):
        return Severity.WARNING
    if transition in ("no data", "re-no data"):
        return Severity.INFO
    return _TYPE_SEVERITY.get(alert_type, Severity.HIGH)
