"""Prometheus alerts as Prometheus posts them to an Alertmanager (API v2).

`POST /api/v2/alerts` takes a JSON array of postable alerts: `labels`
(required), `annotations`, `startsAt`, `endsAt`, `generatorURL`. There is no
status field: an alert whose `endsAt` is at or before the time autoticket
received it is resolved, otherwise firing (Prometheus sets a firing alert's
`endsAt` a few evaluation intervals ahead and re-sends it every minute).
The delivery's receive time decides, so replay gives the same answer.
Mapped like an Alertmanager webhook alert; fingerprints are the same label
hash, so an alert arriving both ways is one alert (docs/sources/prometheus.md).
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
)

__all__ = ["PrometheusSource"]


class PrometheusSource(Source):
    """Alertmanager API v2 `postableAlerts`, straight from Prometheus."""

    name: ClassVar[str] = "prometheus"
    events_field: ClassVar[str] = ""
    summary: ClassVar[str] = (
        "Prometheus alerting.alertmanagers pointed at autoticket (POST /api/v2/alerts)"
    )

    def parse(
        self,
        payload: Any,
        headers: Mapping[str, str],
        *,
        delivery_id: str,
        received_at: datetime,
    ) -> list[Event]:
        if type(payload) is not list:
            raise PayloadError("body", f"expected a JSON array of alerts, got {json_type(payload)}")
        return [
            self._event(alert, index, delivery_id, received_at)
            for index, alert in enumerate(payload)
        ]

    def _event(self, alert: Any, index: int, delivery_id: str, received_at: datetime) -> Event:
        path = f"[{index}]"
        if type(alert) is not dict:
            raise PayloadError(path, f"expected an alert object, got {json_type(alert)}")
        if "labels" not in alert:
            raise PayloadError(f"{path}.labels", "required field is missing")
        labels = check_str_map(alert["labels"], f"{path}.labels")
        if not labels:
            raise PayloadError(f"{path}.labels", "must not be empty (an alert is its label set)")
        raw = alert.get("annotations")
        annotations = {} if raw is None else check_str_map(raw, f"{path}.annotations")
        starts_at = parse_optional_time(alert.get("startsAt"), f"{path}.startsAt")
        ends_at = parse_optional_time(alert.get("endsAt"), f"{path}.endsAt")
        resolved = ends_at is not None and ends_at <= received_at
        status = AlertStatus.RESOLVED if resolved else AlertStatus.FIRING
        occurred_at = (ends_at if resolved else starts_at) or received_at

        links: dict[str, str] = {}
        if generator := optional_str(alert, "generatorURL", f"{path}.generatorURL"):
            links["generator"] = generator
        if runbook := annotations.get("runbook_url"):
            links["runbook"] = runbook

        return Event(
            id=f"{delivery_id}-{index}",
            source=self.name,
            kind=EventKind.ALERT,
            status=status,
            occurred_at=occurred_at,
            received_at=received_at,
            title=annotations.get("summary") or labels.get("alertname") or "alert",
            severity=Severity.parse(labels.get("severity"), default=Severity.WARNING),
            # The Alertmanager adapter's hash: the same alert via either path is one alert.
            fingerprint=fingerprint_of("alertmanager", labels),
            raw_ref=delivery_id,
            description=annotations.get("description") or annotations.get("message") or "",
            labels=labels,
            annotations=annotations,
            links=links,
            ends_at=ends_at if resolved else None,
        )
