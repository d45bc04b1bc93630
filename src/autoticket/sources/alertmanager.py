"""Prometheus Alertmanager webhook receiver (webhook_config payload, version "4").

One notification carries one alert group; every alert of the group becomes one
event. Liberal where Alertmanager (and look-alikes such as Grafana) are:
unknown top-level fields, any `version` string, missing annotations, null maps
and unset times are accepted. Strict where the data would be wrong: labels and
annotations must map strings to strings, statuses must be firing/resolved and
timestamps must parse.
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
)

__all__ = ["AlertmanagerSource"]

_FIRING = AlertStatus.FIRING
_WARNING = Severity.WARNING
_ALERT = EventKind.ALERT


class AlertmanagerSource(Source):
    """Alertmanager `webhook_config` notifications."""

    name: ClassVar[str] = "alertmanager"
    events_field: ClassVar[str] = "alerts"

    def parse(
        self,
        payload: Any,
        headers: Mapping[str, str],
        *,
        delivery_id: str,
        received_at: datetime,
    ) -> list[Event]:
        payload = self.body_object(payload)
        if "alerts" not in payload:
            raise PayloadError("alerts", "required field is missing")
        alerts = payload["alerts"]
        if type(alerts) is not list:
            raise PayloadError("alerts", f"expected an array, got {json_type(alerts)}")

        optional_str(payload, "version", "version")
        group_status = payload.get("status")
        if group_status is not None:
            parse_status(group_status, "status")
        for key in ("groupLabels", "commonLabels", "commonAnnotations"):
            if payload.get(key) is not None:
                check_str_map(payload[key], key)

        meta: dict[str, str] = {}
        if group_key := optional_str(payload, "groupKey", "groupKey"):
            meta["group_key"] = group_key
        if receiver := optional_str(payload, "receiver", "receiver"):
            meta["receiver"] = receiver
        external_url = optional_str(payload, "externalURL", "externalURL")
        if external_url:
            meta["external_url"] = external_url
        truncated = payload.get("truncatedAlerts")
        if truncated is not None:
            if type(truncated) is not int or truncated < 0:
                raise PayloadError(
                    "truncatedAlerts", f"expected a non-negative integer, got {truncated!r:.64}"
                )
            meta["truncated_alerts"] = str(truncated)

        return [
            self._event(alert, index, group_status, meta, external_url, delivery_id, received_at)
            for index, alert in enumerate(alerts)
        ]

    def _event(
        self,
        alert: Any,
        index: int,
        group_status: Any,
        group_meta: dict[str, str],
        external_url: str | None,
        delivery_id: str,
        received_at: datetime,
    ) -> Event:
        path = f"alerts[{index}]"
        if type(alert) is not dict:
            raise PayloadError(path, f"expected an object, got {json_type(alert)}")

        # Alertmanager always sets a per-alert status; look-alikes may only set the group's.
        raw_status = alert.get("status", group_status)
        if raw_status is None:
            raise PayloadError(f"{path}.status", "required field is missing")
        status = parse_status(raw_status, f"{path}.status")

        if "labels" not in alert:
            raise PayloadError(f"{path}.labels", "required field is missing")
        labels = check_str_map(alert["labels"], f"{path}.labels")
        raw_annotations = alert.get("annotations")
        annotations = (
            {} if raw_annotations is None else check_str_map(raw_annotations, f"{path}.annotations")
        )

        starts_at = parse_optional_time(alert.get("startsAt"), f"{path}.startsAt")
        ends_at = parse_optional_time(alert.get("endsAt"), f"{path}.endsAt")
        if status is _FIRING:
            occurred_at = starts_at or received_at
        else:
            occurred_at = ends_at or starts_at or received_at

        links: dict[str, str] = {}
        if generator := optional_str(alert, "generatorURL", f"{path}.generatorURL"):
            links["generator"] = generator
        if runbook := annotations.get("runbook_url"):
            links["runbook"] = runbook
        if external_url:
            links["alertmanager"] = external_url

        source_meta = dict(group_meta)
        if am_fingerprint := optional_str(alert, "fingerprint", f"{path}.fingerprint"):
            source_meta["am_fingerprint"] = am_fingerprint

        return Event(
            id=f"{delivery_id}-{index}",
            source=self.name,
            kind=_ALERT,
            status=status,
            occurred_at=occurred_at,
            received_at=received_at,
            title=annotations.get("summary") or labels.get("alertname") or "alert",
            severity=Severity.parse(labels.get("severity"), default=_WARNING),
            fingerprint=fingerprint_of(self.name, labels),
            raw_ref=delivery_id,
            description=annotations.get("description") or annotations.get("message") or "",
            labels=labels,
            annotations=annotations,
            links=links,
            source_meta=source_meta,
            ends_at=ends_at,
        )
