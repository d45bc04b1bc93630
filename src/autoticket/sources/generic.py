"""The generic JSON source: a small documented schema for anything that can POST.

The schema is documented in docs/sources/generic.md; keep the two in step.
Unlike Alertmanager, the sender writes this format by hand, so unknown fields
are rejected (they are almost always typos) and JSON null means "not given".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from autoticket.errors import PayloadError
from autoticket.model import AlertStatus, Event, EventKind, Severity, fingerprint_of
from autoticket.sources.base import (
    Source,
    check_str_map,
    json_type,
    optional_str,
    parse_optional_time,
    parse_status,
    reject_unknown_fields,
)

__all__ = ["EVENT_FIELDS", "MAX_EVENTS", "GenericSource"]

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
_BATCH_FIELDS = frozenset({"events"})


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
        if type(payload) is not dict:
            raise PayloadError(
                "body",
                f'expected a JSON object (one event, or {{"events": [...]}}), '
                f"got {json_type(payload)}",
            )
        if "events" not in payload:
            return [self._event(payload, "", 0, delivery_id, received_at)]

        reject_unknown_fields(payload, _BATCH_FIELDS, "")
        items = payload["events"]
        if type(items) is not list:
            raise PayloadError(
                "events", f"expected an array of event objects, got {json_type(items)}"
            )
        if len(items) > MAX_EVENTS:
            raise PayloadError(
                "events",
                f"too many events: {len(items)} (at most {MAX_EVENTS} per request); "
                "split the batch",
                status=413,
            )
        return [
            self._event(item, f"events[{index}].", index, delivery_id, received_at)
            for index, item in enumerate(items)
        ]

    def _event(
        self, obj: Any, prefix: str, index: int, delivery_id: str, received_at: datetime
    ) -> Event:
        if type(obj) is not dict:
            raise PayloadError(prefix[:-1], f"expected an event object, got {json_type(obj)}")
        reject_unknown_fields(obj, EVENT_FIELDS, prefix)

        title = obj.get("title")
        if title is None:
            raise PayloadError(f"{prefix}title", "required field is missing")
        if type(title) is not str:
            raise PayloadError(f"{prefix}title", f"expected a string, got {json_type(title)}")
        if not title.strip():
            raise PayloadError(f"{prefix}title", "must not be empty")

        severity = _severity(obj.get("severity"), f"{prefix}severity")
        status = _status(obj.get("status"), f"{prefix}status")

        raw = obj.get("labels")
        labels = {} if raw is None else check_str_map(raw, f"{prefix}labels")
        for key in ("service", "environment"):
            value = optional_str(obj, key, f"{prefix}{key}")
            if value is None:
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
        raw = obj.get("annotations")
        annotations = {} if raw is None else check_str_map(raw, f"{prefix}annotations")
        raw = obj.get("links")
        links = {} if raw is None else check_str_map(raw, f"{prefix}links")

        occurred_at = (
            parse_optional_time(obj.get("occurred_at"), f"{prefix}occurred_at") or received_at
        )
        # The title stands in for Alertmanager's alertname, so that two different
        # label-less events neither collapse into one alert nor group into one incident.
        labels.setdefault("alertname", title)
        fingerprint = optional_str(obj, "fingerprint", f"{prefix}fingerprint")
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
            description=optional_str(obj, "description", f"{prefix}description") or "",
            labels=labels,
            annotations=annotations,
            links=links,
            ends_at=occurred_at if status is AlertStatus.RESOLVED else None,
        )


def _severity(value: Any, path: str) -> Severity:
    if value is None:
        return Severity.WARNING
    if type(value) is not str:
        raise PayloadError(path, f"expected a string, got {json_type(value)}")
    try:
        return Severity.parse(value)
    except ValueError as exc:
        reason = str(exc)
        if len(value) > 64:  # keep the message short; the known list is what helps
            reason = f"unknown severity {value[:64]!r}...; known: {reason.rpartition('known: ')[2]}"
        raise PayloadError(path, reason) from None


def _status(value: Any, path: str) -> AlertStatus:
    return AlertStatus.FIRING if value is None else parse_status(value, path)
