"""Timer kind `ticket_pause`: a paused incident files its ticket, or is a transient.

A route's `pause` (e.g. `{warning: 2m}`) holds a new incident's ticket
(engine/actions.py sets this timer and the hold). At the due time, under the
incident's key lock: if an alert of it still fires, the hold lifts and the
ticket opens with what the open would have carried; if none fires (it
resolved within the pause), no ticket is filed, and the incident is marked
so on its timeline and in explain, with the reason. Should it fire again
later, it pauses again (or opens) like a new one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy import Connection

from autoticket.config import Config
from autoticket.engine.actions import PAUSE_HOLD, TRANSIENT_HOLD, Actions
from autoticket.lifecycle.subjects import due_incidents
from autoticket.model import (
    RELATED_HOLD,
    STORM_HOLD,
    Decision,
    Incident,
    IncidentStatus,
    Timer,
    storm_key,
)
from autoticket.policy.topology import upstream_incident
from autoticket.store import timers as timer_store
from autoticket.store.correlation_state import SqlCorrelationState

__all__ = ["TicketPause"]


class TicketPause:
    kind: ClassVar[str] = timer_store.TICKET_PAUSE

    def fire(
        self,
        conn: Connection,
        due: list[Timer],
        state: SqlCorrelationState,
        actions: Actions,
        config: Config,
    ) -> int:
        """End the pauses of `due`; return how many opened a ticket or were suppressed."""
        acted = 0
        for timer, incident in due_incidents(conn, due, state):
            if incident.held != PAUSE_HOLD:
                continue
            pause = timedelta(seconds=float(timer.payload.get("pause_seconds", 0)))
            if _broken(incident, timer, pause):
                _restart(conn, incident, timer, pause, state, actions)
            elif incident.status is not IncidentStatus.RESOLVED and incident.firing > 0:
                if not _join_storm(incident, timer, state, actions, config) and not _relate(
                    incident, timer, state, actions, config
                ):
                    _open(incident, timer, pause, state, actions)
            else:
                _suppress(incident, timer, pause, state, actions)
            acted += 1
        return acted


def _broken(incident: Incident, timer: Timer, pause: timedelta) -> bool:
    """Did the incident resolve and fire again within its pause? Then it has not
    fired for the pause without a break (as Prometheus's `for` asks of a rule)."""
    if incident.status is IncidentStatus.RESOLVED or incident.firing == 0:
        return False
    return bool(incident.toggles) and incident.toggles[-1] > timer.due_at - pause


def _restart(
    conn: Connection,
    incident: Incident,
    timer: Timer,
    pause: timedelta,
    state: SqlCorrelationState,
    actions: Actions,
) -> None:
    """Pause again from the last time it fired after a break: a flapping alert
    files a ticket only once it fires for a whole pause (or grows past it)."""
    since = incident.toggles[-1]
    again = since + pause
    later = Timer(timer.kind, timer.subject, again, timer.payload, set_at=timer.due_at)
    timer_store.schedule(conn, [later])
    message = (
        f"pause restarted: it resolved and fired again at {since.isoformat()}, "
        f"within its {pause} pause; it files if it fires until {again.isoformat()}"
    )
    state.add_timeline(
        incident.id, timer.due_at, "pause_restarted", message, {"until": again.isoformat()}
    )
    actions.explain(
        incident.id,
        Decision(
            "lifecycle",
            "pause restarted",
            "pause",
            str(incident.id),
            {
                "reason": "fired again after a break within its pause",
                "pause": str(pause),
                "fired_again": since.isoformat(),
                "until": again.isoformat(),
            },
        ),
    )


def _join_storm(
    incident: Incident,
    timer: Timer,
    state: SqlCorrelationState,
    actions: Actions,
    config: Config,
) -> bool:
    """A paused incident that still fires while the storm of its place, which formed
    around it (it opened within the storm's window), is open joins that storm
    instead of filing its own ticket. What resolved within its pause stays a
    transient, outside the storm."""
    storm = config.correlation.storm
    labels = incident.group_labels
    place, environment = labels.get(storm.label), labels.get("environment")
    if not storm.enabled or not place or not environment or not labels.get("service"):
        return False
    if incident.parent_id is not None:
        return False
    key = storm_key(storm.label, place, environment)
    state.lock_key(key)
    parent = state.open_storm(key)
    if parent is None or parent.status is IncidentStatus.RESOLVED:
        return False
    opened = incident.opened_at
    if opened < parent.opened_at - storm.window or opened - parent.updated_at > storm.window:
        return False  # not part of that burst
    due = timer.due_at
    incident.parent_id = parent.id
    incident.held = STORM_HOLD.format(parent.id)
    incident.updated_at = due
    state.save_incident(incident)
    parent.alert_count += 1
    parent.firing += 1
    state.save_incident(parent)
    services = [labels["service"]]
    state.add_timeline(
        incident.id,
        due,
        "storm_joined",
        f"part of storm incident {parent.id}: its pause ended while the storm of "
        f"{storm.label} {place} is open; no ticket of its own",
        {"parent": parent.id, "services": services},
    )
    actions.explain(
        incident.id,
        Decision(
            "lifecycle",
            "joined storm",
            parent.correlation_key,
            str(incident.id),
            {
                "incident": incident.id,
                "parent": parent.id,
                "mechanism": "storm",
                "reason": "pause ended while its place's storm is open",
                "window": str(storm.window),
            },
        ),
    )
    return True


def _relate(
    incident: Incident,
    timer: Timer,
    state: SqlCorrelationState,
    actions: Actions,
    config: Config,
) -> bool:
    """A paused symptom still firing when its pause ends hangs on its dependency's
    incident (policy/topology.py) instead of filing a ticket of its own."""
    if incident.parent_id is not None:
        return False
    due = timer.due_at

    def find(service: str, place: Mapping[str, str], since: datetime) -> Incident | None:
        return state.service_incident(service, place, since, incident)

    found = upstream_incident(incident, config, find, due)
    if found is None:
        return False
    upstream, service = found
    parent = state.incident(upstream.parent_id) if upstream.parent_id is not None else upstream
    incident.parent_id = parent.id
    incident.held = RELATED_HOLD.format(parent.id)
    incident.updated_at = due
    state.save_incident(incident)
    inputs = {
        "mechanism": "topology",
        "depends_on": service,
        "window": str(config.correlation.topology.window),
    }
    why = f"{service} is a dependency; it still fired when its pause ended"
    state.add_timeline(
        parent.id,
        due,
        "related_attached",
        f"related: incident {incident.id} ({incident.title}): {why}",
        {"incident": incident.id, **inputs},
    )
    state.add_timeline(
        incident.id,
        due,
        "related",
        f"related to incident {parent.id}: {why}; no ticket of its own",
        {"parent": parent.id, **inputs},
    )
    actions.explain(
        incident.id,
        Decision(
            "lifecycle",
            "related to a dependency's incident",
            parent.correlation_key,
            str(incident.id),
            {"incident": incident.id, "parent": parent.id, **inputs},
        ),
    )
    return True


def _open(
    incident: Incident,
    timer: Timer,
    pause: timedelta,
    state: SqlCorrelationState,
    actions: Actions,
) -> None:
    incident.held = None
    incident.updated_at = timer.due_at  # the ticket is filed now, not at the first alert
    state.save_incident(incident)
    payload: dict[str, Any] = timer.payload
    sinks = payload.get("sinks")
    actions.ticket(
        incident,
        "open",
        source="lifecycle",
        outcome="open",
        rule=str(payload.get("rule") or incident.route),
        reasons=[*payload.get("changes", []), f"still firing after its {pause} pause"],
        inputs={"pause": str(pause), "due": timer.due_at.isoformat()},
        sinks=list(sinks) if isinstance(sinks, list) else None,
        extra=dict(payload.get("extra") or {}),
    )


def _suppress(
    incident: Incident,
    timer: Timer,
    pause: timedelta,
    state: SqlCorrelationState,
    actions: Actions,
) -> None:
    incident.held = TRANSIENT_HOLD
    incident.updated_at = timer.due_at
    state.save_incident(incident)
    message = f"suppressed: no ticket, all alerts resolved within the {pause} pause"
    data = {"reason": "transient", "pause_seconds": pause.total_seconds()}
    state.add_timeline(incident.id, timer.due_at, "suppressed", message, data)
    actions.explain(
        incident.id,
        Decision(
            "lifecycle",
            "suppressed",
            "pause",
            str(incident.id),
            {"reason": "transient", "pause": str(pause), "due": timer.due_at.isoformat()},
        ),
    )
