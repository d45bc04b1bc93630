"""CloudEvents 1.0 over HTTP: structured mode (`application/cloudevents+json`),
batched mode (`application/cloudevents-batch+json`) and binary mode (the
attributes in `ce-*` headers, the body is `data`).

Mapping: docs/sources/cloudevents.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from autoticket.errors import PayloadError
from autoticket.model import AlertStatus, Event, EventKind, Severity, fingerprint_of
from autoticket.sources.base import Source, json_type, parse_optional_time, parse_status

__all__ = ["MAX_CLOUDEVENTS", "CloudEventsSource"]

MAX_CLOUDEVENTS = 1000
_REQUIRED = ("id", "source", "specversion", "type")
_TEXT_DATA = ("title", "summary", "message", "description")


class CloudEventsSource(Source):
    """CloudEvents 1.0 in any of the HTTP binding's three modes."""

    name: ClassVar[str] = "cloudevents"

    def parse(
        self,
        payload: Any,
        headers: Mapping[str, str],
        *,
        delivery_id: str,
        received_at: datetime,
    ) -> list[Event]:
        lowered = {k.lower(): v for k, v in headers.items()}
        if "ce-specversion" in lowered:
            attributes: dict[str, Any] = {
                k[3:]: v for k, v in lowered.items() if k.startswith("ce-")
            }
            attributes["data"] = payload
            return [self._event(attributes, "ce-", 0, delivery_id, received_at)]
        items = self.body_objects(
            payload,
            "a CloudEvent object (structured mode), an array (batch) or ce-* headers (binary mode)",
            max_items=MAX_CLOUDEVENTS,
        )
        return [
            self._event(item, prefix, index, delivery_id, received_at)
            for index, (prefix, item) in enumerate(items)
        ]

    def _event(
        self, obj: Any, prefix: str, index: int, delivery_id: str, received_at: datetime
    ) -> Event:
        if type(obj) is not dict:
            raise PayloadError(prefix[:-1] or "body", f"expected an object, got {json_type(obj)}")
        attrs: dict[str, str] = {}
        for key in _REQUIRED:
            value = obj.get(key)
            if value is None:
                raise PayloadError(f"{prefix}{key}", "required CloudEvents attribute is missing")
            if type(value) is not str or not value:
                raise PayloadError(
                    f"{prefix}{key}", f"expected a non-empty string, got {json_type(value)}"
                )
            attrs[key] = value
        if attrs["specversion"] != "1.0":
            raise PayloadError(
                f"{prefix}specversion", f"expected '1.0', got {attrs['specversion'][:16]!r}"
            )
        subject = _optional_text(obj, "subject", prefix)
        when = parse_optional_time(obj.get("time"), f"{prefix}time")
        data = obj.get("data")
        fields = data if type(data) is dict else {}
        dpath = "data." if not prefix.startswith("ce-") else ""
        dprefix = "" if prefix.startswith("ce-") else prefix

        texts = {}
        for key in _TEXT_DATA:
            value = fields.get(key)
            if value is not None and type(value) is not str:
                raise PayloadError(
                    f"{dprefix}{dpath}{key}", f"expected a string, got {json_type(value)}"
                )
            texts[key] = value or ""
        raw_severity = fields.get("severity", obj.get("severity"))
        if raw_severity is not None and type(raw_severity) is not str:
            raise PayloadError(
                f"{dprefix}{dpath}severity", f"expected a string, got {json_type(raw_severity)}"
            )
        raw_status = fields.get("status", obj.get("status"))
        status = (
            AlertStatus.FIRING
            if raw_status is None
            else parse_status(raw_status, f"{dprefix}{dpath}status")
        )
        labels = {"alertname": attrs["type"], "ce_source": attrs["source"]}
        if subject:
            labels["subject"] = subject
        for key in ("service", "environment", "team"):
            value = fields.get(key)
            if type(value) is str and value:
                labels[key] = value
        title = texts["title"] or texts["summary"] or subject or attrs["type"]
        occurred_at = when or received_at
        meta = {"ce_id": attrs["id"]}
        for key in ("datacontenttype", "dataschema"):
            if value := _optional_text(obj, key, prefix):
                meta[key] = value
        return Event(
            id=f"{delivery_id}-{index}",
            source=self.name,
            kind=EventKind.ALERT,
            status=status,
            occurred_at=occurred_at,
            received_at=received_at,
            title=title,
            severity=Severity.parse(raw_severity, default=Severity.WARNING),
            fingerprint=fingerprint_of(self.name, labels),
            raw_ref=delivery_id,
            description=texts["description"] or texts["message"],
            labels=labels,
            source_meta=meta,
            ends_at=occurred_at if status is AlertStatus.RESOLVED else None,
        )


def _optional_text(obj: dict[str, Any], key: str, prefix: str) -> str | None:
    value = obj.get(key)
    if value is None or (type(value) is str):
        return value
    raise PayloadError(f"{prefix}{key}", f"expected a string, got {json_type(value)}")
