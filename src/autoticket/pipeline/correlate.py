"""correlate: one alert per fingerprint, one incident per correlation key.

An incident stays open while any of its alerts fire. When the last one
resolves, a resolve timer is set (`resolve_after`); firing again before it
fires cancels it. Firing again within `reopen_within` after resolution
reopens the same incident; later, a new one is opened.

A repeat of an unchanged alert takes the fast path: it bumps last seen and
count and changes nothing a ticket shows.

Times recorded here are the event's `received_at`, not the batch's clock, so
the outcome does not depend on how deliveries were batched.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from autoticket.config import Config, RouteConfig
from autoticket.model import (
    Alert,
    AlertStatus,
    Decision,
    Event,
    Incident,
    IncidentStatus,
)
from autoticket.pipeline.base import Batch, Context, IncidentChange, StageResult

__all__ = ["CorrelateStage", "CorrelationState", "correlation_key"]


class CorrelationState(Protocol):
    """What correlate may do to stored state (see store/correlation_state.py)."""

    def prefetch(self, fingerprints: list[str], keys: list[str]) -> None: ...
    def alert(self, fingerprint: str) -> Alert | None: ...
    def incident(self, incident_id: int) -> Incident: ...
    def open_incident(self, key: str) -> Incident | None: ...
    def reopenable(self, key: str, resolved_since: datetime) -> Incident | None: ...
    def save_alert(self, alert: Alert) -> None: ...
    def save_incident(self, incident: Incident) -> None: ...
    def create_incident(
        self, draft: Incident, context: dict[str, Any]
    ) -> tuple[Incident, bool]: ...
    def reopen(self, incident: Incident, now: datetime) -> tuple[Incident, bool]: ...
    def add_timeline(
        self, incident_id: int, at: datetime, kind: str, message: str, data: dict[str, Any]
    ) -> None: ...


def correlation_key(event: Event, route: RouteConfig) -> tuple[str, dict[str, str]]:
    """Route + environment + the route's group labels, as a readable string."""
    group = {"environment": event.environment}
    for name in route.group_by:
        if name != "environment":
            group[name] = event.labels.get(name, "")
    parts = ",".join(f"{k}={v}" for k, v in sorted(group.items()))
    return f"{route.name}|{parts}", group


class _Changes:
    """Collects incident changes of one batch, one entry per (incident, kind)."""

    def __init__(self) -> None:
        self.items: dict[tuple[int, str], IncidentChange] = {}

    def add(self, incident: Incident, kind: str, event_id: str, **detail: Any) -> None:
        change = self.items.get((incident.id, kind))
        if change is None:
            change = IncidentChange(incident.id, kind, incident.route, [], {})
            self.items[(incident.id, kind)] = change
        change.event_ids.append(event_id)
        change.detail.update(detail)


class CorrelateStage:
    name = "correlate"

    def __init__(self, config: Config) -> None:
        self.config = config
        self.routes = {r.name: r for r in config.routes}

    def run(self, batch: Batch, ctx: Context) -> StageResult:
        state: CorrelationState = ctx.state
        keyed: list[tuple[Event, str, dict[str, str]]] = []
        for event in batch.events:
            key, group = correlation_key(event, self.routes[event.route or ""])
            event.correlation_key = key
            keyed.append((event, key, group))
        state.prefetch([e.fingerprint for e in batch.events], [k for _, k, _ in keyed])
        changes = _Changes()
        touched: set[int] = set()
        for event, key, group in keyed:
            if event.status is AlertStatus.FIRING:
                self._firing(event, key, group, state, ctx, changes, touched)
            else:
                self._resolved(event, state, ctx, changes, touched)
        return StageResult(
            Batch(
                events=batch.events,
                changes=list(changes.items.values()),
                dead_letters=batch.dead_letters,
            )
        )

    # -- firing ------------------------------------------------------------
    def _firing(
        self,
        event: Event,
        key: str,
        group: dict[str, str],
        state: CorrelationState,
        ctx: Context,
        changes: _Changes,
        touched: set[int],
    ) -> None:
        now = event.received_at
        alert = state.alert(event.fingerprint)
        incident = state.open_incident(key)
        if incident is None:
            incident = self._open_or_reopen(event, key, group, state, ctx, changes, touched)
        event.incident_id = incident.id
        incident.event_count += 1
        if alert is None:
            alert = _new_alert(event, incident.id)
            incident.alert_count += 1
            incident.firing += 1
            self._meaningful(incident, now, touched)
            event.decisions.append(
                Decision(
                    "correlate",
                    "new alert joined",
                    event.correlation_key,
                    event.id,
                    {"incident": incident.id},
                )
            )
            if not changes.items.get((incident.id, "opened")):
                changes.add(incident, "alert_added", event.id, title=event.title)
                state.add_timeline(
                    incident.id,
                    now,
                    "alert_added",
                    f"alert {event.title!r} joined",
                    {"event": event.id},
                )
        else:
            was_firing_here = (
                alert.status is AlertStatus.FIRING and alert.incident_id == incident.id
            )
            _bump(alert, event)
            if not was_firing_here:
                if alert.status is AlertStatus.RESOLVED:
                    alert.flap_count += 1
                if alert.incident_id != incident.id:
                    incident.alert_count += 1
                alert.incident_id = incident.id
                alert.status = AlertStatus.FIRING
                incident.firing += 1
                self._meaningful(incident, now, touched)
                if not changes.items.get((incident.id, "opened")) and not changes.items.get(
                    (incident.id, "reopened")
                ):
                    changes.add(incident, "alert_refired", event.id, title=event.title)
                    state.add_timeline(
                        incident.id,
                        now,
                        "alert_refired",
                        f"alert {event.title!r} fires again",
                        {"event": event.id},
                    )
        if incident.resolve_due_at is not None:
            incident.resolve_due_at = None
            state.add_timeline(
                incident.id,
                now,
                "timer_cancelled",
                "resolve timer cancelled: an alert fires again",
                {"event": event.id},
            )
        if event.severity > incident.severity:
            previous = incident.severity
            incident.severity = event.severity
            self._meaningful(incident, now, touched)
            changes.add(
                incident,
                "severity_changed",
                event.id,
                previous=previous.label,
                severity=event.severity.label,
            )
            state.add_timeline(
                incident.id,
                now,
                "severity_changed",
                f"severity {previous.label} -> {event.severity.label}",
                {"event": event.id},
            )
        alert.severity = max(alert.severity, event.severity)
        state.save_alert(alert)
        state.save_incident(incident)

    def _open_or_reopen(
        self,
        event: Event,
        key: str,
        group: dict[str, str],
        state: CorrelationState,
        ctx: Context,
        changes: _Changes,
        touched: set[int],
    ) -> Incident:
        now = event.received_at
        recent = state.reopenable(key, now - self.config.timers.reopen_within)
        if recent is not None:
            incident, won = state.reopen(recent, now)
            if won:
                incident.version += 1
                touched.add(incident.id)
                changes.add(incident, "reopened", event.id)
                state.add_timeline(
                    incident.id,
                    now,
                    "reopened",
                    f"reopened: fired again within {self.config.timers.reopen_within}",
                    {"event": event.id},
                )
                event.decisions.append(
                    Decision("correlate", "reopened", key, event.id, {"incident": incident.id})
                )
            return incident
        draft = Incident(
            id=0,
            correlation_key=key,
            route=event.route or "",
            title=event.title,
            team=event.team,
            severity=event.severity,
            priority="",
            status=IncidentStatus.OPEN,
            opened_at=now,
            updated_at=now,
            group_labels=group,
        )
        context = {
            "service": event.service,
            "tier": event.tier,
            "runbook": event.runbook,
            "first_event": event.id,
            "first_received_at": event.received_at.isoformat(),
        }
        incident, created = state.create_incident(draft, context)
        if created:
            touched.add(incident.id)
            changes.add(incident, "opened", event.id)
            state.add_timeline(
                incident.id,
                now,
                "opened",
                f"opened by {event.title!r} on key {key}",
                {"event": event.id},
            )
            event.decisions.append(
                Decision("correlate", "opened", key, event.id, {"incident": incident.id})
            )
        else:
            event.decisions.append(
                Decision(
                    "correlate", "joined (lost race)", key, event.id, {"incident": incident.id}
                )
            )
        return incident

    # -- resolved ----------------------------------------------------------
    def _resolved(
        self,
        event: Event,
        state: CorrelationState,
        ctx: Context,
        changes: _Changes,
        touched: set[int],
    ) -> None:
        now = event.received_at
        alert = state.alert(event.fingerprint)
        if alert is None:
            alert = _new_alert(event, None)
            state.save_alert(alert)
            event.decisions.append(
                Decision("correlate", "resolved without incident", event.correlation_key, event.id)
            )
            return
        was_firing = alert.status is AlertStatus.FIRING
        _bump(alert, event)
        alert.status = AlertStatus.RESOLVED
        state.save_alert(alert)
        if alert.incident_id is None:
            return
        incident = state.incident(alert.incident_id)
        event.incident_id = incident.id
        incident.event_count += 1
        if was_firing and incident.status is not IncidentStatus.RESOLVED:
            incident.firing = max(0, incident.firing - 1)
            self._meaningful(incident, now, touched)
            changes.add(incident, "alert_resolved", event.id, title=event.title)
            state.add_timeline(
                incident.id,
                now,
                "alert_resolved",
                f"alert {event.title!r} resolved",
                {"event": event.id},
            )
            if incident.firing == 0:
                due = now + self.config.timers.resolve_after
                incident.resolve_due_at = due
                state.add_timeline(
                    incident.id,
                    now,
                    "timer_set",
                    f"all alerts resolved; auto-resolve at {due.isoformat()}",
                    {"timer": "resolve_after", "due": due.isoformat()},
                )
        state.save_incident(incident)

    @staticmethod
    def _meaningful(incident: Incident, now: datetime, touched: set[int]) -> None:
        """Bump the version once per batch per incident: it keys the ticket update."""
        incident.updated_at = now
        if incident.id not in touched:
            touched.add(incident.id)
            incident.version += 1


def _new_alert(event: Event, incident_id: int | None) -> Alert:
    return Alert(
        fingerprint=event.fingerprint,
        status=event.status,
        severity=event.severity,
        title=event.title,
        first_seen=event.received_at,
        last_seen=event.received_at,
        incident_id=incident_id,
        labels=event.labels,
    )


def _bump(alert: Alert, event: Event) -> None:
    alert.count += 1
    if event.received_at > alert.last_seen:
        alert.last_seen = event.received_at
