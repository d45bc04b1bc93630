"""Wazuh alerts (the manager's alert JSON, as an integration script or
a forwarder posts it). Mapping: docs/sources/security.md#wazuh.
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

__all__ = ["WazuhSource"]

# data.* fields that identify the finding (labels); the rest are annotations.
_LABEL_DATA = {"srcip": "src_ip", "dstip": "dest_ip", "srcuser": "src_user", "dstuser": "dest_user"}


def _severity(level: int) -> Severity:
    """Wazuh rule levels 0-15: 12+ are high-importance events, 7+ "bad word" matches."""
    if level >= 12:
        return Severity.CRITICAL
    if level >= 8:
        return Severity.HIGH
    if level >= 4:
        return Severity.WARNING
    return Severity.INFO


class WazuhSource(Source):
    """One Wazuh alert per request (or an array of them)."""

    name: ClassVar[str] = "wazuh"

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


def _object(obj: dict[str, Any], key: str, path: str, required: bool = False) -> dict[str, Any]:
    value = obj.get(key)
    if value is None and not required:
        return {}
    if type(value) is not dict:
        reason = (
            "required field is missing"
            if value is None
            else (f"expected an object, got {json_type(value)}")
        )
        raise PayloadError(path, reason)
    return value


def _finding(obj: dict[str, Any], prefix: str) -> Finding:
    rule = _object(obj, "rule", f"{prefix}rule", required=True)
    description = rule.get("description")
    if type(description) is not str or not description:
        raise PayloadError(f"{prefix}rule.description", "expected a non-empty string")
    level = rule.get("level")
    if type(level) is not int or not 0 <= level <= 15:
        raise PayloadError(f"{prefix}rule.level", f"expected an integer 0-15, got {level!r:.64}")
    finding = Finding(
        description, _severity(level), aws_style_time(obj.get("timestamp"), f"{prefix}timestamp")
    )
    if rule_id := scalar_text(rule.get("id"), f"{prefix}rule.id"):
        finding.labels["rule_id"] = rule_id
    agent = _object(obj, "agent", f"{prefix}agent")
    if name := optional_str(agent, "name", f"{prefix}agent.name"):
        finding.labels["host"] = name
    if ip := optional_str(agent, "ip", f"{prefix}agent.ip"):
        finding.annotations["agent_ip"] = ip
    data = _object(obj, "data", f"{prefix}data")
    for key, value in data.items():
        if type(value) in (dict, list):
            continue  # nested decoder output: kept in the raw payload
        text = scalar_text(value, f"{prefix}data.{key}")
        if text is None:
            continue
        if label := _LABEL_DATA.get(key):
            finding.labels[label] = text
        else:
            finding.annotations[f"data.{key}"] = text[:1000]
    groups = rule.get("groups")
    if groups is not None:
        if type(groups) is not list or any(type(g) is not str for g in groups):
            raise PayloadError(f"{prefix}rule.groups", "expected an array of strings")
        finding.annotations["groups"] = ", ".join(groups)
    if full_log := optional_str(obj, "full_log", f"{prefix}full_log"):
        finding.description = full_log[:4000]
    finding.meta["level"] = str(level)
    for key in ("id", "location"):
        if value := optional_str(obj, key, f"{prefix}{key}"):
            finding.meta["alert_id" if key == "id" else key] = value
    return finding
