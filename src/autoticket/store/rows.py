"""Conversions between table rows and model objects."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from autoticket.model import Alert, AlertStatus, Incident, IncidentStatus, Severity

__all__ = ["alert_from_row", "alert_to_row", "incident_from_row", "incident_to_row"]


def alert_from_row(row: Any) -> Alert:
    return Alert(
        fingerprint=row.fingerprint,
        status=AlertStatus(row.status),
        severity=Severity(row.severity),
        title=row.title,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        count=row.count,
        flap_count=row.flap_count,
        incident_id=row.incident_id,
        labels=row.labels,
        active_since=row.active_since,
        resolved_since=row.resolved_since,
    )


def alert_to_row(alert: Alert) -> dict[str, Any]:
    return {
        "fingerprint": alert.fingerprint,
        "incident_id": alert.incident_id,
        "status": alert.status.value,
        "severity": int(alert.severity),
        "title": alert.title,
        "labels": alert.labels,
        "first_seen": alert.first_seen,
        "last_seen": alert.last_seen,
        "count": alert.count,
        "flap_count": alert.flap_count,
        "active_since": alert.active_since,
        "resolved_since": alert.resolved_since,
    }


def incident_from_row(row: Any) -> Incident:
    return Incident(
        id=row.id,
        correlation_key=row.correlation_key,
        route=row.route,
        title=row.title,
        team=row.team,
        severity=Severity(row.severity),
        priority=row.priority,
        status=IncidentStatus(row.status),
        opened_at=row.opened_at,
        updated_at=row.updated_at,
        resolved_at=row.resolved_at,
        resolve_due_at=row.resolve_due_at,
        firing=row.firing,
        alert_count=row.alert_count,
        event_count=row.event_count,
        version=row.version,
        group_labels=row.group_labels,
        held=row.held,
        parent_id=row.parent_id,
        toggles=[datetime.fromisoformat(t) for t in row.toggles or ()],
        flapping_since=row.flapping_since,
    )


def incident_to_row(inc: Incident) -> dict[str, Any]:
    """Every mutable column; `open_key` follows the status."""
    return {
        "route": inc.route,
        "title": inc.title,
        "team": inc.team,
        "severity": int(inc.severity),
        "priority": inc.priority,
        "status": inc.status.value,
        "open_key": None if inc.status is IncidentStatus.RESOLVED else inc.correlation_key,
        "updated_at": inc.updated_at,
        "resolved_at": inc.resolved_at,
        "resolve_due_at": inc.resolve_due_at,
        "firing": inc.firing,
        "alert_count": inc.alert_count,
        "event_count": inc.event_count,
        "version": inc.version,
        "held": inc.held,
        "parent_id": inc.parent_id,
        "toggles": [t.isoformat() for t in inc.toggles] or None,
        "flapping_since": inc.flapping_since,
    }
