"""Falco runtime-security alerts (Falco's `http_output` or Falcosidekick's webhook).

Mapping: docs/sources/security.md#falco.
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

__all__ = ["FalcoSource"]

_PRIORITIES = {
    "emergency": Severity.CRITICAL,
    "alert": Severity.CRITICAL,
    "critical": Severity.CRITICAL,
    "error": Severity.HIGH,
    "warning": Severity.WARNING,
    "notice": Severity.INFO,
    "informational": Severity.INFO,
    "info": Severity.INFO,
    "debug": Severity.INFO,
}
# output_fields that become labels (identity); the rest are annotations.
_LABEL_FIELDS = {
    "k8s.ns.name": "namespace",
    "k8s.pod.name": "pod",
    "container.name": "container",
    "container.image.repository": "image",
    "fd.sip": "dest_ip",
    "fd.cip": "src_ip",
    "fd.rip": "dest_ip",
    "fd.lip": "src_ip",
}


class FalcoSource(Source):
    """One Falco alert object per request (or an array of them)."""

    name: ClassVar[str] = "falco"

    def parse(
        self,
        payload: Any,
        headers: Mapping[str, str],
        *,
        delivery_id: str,
        received_at: datetime,
    ) -> list[Event]:
        return [
            to_event(self.name, _finding(item, prefix), index, delivery_id, received_at)
            for index, (prefix, item) in enumerate(finding_items(payload))
        ]


def _finding(obj: dict[str, Any], prefix: str) -> Finding:
    rule = obj.get("rule")
    if type(rule) is not str or not rule:
        reason = (
            "required field is missing"
            if rule is None
            else (f"expected a non-empty string, got {json_type(rule)}")
        )
        raise PayloadError(f"{prefix}rule", reason)
    priority = optional_str(obj, "priority", f"{prefix}priority") or "warning"
    severity = _PRIORITIES.get(priority.lower())
    if severity is None:
        raise PayloadError(
            f"{prefix}priority",
            f"unknown Falco priority {priority[:64]!r}; known: Emergency, Alert, Critical, "
            "Error, Warning, Notice, Informational, Debug",
        )
    finding = Finding(rule, severity, aws_style_time(obj.get("time"), f"{prefix}time"))
    output = optional_str(obj, "output", f"{prefix}output") or ""
    finding.description = output
    if hostname := optional_str(obj, "hostname", f"{prefix}hostname"):
        finding.labels["host"] = hostname
    fields = obj.get("output_fields")
    if fields is not None and type(fields) is not dict:
        raise PayloadError(f"{prefix}output_fields", f"expected an object, got {json_type(fields)}")
    for key, value in (fields or {}).items():
        text = scalar_text(value, f"{prefix}output_fields.{key}")
        if text is None or key == "evt.time":
            continue
        label = _LABEL_FIELDS.get(key)
        if label and text:
            finding.labels.setdefault(label, text)
        else:
            finding.annotations[key] = text[:1000]
    tags = obj.get("tags")
    if tags is not None:
        if type(tags) is not list or any(type(t) is not str for t in tags):
            raise PayloadError(f"{prefix}tags", "expected an array of strings")
        if tags:
            finding.annotations["tags"] = ", ".join(tags)
    for key in ("uuid", "source"):
        if value := optional_str(obj, key, f"{prefix}{key}"):
            finding.meta[key] = value
    finding.meta["priority"] = priority
    return finding
