"""Suricata EVE JSON alerts (`event_type: "alert"`), one record or an array.

Other EVE records (flow, dns, http, stats, ...) produce no event.
Mapping: docs/sources/security.md#suricata.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from autoticket.errors import PayloadError
from autoticket.model import Event, Severity
from autoticket.sources.base import Source, json_type, optional_str
from autoticket.sources.security import (
    Finding,
    aws_style_time,
    finding_items,
    scalar_text,
    to_event,
)

__all__ = ["SuricataSource"]

# Suricata's classification priority: 1 is the most severe.
_SEVERITIES = {1: Severity.CRITICAL, 2: Severity.HIGH, 3: Severity.WARNING}


class SuricataSource(Source):
    """EVE JSON records; alerts become security events."""

    name: ClassVar[str] = "suricata"

    def parse(
        self,
        payload: Any,
        headers: Mapping[str, str],
        *,
        delivery_id: str,
        received_at: datetime,
    ) -> list[Event]:
        findings = []
        for prefix, item in finding_items(payload):
            event_type = optional_str(item, "event_type", f"{prefix}event_type")
            if event_type is None:
                raise PayloadError(f"{prefix}event_type", "required field is missing")
            if event_type == "alert":
                findings.append(_finding(item, prefix))
        return [
            to_event(self.name, finding, index, delivery_id, received_at)
            for index, finding in enumerate(findings)
        ]


def _finding(obj: dict[str, Any], prefix: str) -> Finding:
    alert = obj.get("alert")
    if type(alert) is not dict:
        reason = (
            "required field is missing"
            if alert is None
            else (f"expected an object, got {json_type(alert)}")
        )
        raise PayloadError(f"{prefix}alert", reason)
    signature = alert.get("signature")
    if type(signature) is not str or not signature:
        raise PayloadError(f"{prefix}alert.signature", "expected a non-empty string")
    level = alert.get("severity")
    if level is not None and (type(level) is not int or level < 1):
        raise PayloadError(
            f"{prefix}alert.severity", f"expected an integer >= 1, got {level!r:.64}"
        )
    severity = _SEVERITIES.get(level or 3, Severity.INFO)
    finding = Finding(
        signature, severity, aws_style_time(obj.get("timestamp"), f"{prefix}timestamp")
    )
    for key, label in (("src_ip", "src_ip"), ("dest_ip", "dest_ip"), ("host", "host")):
        if value := optional_str(obj, key, f"{prefix}{key}"):
            finding.labels[label] = value
    if sid := scalar_text(alert.get("signature_id"), f"{prefix}alert.signature_id"):
        finding.labels["signature_id"] = sid
    for key in ("src_port", "dest_port", "proto", "in_iface", "app_proto"):
        if (text := scalar_text(obj.get(key), f"{prefix}{key}")) is not None:
            finding.annotations[key] = text
    for key in ("category", "action"):
        if value := optional_str(alert, key, f"{prefix}alert.{key}"):
            finding.annotations[key] = value
    if category := finding.annotations.get("category"):
        finding.description = category
    if (flow := scalar_text(obj.get("flow_id"), f"{prefix}flow_id")) is not None:
        finding.meta["flow_id"] = flow
    finding.meta["severity"] = str(level or 3)
    return finding
