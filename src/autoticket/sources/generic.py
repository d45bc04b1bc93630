"""The generic JSON source: a small documented schema for anything that can POST.

The schema is documented in docs/sources/generic.md; keep the two in step.
Tolerant: whatever a tool posts is kept. Known fields (and their aliases, in
a documented order) fill title, severity, service, fingerprint and the rest;
every other top-level field becomes a label (a short string) or an annotation
(a volatile name, a number, a boolean, a long string, or JSON text for nested
values). Known fields given with a wrong type or value are still refused with
the field named, and so is an event with nothing usable in it. JSON null
means "not given".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

import orjson

from autoticket.errors import PayloadError
from autoticket.model import AlertStatus, Event, EventKind, Severity, fingerprint_of
from autoticket.sources.base import (
    Source,
    check_str_map,
    json_type,
    optional_str,
    parse_optional_time,
)

__all__ = [
    "ALIASES",
    "EVENT_FIELDS",
    "MAX_EVENTS",
    "MAX_LABEL_FIELD",
    "STATUS_WORDS",
    "VOLATILE_FIELDS",
    "GenericSource",
]

MAX_EVENTS = 1000
"""Most events accepted in one request (`{"events": [...]}`)."""

EVENT_FIELDS = frozenset(
    {
        "title",
        "severity",
        "service",
        "environment",
        "status",
        "labels",
        "annotations",
        "description",
        "occurred_at",
        "fingerprint",
        "links",
    }
)
# Other names tools use for a known field, in order of precedence (the known
# name itself always comes first). An alias's value is used when it has the
# right type; it is also kept as a label or annotation like any other field.
ALIASES: dict[str, tuple[str, ...]] = {
    "title": ("summary", "message", "msg", "name", "rule", "alertname", "event", "check"),
    "severity": ("level", "priority", "sev"),
    "service": ("app", "application", "component"),
    "environment": ("env",),
    "description": ("details", "text", "body"),
    "fingerprint": ("dedup_key", "dedupe_key", "incident_key"),
}
# Unknown fields whose values change between copies of the same problem: kept
# as annotations, so they never split one alert into many.
VOLATILE_FIELDS = frozenset(
    {
        "id", "uuid", "event_id", "request_id", "trace_id", "span_id",
        "timestamp", "time", "ts", "@timestamp", "date", "created_at", "updated_at",
        "count", "value", "duration", "message", "msg", "details", "text", "body",
    }
)  # fmt: skip
MAX_LABEL_FIELD = 128
"""Longer string values of unknown fields are annotations, not labels."""


class GenericSource(Source):
    """One event object, or `{"events": [...]}` of up to MAX_EVENTS of them."""

    name: ClassVar[str] = "generic"

    def parse(
        self,
        payload: Any,
        headers: Mapping[str, str],
        *,
        delivery_id: str,
        received_at: datetime,
    ) -> list[Event]:
        payload = self.body_object(payload, 'a JSON object (one event, or {"events": [...]})')
        items = payload.get("events")
        if type(items) is not list:  # one event (an `events` that is no array is a field)
            return [self._event(payload, "", 0, delivery_id, received_at)]
        # The batch's other fields are defaults for every event of it.
        common = {k: v for k, v in payload.items() if k != "events"}
        if len(items) > MAX_EVENTS:
            raise PayloadError(
                "events",
                f"too many events: {len(items)} (at most {MAX_EVENTS} per request); "
                "split the batch",
                status=413,
            )
        return [
            self._event(
                {**common, **item} if common and type(item) is dict else item,
                f"events[{index}].",
                index,
                delivery_id,
                received_at,
            )
            for index, item in enumerate(items)
        ]

    def _event(
        self, obj: Any, prefix: str, index: int, delivery_id: str, received_at: datetime
    ) -> Event:
        if type(obj) is not dict:
            raise PayloadError(prefix[:-1], f"expected an event object, got {json_type(obj)}")

        raw = obj.get("labels")
        labels = {} if raw is None else check_str_map(raw, f"{prefix}labels")
        raw = obj.get("annotations")
        annotations = {} if raw is None else check_str_map(raw, f"{prefix}annotations")
        raw = obj.get("links")
        links = {} if raw is None else check_str_map(raw, f"{prefix}links")
        _keep_unknown(obj, labels, annotations)

        title = _title(obj, labels, prefix)
        severity = _severity(obj, prefix)
        status = _status(obj.get("status"), f"{prefix}status")
        for key in ("service", "environment"):
            value = optional_str(obj, key, f"{prefix}{key}")
            if value is None:
                value = _first_alias(obj, key)
                if value is None or labels.get(key) is not None:
                    continue
            if not value:
                raise PayloadError(f"{prefix}{key}", "must not be empty")
            present = labels.get(key)
            if present is not None and present != value:
                raise PayloadError(
                    f"{prefix}{key}",
                    f"conflicts with labels.{key} ({present[:64]!r}); give one or make them equal",
                )
            labels[key] = value

        occurred_at = (
            parse_optional_time(obj.get("occurred_at"), f"{prefix}occurred_at") or received_at
        )
        # The title stands in for Alertmanager's alertname, so that two different
        # label-less events neither collapse into one alert nor group into one incident.
        labels.setdefault("alertname", title)
        fingerprint = optional_str(obj, "fingerprint", f"{prefix}fingerprint")
        if fingerprint is None:
            fingerprint = _first_alias(obj, "fingerprint")
        if fingerprint is None:
            fingerprint = fingerprint_of(self.name, labels)
        elif not fingerprint:
            raise PayloadError(f"{prefix}fingerprint", "must not be empty")
        else:
            # Scoped by source: a caller's fingerprint can never name (and so
            # resolve) an alert of another source, whose fingerprints are bare hashes.
            fingerprint = f"{self.name}:{fingerprint}"

        return Event(
            id=f"{delivery_id}-{index}",
            source=self.name,
            kind=EventKind.ALERT,
            status=status,
            occurred_at=occurred_at,
            received_at=received_at,
            title=title,
            severity=severity,
            fingerprint=fingerprint,
            raw_ref=delivery_id,
            description=optional_str(obj, "description", f"{prefix}description")
            or _first_alias(obj, "description")
            or "",
            labels=labels,
            annotations=annotations,
            links=links,
            ends_at=occurred_at if status is AlertStatus.RESOLVED else None,
        )


def _first_alias(obj: dict[str, Any], field: str) -> str | None:
    """The first non-empty string among `field`'s aliases."""
    for name in ALIASES[field]:
        value = obj.get(name)
        if type(value) is str and value.strip():
            return value
    return None


def _title(obj: dict[str, Any], labels: dict[str, str], prefix: str) -> str:
    title = obj.get("title")
    if title is not None:
        if type(title) is not str:
            raise PayloadError(f"{prefix}title", f"expected a string, got {json_type(title)}")
        if not title.strip():
            raise PayloadError(f"{prefix}title", "must not be empty")
        return title
    found = _first_alias(obj, "title") or labels.get("alertname")
    if found:
        return found
    # No name at all: the identifying labels stand in (deterministic, readable).
    if labels:
        return ", ".join(f"{k}={labels[k]}" for k in sorted(labels)[:3])
    raise PayloadError(
        f"{prefix}title",
        "required field is missing: nothing usable in the event; give a title (or one of "
        f"{', '.join(ALIASES['title'])}), or labels",
    )


def _keep_unknown(obj: dict[str, Any], labels: dict[str, str], annotations: dict[str, str]) -> None:
    """Every field not in EVENT_FIELDS into labels or annotations (docs/sources/generic.md);
    what `labels` / `annotations` already hold wins."""
    for key, value in obj.items():
        if key in EVENT_FIELDS or value is None or type(key) is not str or not key:
            continue
        if type(value) is str:
            if key in VOLATILE_FIELDS or len(value) > MAX_LABEL_FIELD or key in _TEXT_ALIASES:
                annotations.setdefault(key, value)
            else:
                labels.setdefault(key, value)
        else:
            annotations.setdefault(key, _json_text(value))


def _json_text(value: Any) -> str:
    """Compact JSON with sorted keys; Python's encoder for what orjson refuses
    (integers past 64 bits, which Python's decoder makes)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))


# Aliases of free-text fields: text, never identity.
_TEXT_ALIASES = frozenset(ALIASES["title"][:3]) | frozenset(ALIASES["description"])


def _severity(obj: dict[str, Any], prefix: str) -> Severity:
    value = obj.get("severity")
    if value is None:
        # An alias is a guess: a spelling we do not know falls back to the default.
        for name in ALIASES["severity"]:
            alias = obj.get(name)
            if type(alias) is str:
                try:
                    return Severity.parse(alias)
                except ValueError:
                    continue
        return Severity.WARNING
    path = f"{prefix}severity"
    if type(value) is not str:
        raise PayloadError(path, f"expected a string, got {json_type(value)}")
    try:
        return Severity.parse(value)
    except ValueError as exc:
        reason = str(exc)
        if len(value) > 64:  # keep the message short; the known list is what helps
            reason = f"unknown severity {value[:64]!r}...; known: {reason.rpartition('known: ')[2]}"
        raise PayloadError(path, reason) from None


# Status words tools use, beyond "firing" and "resolved" (case ignored).
STATUS_WORDS: dict[str, AlertStatus] = {
    **dict.fromkeys(
        ("firing", "open", "triggered", "alerting", "active", "problem", "new"),
        AlertStatus.FIRING,
    ),
    **dict.fromkeys(("resolved", "ok", "closed", "recovered", "inactive"), AlertStatus.RESOLVED),
}


def _status(value: Any, path: str) -> AlertStatus:
    if value is None:
        return AlertStatus.FIRING
    if type(value) is not str:
        raise PayloadError(path, f"expected a string, got {json_type(value)}")
    found = STATUS_WORDS.get(value.strip().lower())
    if found is None:
        shown = repr(value[:64])
        words = ", ".join(sorted(STATUS_WORDS))
        raise PayloadError(path, f"unknown status {shown}; expected one of {words}")
    return found
