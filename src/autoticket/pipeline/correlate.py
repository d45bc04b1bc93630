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

import hashlib
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from autoticket.config import DEFAULT_GROUP_LABELS, FALLBACK_GROUP_LABELS, Config, RouteConfig
from autoticket.model import (
    Alert,
    AlertStatus,
    Decision,
    Event,
    Incident,
    IncidentChange,
    IncidentStatus,
    Severity,
)
from autoticket.pipeline.base import Batch, Context, CorrelationState, StageResult
from autoticket.pipeline.storm import RELATED_HOLD, STORM_HOLD, storm_for
from autoticket.pipeline.ticket_cap import overflow_for
from autoticket.policy.inhibit import CompiledInhibitRule, compile_inhibit_rules
from autoticket.policy.topology import paused, upstream_incident

__all__ = ["MAX_KEY", "CorrelateStage", "correlation_key"]

MAX_KEY = 512  # the width of incidents.correlation_key


def group_labels(event: Event, route: RouteConfig) -> tuple[str, ...]:
    """The labels that key `event`'s incident: the route's `group_by`, or by default
    (none written) its service and cluster when it names a service: cross-alert
    correlation, different alertnames of one service are one incident. An alert
    without a `service` label, or of severity info (context, not a symptom to merge),
    keeps one incident per alertname."""
    if route.group_by is not None:
        return tuple(route.group_by)
    if event.labels.get("service") and event.severity > Severity.INFO:
        return DEFAULT_GROUP_LABELS
    return FALLBACK_GROUP_LABELS


def correlation_key(event: Event, route: RouteConfig) -> tuple[str, dict[str, str]]:
    """Route + environment + the route's group labels, as a readable string."""
    group = {"environment": event.environment}
    for name in group_labels(event, route):
        if name != "environment":
            group[name] = event.labels.get(name, "")
    parts = ",".join(f"{k}={v}" for k, v in sorted(group.items()))
    key = f"{route.name}|{parts}"
    if len(key) > MAX_KEY:  # keep it readable and unique, and within its column
        key = _shortened(key)
    return key, group


def _key(route: str, group: dict[str, str]) -> str:
    """The key of `group` on `route`, as correlation_key writes it."""
    parts = ",".join(f"{k}={v}" for k, v in sorted(group.items()))
    key = f"{route}|{parts}"
    return _shortened(key) if len(key) > MAX_KEY else key


def _shortened(key: str) -> str:
    return f"{key[: MAX_KEY - 40]}…#{hashlib.sha256(key.encode()).hexdigest()[:32]}"


class _Work:
    """One batch's bookkeeping: changes per (incident, kind) and version bumps.

    A change also writes a timeline entry; the version of an incident is
    bumped once per batch, since it keys the ticket action of that batch.
    """

    def __init__(self, state: CorrelationState) -> None:
        self.state = state
        self.changes: dict[tuple[int, str], IncidentChange] = {}
        self.touched: set[int] = set()
        self.merged: dict[str, int] = {}

    def merge(self, mechanism: str) -> None:
        self.merged[mechanism] = self.merged.get(mechanism, 0) + 1

    def has(self, incident: Incident, *kinds: str) -> bool:
        return any((incident.id, kind) in self.changes for kind in kinds)

    def change(
        self, incident: Incident, kind: str, event: Event, message: str, **detail: Any
    ) -> None:
        found = self.changes.get((incident.id, kind))
        if found is None:
            found = IncidentChange(incident.id, kind, incident.route, [], {})
            self.changes[(incident.id, kind)] = found
        found.event_ids.append(event.id)
        found.detail.update(detail)
        self.note(incident, event.received_at, kind, message, {"event": event.id})

    def note(
        self, incident: Incident, at: datetime, kind: str, message: str, data: dict[str, Any]
    ) -> None:
        self.state.add_timeline(incident.id, at, kind, message, data)

    def bump(self, incident: Incident, now: datetime) -> None:
        incident.updated_at = now
        if incident.id not in self.touched:
            self.touched.add(incident.id)
            incident.version += 1


def _cross_alert(group: dict[str, str]) -> bool:
    """Keyed by service, not alertname: any alertname of the service joins."""
    return "service" in group and "alertname" not in group


def _decide(
    event: Event, outcome: str, incident: Incident | None, group: dict[str, str] | None = None
) -> None:
    inputs: dict[str, Any] = {"incident": incident.id} if incident is not None else {}
    if group is not None:
        inputs["grouped_by"] = sorted(group)
        if _cross_alert(group):
            # Cross-alert correlation: any alertname of this service joins the incident.
            inputs["mechanism"] = "cross-alert"
    event.decisions.append(Decision("correlate", outcome, event.correlation_key, event.id, inputs))


class CorrelateStage:
    name = "correlate"

    def __init__(self, config: Config) -> None:
        self.config = config
        self.routes = {r.name: r for r in config.all_routes}
        self.inhibit: tuple[CompiledInhibitRule, ...] = compile_inhibit_rules(config.inhibit_rules)

    def run(self, batch: Batch, ctx: Context) -> StageResult:
        state = ctx.stored()
        groups: list[dict[str, str]] = []
        for event in batch.events:
            key, group = correlation_key(event, self.routes[event.route or ""])
            event.correlation_key = key
            groups.append(group)
        state.prefetch(
            [e.fingerprint for e in batch.events],
            [e.correlation_key or "" for e in batch.events],
        )
        work = _Work(state)
        for event, group in zip(batch.events, groups, strict=True):
            if event.status is AlertStatus.FIRING:
                self._firing(event, group, work)
            else:
                self._resolved(event, work)
            if self.inhibit:
                self._track_inhibit_source(event, state)
        return StageResult(replace(batch, changes=list(work.changes.values()), merged=work.merged))

    # -- firing ------------------------------------------------------------
    def _firing(self, event: Event, group: dict[str, str], work: _Work) -> None:
        state, now = work.state, event.received_at
        alert = state.alert(event.fingerprint)
        if alert is not None and _is_stale(alert, event):
            state.save_alert(alert)
            work.merge("duplicate")
            return
        group = self._late_alertname(event, alert, group, work)
        incident = state.open_incident(event.correlation_key or "")
        if incident is None:
            incident = self._open_or_reopen(event, group, work)
        event.incident_id = incident.id
        incident.event_count += 1
        if alert is None:
            alert = _new_alert(event, incident.id)
            alert.active_since = event.occurred_at
            incident.alert_count += 1
            incident.firing += 1
            work.bump(incident, now)
            _decide(event, "new alert joined", incident, group)
            if not work.has(incident, "opened"):
                work.merge("cross-alert" if _cross_alert(group) else "alert")
                work.change(
                    incident,
                    "alert_added",
                    event,
                    f"alert {event.title!r} joined",
                    title=event.title,
                )
        else:
            was_firing_here = (
                alert.status is AlertStatus.FIRING and alert.incident_id == incident.id
            )
            _bump(alert, event)
            if not was_firing_here:
                self._leave_previous(alert, incident, event, work)
                self._refire(alert, incident, event, work)
            else:
                work.merge("duplicate")  # a repeat: Alertmanager's resend, an HA copy
                if alert.active_since is None or event.occurred_at > alert.active_since:
                    # A newer episode while we still saw it firing (its resolve was lost
                    # or is late): late resolves of the older episode are now stale.
                    alert.active_since = event.occurred_at
        if incident.resolve_due_at is not None:
            incident.resolve_due_at = None
            work.note(
                incident,
                now,
                "timer_cancelled",
                "resolve timer cancelled: an alert fires again",
                {"event": event.id},
            )
        if event.severity > incident.severity:
            previous = incident.severity
            incident.severity = event.severity
            work.bump(incident, now)
            work.change(
                incident,
                "severity_changed",
                event,
                f"severity {previous.label} -> {event.severity.label}",
                previous=previous.label,
                severity=event.severity.label,
            )
        alert.severity = max(alert.severity, event.severity)
        state.save_alert(alert)
        state.save_incident(incident)

    def _late_alertname(
        self, event: Event, alert: Alert | None, group: dict[str, str], work: _Work
    ) -> dict[str, str]:
        """Cross-alert correlation within its window: another alertname joins a
        service's open incident within the route's `cross_alert_window` after it
        opened, or later when it is worse than the incident (the fault grows). A
        later alertname, no worse, that the incident does not have is keyed by its
        name too (its own incident: another fault, or noise), and stays there.
        Returns the group labels that key the event; sets its key when they change."""
        route = self.routes[event.route or ""]
        window, name = route.cross_alert_window, event.labels.get("alertname")
        if window is None or not name or not _cross_alert(group):
            return group
        state, key = work.state, event.correlation_key or ""
        main = state.open_incident(key)
        # Keys are built only when a split is possible: not for a repeat or a refire
        # in its key's open incident, nor for the first alert of a key.
        joined = alert.incident_id if alert is not None else None
        if joined is not None and (main is None or joined != main.id):
            known = state.incident(joined)
            if known.status is IncidentStatus.OPEN and known.correlation_key != key:
                split = {**group, "alertname": name}
                if known.correlation_key == _key(route.name, split):
                    event.correlation_key = known.correlation_key
                    return split  # it started late: it stays on its own
        if main is None or joined == main.id:
            return group
        late = event.received_at - main.opened_at
        if main.firing > 0 and late <= window:
            return group  # they fire together, in time
        others = state.alert_labels(main.id)  # read once: names and subjects
        if any(labels.get("alertname") == name for labels in others):
            return group
        reason = _apart(event, main, late, window, others)
        if reason is None:
            return group
        split = {**group, "alertname": name}
        split_key = _key(route.name, split)
        state.prefetch([], [split_key])
        event.correlation_key = split_key
        event.decisions.append(
            Decision(
                "correlate",
                "another alertname: its own incident",
                key,
                event.id,
                {
                    "incident": main.id,
                    "mechanism": "cross-alert window",
                    "reason": reason,
                    "alertname": name,
                    "after": str(late),
                    "window": str(window),
                },
            )
        )
        return split

    def _leave_previous(self, alert: Alert, incident: Incident, event: Event, work: _Work) -> None:
        """A firing alert now correlates elsewhere (e.g. after a routing change)."""
        if alert.status is not AlertStatus.FIRING or alert.incident_id in (None, incident.id):
            return
        previous = work.state.incident(alert.incident_id)
        if previous.status is not IncidentStatus.RESOLVED:
            self._stop_firing(
                previous,
                event,
                work,
                "alert_moved",
                f"alert {event.title!r} now correlates to incident {incident.id}",
            )

    def _refire(self, alert: Alert, incident: Incident, event: Event, work: _Work) -> None:
        """A known alert fires again, or fires into another (newer) incident."""
        if alert.status is AlertStatus.RESOLVED:
            alert.flap_count += 1
            self._toggle(incident, event, work)
        if alert.incident_id != incident.id:
            incident.alert_count += 1
        alert.incident_id = incident.id
        alert.status = AlertStatus.FIRING
        alert.active_since = event.occurred_at
        alert.resolved_since = None
        incident.firing += 1
        work.bump(incident, event.received_at)
        if not work.has(incident, "opened", "reopened"):
            work.change(
                incident,
                "alert_refired",
                event,
                f"alert {event.title!r} fires again",
                title=event.title,
            )

    def _toggle(self, incident: Incident, event: Event, work: _Work) -> None:
        """An alert of `incident` fires again after it resolved: count it; at the
        configured count within the window, the incident is flapping."""
        flap = self.config.correlation.flapping
        now = event.received_at
        recent = [t for t in incident.toggles if t > now - flap.window]
        recent.append(now)
        incident.toggles = recent[-flap.toggles :]  # also read by a pause (lifecycle/pause.py)
        if not flap.enabled or len(recent) < flap.toggles or incident.flapping_since is not None:
            return  # not yet, or already flapping (until it resolves, stable)
        incident.flapping_since = now
        message = (
            f"flapping: its alerts fired again {len(recent)} times within {flap.window}; "
            f"it resolves only after {flap.stable_for} without a firing alert"
        )
        work.bump(incident, now)
        work.change(incident, "flapping", event, message, toggles=len(recent))
        event.decisions.append(
            Decision(
                "correlate",
                "flapping",
                event.correlation_key,
                event.id,
                {
                    "incident": incident.id,
                    "mechanism": "flapping",
                    "toggles": len(recent),
                    "window": str(flap.window),
                    "stable_for": str(flap.stable_for),
                },
            )
        )

    def _open_or_reopen(self, event: Event, group: dict[str, str], work: _Work) -> Incident:
        state, now, key = work.state, event.received_at, event.correlation_key or ""
        within = self.config.timers.reopen_within
        recent = state.reopenable(key, now - within)
        if recent is not None and self._another_fault(event, group, recent, state):
            recent = None
        if recent is not None:
            incident, won = state.reopen(recent, now)
            if won:
                incident.version += 1
                work.touched.add(incident.id)
                if _left_storm(incident, state):
                    work.change(incident, "opened", event, "fired again after its storm ended")
                else:
                    work.change(
                        incident, "reopened", event, f"reopened: fired again within {within}"
                    )
            _decide(event, "reopened" if won else "joined (lost race)", incident, group)
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
            work.touched.add(incident.id)
            work.change(incident, "opened", event, f"opened by {event.title!r} on key {key}")
        _decide(event, "opened" if created else "joined (lost race)", incident, group)
        attached = created and (
            self._inhibited(incident, event, work) or self._related(incident, event, work)
        )
        if created and not attached:
            self._storm(incident, event, work)
            if incident.parent_id is None:
                self._ticket_cap(incident, event, work)
        return incident

    def _another_fault(
        self, event: Event, group: dict[str, str], recent: Incident, state: CorrelationState
    ) -> bool:
        """With cross-alert keys (and a window), only an alertname the resolved incident
        had reopens it: another one of the service, after it resolved, is a new fault."""
        route = self.routes[event.route or ""]
        name = event.labels.get("alertname")
        if route.cross_alert_window is None or not name or not _cross_alert(group):
            return False
        if name in state.alertnames(recent.id):
            return False
        event.decisions.append(
            Decision(
                "correlate",
                "not reopened: another alertname",
                recent.correlation_key,
                event.id,
                {"incident": recent.id, "mechanism": "cross-alert window", "alertname": name},
            )
        )
        return True

    def _track_inhibit_source(self, event: Event, state: CorrelationState) -> None:
        """Keep (while it fires) or drop an alert on an inhibition rule's source side."""
        alert = state.alert(event.fingerprint)
        if alert is None:
            return
        for rule in self.inhibit:
            if not rule.is_source(event.labels):
                continue
            if alert.status is AlertStatus.FIRING and alert.incident_id is not None:
                since = alert.active_since or event.received_at
                state.keep_inhibit_source(
                    rule.name, alert.fingerprint, rule.scope(event.labels), since
                )
            else:
                state.drop_inhibit_source(rule.name, alert.fingerprint)

    def _inhibited(self, incident: Incident, event: Event, work: _Work) -> bool:
        """Relate a new incident to the open incident of a firing alert that inhibits
        its alert (`inhibit_rules`), if any: no ticket of its own."""
        for rule in self.inhibit:
            if not rule.is_target(event.labels):
                continue
            # As in Alertmanager, an alert on both sides of a rule is not inhibited
            # by another alert on both sides.
            excluded = rule.is_target if rule.is_source(event.labels) else _never
            found = work.state.inhibiting_incident(
                rule.name, rule.scope(event.labels), event.fingerprint, excluded
            )
            if found is None or found[0].id == incident.id:
                continue
            source, alert = found
            self._attach(
                incident,
                source,
                event,
                work,
                "inhibited",
                f"inhibited by rule {rule.name}: {alert.title!r} fires",
                {
                    "mechanism": "inhibit",
                    "rule": rule.name,
                    "source_alert": alert.title,
                    "equal": list(rule.equal),
                },
            )
            return True
        return False

    def _related(self, incident: Incident, event: Event, work: _Work) -> bool:
        """Attach a new incident to its dependency's open incident (topology), if any;
        one its route pauses is attached when its pause ends (lifecycle/pause.py)."""
        if paused(incident, self.config):
            return False
        state = work.state

        def find(service: str, place: Mapping[str, str], since: datetime) -> Incident | None:
            return state.service_incident(service, place, since, incident)

        found = upstream_incident(incident, self.config, find, event.received_at)
        if found is None:
            return False
        upstream, service = found
        self._attach(
            incident,
            upstream,
            event,
            work,
            "related to a dependency's incident",
            f"{service} is a dependency",
            {
                "mechanism": "topology",
                "depends_on": service,
                "window": str(self.config.correlation.topology.window),
            },
        )
        return True

    def _attach(
        self,
        incident: Incident,
        upstream: Incident,
        event: Event,
        work: _Work,
        outcome: str,
        why: str,
        inputs: dict[str, Any],
    ) -> None:
        """Relate a new incident to `upstream`'s (or to the storm `upstream` is part of):
        held, shown and counted there, resolved with it (lifecycle/auto_resolve.py)."""
        parent = (
            work.state.incident(upstream.parent_id) if upstream.parent_id is not None else upstream
        )
        now = event.received_at
        work.merge(str(inputs["mechanism"]))
        incident.parent_id = parent.id
        incident.held = RELATED_HOLD.format(parent.id)
        work.note(
            parent,
            now,
            "related_attached",
            f"related: incident {incident.id} ({incident.title}): {why}",
            {"incident": incident.id, **inputs},
        )
        work.note(
            incident,
            now,
            "related",
            f"related to incident {parent.id}: {why}; no ticket of its own",
            {"parent": parent.id, **inputs},
        )
        event.decisions.append(
            Decision(
                "correlate",
                outcome,
                parent.correlation_key,
                event.id,
                {"incident": incident.id, "parent": parent.id, **inputs},
            )
        )

    def _storm(self, incident: Incident, event: Event, work: _Work) -> None:
        """Make a new incident part of its place's storm (pipeline/storm.py), if any."""
        found = storm_for(incident, self.config, work.state)
        if found is None:
            return
        parent, now = found.parent, event.received_at
        storm = self.config.correlation.storm
        if found.created:
            work.touched.add(parent.id)
            work.change(
                parent,
                "opened",
                event,
                f"storm: {len(found.services)} services of {storm.label} "
                f"{parent.group_labels.get(storm.label)} opened incidents within {storm.window}",
                services=found.services,
            )
            self._hand_over(incident, parent, event, work)
        self._join_storm(incident, parent, now, work, found.services)
        event.decisions.append(
            Decision(
                "correlate",
                "joined storm",
                parent.correlation_key,
                event.id,
                {
                    "incident": incident.id,
                    "parent": parent.id,
                    "mechanism": "storm",
                    "services": found.services,
                    "threshold": storm.threshold,
                    "window": str(storm.window),
                },
            )
        )

    def _ticket_cap(self, incident: Incident, event: Event, work: _Work) -> None:
        """Past its team's ticket cap, a new incident joins the team's overflow."""
        found = overflow_for(incident, self.config, work.state)
        if found is None:
            return
        parent, now = found.parent, event.received_at
        window = self.config.correlation.ticket_cap.window
        if found.created:
            work.touched.add(parent.id)
            work.change(
                parent,
                "opened",
                event,
                f"ticket cap: {found.counted} new incidents of team {incident.team} within "
                f"{window}, over its cap of {found.cap}; the next ones are listed here",
            )
        if not work.has(parent, "opened"):
            work.change(
                parent,
                "member_joined",
                event,
                f"over the cap: incident {incident.id} ({incident.title})",
                title=incident.title,
            )
        _adopt(incident, parent, now, work, "ticket-cap")
        work.note(
            incident,
            now,
            "storm_joined",
            f"over team {incident.team}'s ticket cap ({found.cap} within {window}): "
            f"listed in incident {parent.id}'s ticket, no ticket of its own",
            {"parent": parent.id, "mechanism": "ticket cap"},
        )
        event.decisions.append(
            Decision(
                "correlate",
                "over the ticket cap",
                parent.correlation_key,
                event.id,
                {
                    "incident": incident.id,
                    "parent": parent.id,
                    "mechanism": "ticket cap",
                    "team": incident.team,
                    "cap": found.cap,
                    "window": str(window),
                },
            )
        )

    def _hand_over(self, incident: Incident, parent: Incident, event: Event, work: _Work) -> None:
        """The services that started a storm before it formed keep their incidents and
        tickets, but the storm's team owns them now: one owner per storm. Each such
        ticket is updated with its new team and why (change `reassigned`)."""
        storm, state = self.config.correlation.storm, work.state
        labels = parent.group_labels
        place, environment = labels.get(storm.label, ""), labels.get("environment", "")
        since = incident.opened_at - storm.window
        if parent.team is None:
            return
        for member_id in state.storm_member_ids(storm.label, place, environment, since, incident):
            member = state.incident(member_id)
            if member_id == incident.id or member.team == parent.team:
                continue
            previous, member.team = member.team, parent.team
            work.bump(member, event.received_at)
            work.change(
                member,
                "reassigned",
                event,
                f"part of storm incident {parent.id}: team {previous} -> {parent.team}, "
                "who owns the storm",
                team=parent.team,
                previous=previous,
                storm=parent.id,
            )
            state.save_incident(member)
            event.decisions.append(
                Decision(
                    "correlate",
                    "reassigned to the storm's team",
                    parent.correlation_key,
                    event.id,
                    {
                        "incident": member.id,
                        "parent": parent.id,
                        "mechanism": "storm",
                        "team": parent.team,
                        "previous": previous,
                    },
                )
            )

    def _join_storm(
        self, incident: Incident, parent: Incident, now: datetime, work: _Work, services: list[str]
    ) -> None:
        _adopt(incident, parent, now, work, "storm")
        work.note(
            incident,
            now,
            "storm_joined",
            f"part of storm incident {parent.id}: no ticket of its own",
            {"parent": parent.id, "services": services},
        )

    def _stop_firing(
        self, incident: Incident, event: Event, work: _Work, kind: str, message: str
    ) -> None:
        """One alert of `incident` stops firing there; the last one sets the resolve timer."""
        now = event.received_at
        incident.firing = max(0, incident.firing - 1)
        work.bump(incident, now)
        work.change(incident, kind, event, message, title=event.title)
        if incident.firing == 0:
            wait, timer = self.config.timers.resolve_after, "resolve_after"
            flap = self.config.correlation.flapping
            if self._flapping(incident) and flap.stable_for > wait:
                wait, timer = flap.stable_for, "flapping.stable_for"
            due = now + wait
            incident.resolve_due_at = due
            work.note(
                incident,
                now,
                "timer_set",
                f"all alerts resolved; auto-resolve at {due.isoformat()}"
                + (" (flapping: it waits to be stable)" if timer != "resolve_after" else ""),
                {"timer": timer, "due": due.isoformat()},
            )
        work.state.save_incident(incident)

    def _flapping(self, incident: Incident) -> bool:
        """Flapping: marked so, and not yet resolved after a stable spell."""
        return self.config.correlation.flapping.enabled and incident.flapping_since is not None

    # -- resolved ----------------------------------------------------------
    def _resolved(self, event: Event, work: _Work) -> None:
        state = work.state
        alert = state.alert(event.fingerprint)
        if alert is None:
            alert = _new_alert(event, None)
            alert.resolved_since = event.occurred_at
            state.save_alert(alert)
            _decide(event, "resolved without incident", None)
            return
        if _is_stale(alert, event):
            state.save_alert(alert)
            return
        was_firing = alert.status is AlertStatus.FIRING
        _bump(alert, event)
        alert.status = AlertStatus.RESOLVED
        if was_firing or alert.resolved_since is None:
            alert.resolved_since = event.occurred_at
        state.save_alert(alert)
        if alert.incident_id is None:
            return
        incident = state.incident(alert.incident_id)
        event.incident_id = incident.id
        incident.event_count += 1
        if was_firing and incident.status is not IncidentStatus.RESOLVED:
            self._stop_firing(
                incident, event, work, "alert_resolved", f"alert {event.title!r} resolved"
            )
        state.save_incident(incident)


def _adopt(incident: Incident, parent: Incident, now: datetime, work: _Work, merged: str) -> None:
    """Make `incident` a held child of a storm (or overflow) `parent`, counted there."""
    work.merge(merged)
    incident.parent_id = parent.id
    incident.held = STORM_HOLD.format(parent.id)
    parent.alert_count += 1
    parent.firing += 1
    work.bump(parent, now)
    work.state.save_incident(parent)
    work.state.save_incident(incident)


def _never(_: Mapping[str, str]) -> bool:
    return False


def _left_storm(incident: Incident, state: CorrelationState) -> bool:
    """A storm's child firing again after its storm resolved is on its own again:
    it never filed a ticket, so it opens one (and may start or join a new storm)."""
    if incident.parent_id is None:
        return False
    if state.incident(incident.parent_id).status is not IncidentStatus.RESOLVED:
        return False
    incident.parent_id = None
    incident.held = None
    return True


def _apart(
    event: Event,
    main: Incident,
    late: timedelta,
    window: timedelta,
    others: list[dict[str, str]],
) -> str | None:
    """Why another alertname of the service does not join its open incident (None:
    it joins). Alerts correlate because they fire together: within the window of the
    incident's opening while one of its alerts fires, or later as the same thing
    growing worse, unless the incident is flapping (its state is damped: a new,
    worse fault must not hide under it)."""
    if main.firing == 0:
        return "none of the incident's alerts fires (it waits to resolve)"
    if late <= window:
        return None
    if event.severity <= main.severity:
        return "after the window, and no worse than the incident"
    if main.flapping_since is not None:
        return "after the window, and the incident is flapping"
    if not _same_subject(event, others):
        return "after the window, and about another thing than the incident's alerts"
    return None  # the fault grows worse (a disk fills up)


# Labels that say what an alert says, not what it is about.
_NOT_SUBJECT = frozenset({"alertname", "severity"})


def _same_subject(event: Event, others: list[dict[str, str]]) -> bool:
    """Is `event` about the very thing one of the incident's alerts (`others`, their
    labels) is about: does it carry every label of that alert (but its name and
    severity), with the same value?
    The filesystem that now has 5 % left is the one that was filling up; the database
    whose connections ran out an hour after its disk warned is another fault."""
    labels = event.labels
    return any(
        all(labels.get(k) == v for k, v in other.items() if k not in _NOT_SUBJECT)
        for other in others
    )


def _is_stale(alert: Alert, event: Event) -> bool:
    """A copy older than what we know, e.g. a lagging HA peer's firing after the resolve.

    A firing that started before the alert's known resolution, or a resolve
    that ended before the current firing episode started, changes nothing:
    it is counted as seen and explained, not applied.
    """
    if event.status is AlertStatus.FIRING:
        stale = (
            alert.status is AlertStatus.RESOLVED
            and alert.resolved_since is not None
            and event.occurred_at < alert.resolved_since
        )
        why = "firing that started before the alert's known resolution"
    else:
        stale = (
            alert.status is AlertStatus.FIRING
            and alert.active_since is not None
            and event.occurred_at < alert.active_since
        )
        why = "resolve that ended before the current firing episode started"
    if stale:
        _bump(alert, event)
        event.incident_id = alert.incident_id
        event.decisions.append(
            Decision(
                "correlate",
                "stale copy ignored",
                event.correlation_key,
                event.id,
                {"why": why, "occurred_at": event.occurred_at.isoformat()},
            )
        )
    return stale


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
