"""What the security-finding adapters (falco, wazuh, suricata) share.

A finding becomes a firing event of kind `security` whose `alertname` is the
rule; the host and the source/destination addresses are labels (so a rule
firing for another attacker or another host is another alert), and
everything noisy (ports, command lines, full log lines) is an annotation.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from autoticket.errors import PayloadError
from autoticket.model import AlertStatus, Event, EventKind, Severity, fingerprint_of
from autoticket.sources.base import Source, json_type, parse_time

__all__ = ["MAX_FINDINGS", "Finding", "aws_style_time", "finding_items", "scalar_text", "to_event"]

MAX_FINDINGS = 1000


class Finding:
    """The parts of one finding, filled by an adapter."""

    def __init__(self, rule: str, severity: Severity, occurred_at: datetime | None) -> None:
        self.rule = rule
        self.severity = severity
        self.occurred_at = occurred_at
        self.title = rule
        self.description = ""
        self.labels: dict[str, str] = {}
        self.annotations: dict[str, str] = {}
        self.meta: dict[str, str] = {}


def finding_items(payload: Any) -> list[tuple[str, dict[str, Any]]]:
    """One finding object, or an array of them: (path prefix, item) pairs."""
    return Source.body_objects(
        payload, "an object (or an array)", max_items=MAX_FINDINGS, noun="findings"
    )


def to_event(
    source: str, finding: Finding, index: int, delivery_id: str, received_at: datetime
) -> Event:
    labels = {"alertname": finding.rule[:200], **finding.labels}
    return Event(
        id=f"{delivery_id}-{index}",
        source=source,
        kind=EventKind.SECURITY,
        status=AlertStatus.FIRING,
        occurred_at=finding.occurred_at or received_at,
        received_at=received_at,
        title=finding.title,
        severity=finding.severity,
        fingerprint=fingerprint_of(source, labels),
        raw_ref=delivery_id,
        description=finding.description,
        labels=labels,
        annotations=finding.annotations,
        source_meta=finding.meta,
    )


def aws_style_time(value: Any, path: str) -> datetime | None:
    """RFC 3339, or the `+0000` offset without a colon that Wazuh and Suricata write."""
    if value is None or value == "":
        return None
    if type(value) is str and len(value) > 5 and value[-5] in "+-" and value[-4:].isdigit():
        value = f"{value[:-2]}:{value[-2:]}"
    return parse_time(value, path)


def scalar_text(value: Any, path: str) -> str | None:
    """A string or a number as text (ids, ports, levels); None if absent."""
    if value is None:
        return None
    if type(value) is str:
        return value
    if type(value) in (int, float):
        return str(value)
    raise PayloadError(path, f"expected a string or a number, got {json_type(value)}")
