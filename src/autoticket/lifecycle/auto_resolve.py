"""Timer kind `auto_resolve`: resolve an incident once its alerts stayed resolved.

Correlate sets the incident's `resolve_due_at` when its last alert resolves
and clears it when one fires again; the agenda mirrors it (see
store/correlation_state.py). Firing re-checks the incident under its key's
lock: only an open incident with nothing firing and this due time resolves.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import Connection

from autoticket.config import Config
from autoticket.engine.actions import Actions
from autoticket.lifecycle.subjects import due_incidents
from autoticket.model import Incident, IncidentStatus, Timer, is_storm_key
from autoticket.store import timers as timer_store
from autoticket.store.correlation_state import SqlCorrelationState
from autoticket.store.locks import lock_keys
from autoticket.store.storms import open_child_ids, open_children

__all__ = ["AutoResolve"]


class AutoResolve:
    kind: ClassVar[str] = timer_store.AUTO_RESOLVE

    def fire(
        self,
        conn: Connection,
        due: list[Timer],
        state: SqlCorrelationState,
        actions: Actions,
        config: Config,
    ) -> int:
        """Resolve the incidents of `due` still waiting for it; return how many."""
        resolved = 0
        for timer, incident in due_incidents(conn, due, state):
            if not _waiting(incident, timer):
                continue
            if _wait_for_related(conn, incident, timer, state):
                continue
            _resolve(incident, timer, state, actions, config)
            resolved += 1
            if incident.parent_id is not None:
                state.flush()  # the parent counts its open children as stored
                resolved += _resolve_parent(conn, incident.parent_id, timer, state, actions)
        return resolved


def _wait_for_related(
    conn: Connection, incident: Incident, timer: Timer, state: SqlCorrelationState
) -> bool:
    """True when related incidents (topology, inhibition) still fire: their alerts
    count as this incident's, so it stays open (and its ticket with it) until the
    last of them resolves; the timer is dropped, that child's resolve comes back here."""
    if is_storm_key(incident.correlation_key):
        return False
    firing = [
        child.id
        for child in (state.find_incident(i) for i in open_child_ids(conn, incident.id))
        if child is not None and child.firing > 0
    ]
    if not firing:
        return False
    incident.resolve_due_at = None
    incident.updated_at = timer.due_at
    state.save_incident(incident)
    state.add_timeline(
        incident.id,
        timer.due_at,
        "resolve_waits",
        f"its alerts resolved, but related incident(s) {', '.join(map(str, firing))} "
        "still fire: it resolves when they do",
        {"related_firing": firing},
    )
    return True


def _resolve_parent(
    conn: Connection, parent_id: int, timer: Timer, state: SqlCorrelationState, actions: Actions
) -> int:
    """Resolve the incident a child hung on once nothing of it fires; 1 when it did.

    A storm resolves when its last child resolved. An incident with related
    children resolves when its own alerts have (its timer was dropped) and no
    child fires any more."""
    parent = state.find_incident(parent_id)
    if parent is None or parent.status is IncidentStatus.RESOLVED:
        return 0
    storm = is_storm_key(parent.correlation_key)
    if storm and open_children(conn, parent_id):
        return 0
    if not storm:
        if parent.firing > 0 or parent.resolve_due_at is not None:
            return 0  # its own alerts fire, or its own timer comes
        children = (state.find_incident(i) for i in open_child_ids(conn, parent_id))
        if any(child is not None and child.firing > 0 for child in children):
            return 0
    lock_keys(conn, [parent.correlation_key])
    due = timer.due_at
    parent.firing = 0
    _mark_resolved(parent, due, state)
    message = (
        "storm resolved: its last service resolved"
        if storm
        else "resolved: its alerts and its related incidents' resolved"
    )
    state.add_timeline(parent.id, due, "resolved", message, {"storm": storm})
    actions.ticket(
        parent,
        "resolve",
        source="lifecycle",
        outcome="resolve",
        rule="storm" if storm else "related",
        reasons=["resolved"],
        inputs={"due": due.isoformat()},
    )
    return 1


def _mark_resolved(incident: Incident, due: datetime, state: SqlCorrelationState) -> None:
    incident.status = IncidentStatus.RESOLVED
    incident.resolved_at = due
    incident.flapping_since = None  # stable: a flapping episode ends with the incident
    incident.resolve_due_at = None
    incident.updated_at = due
    incident.version += 1
    state.save_incident(incident)


def _waiting(incident: Incident, timer: Timer) -> bool:
    return (
        incident.status is not IncidentStatus.RESOLVED
        and incident.firing == 0
        and incident.resolve_due_at == timer.due_at
    )


def _resolve(
    incident: Incident,
    timer: Timer,
    state: SqlCorrelationState,
    actions: Actions,
    config: Config,
) -> None:
    due = timer.due_at
    _mark_resolved(incident, due, state)
    after = config.timers.resolve_after
    state.add_timeline(
        incident.id,
        due,
        "resolved",
        f"auto-resolved: all alerts stayed resolved for {after}",
        {"timer": "resolve_after", "after_seconds": after.total_seconds()},
    )
    actions.ticket(
        incident,
        "resolve",
        source="lifecycle",
        outcome="resolve",
        rule="resolve_after",
        reasons=["resolved"],
        inputs={"due": due.isoformat()},
    )
