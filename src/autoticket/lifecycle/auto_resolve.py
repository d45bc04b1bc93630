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
from autoticket.model import Incident, IncidentStatus, Timer
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
            _resolve(incident, timer, state, actions, config)
            resolved += 1
            _release_children(conn, incident, timer, state, actions)
            if incident.parent_id is not None:
                state.flush()  # the storm counts its open children as stored
                resolved += _resolve_storm(conn, incident.parent_id, timer, state, actions)
        return resolved


def _release_children(
    conn: Connection,
    incident: Incident,
    timer: Timer,
    state: SqlCorrelationState,
    actions: Actions,
) -> None:
    """Related incidents still firing when the one they hung on resolves are on their
    own now: each files its ticket (one not firing resolves as it is, held)."""
    for child_id in open_child_ids(conn, incident.id):
        child = state.find_incident(child_id)
        if child is None or child.firing == 0:
            continue
        child.parent_id = None
        child.held = None
        child.updated_at = timer.due_at
        state.save_incident(child)
        state.add_timeline(
            child.id,
            timer.due_at,
            "released",
            f"incident {incident.id} resolved while this one still fires: it files its own ticket",
            {"parent": incident.id},
        )
        actions.ticket(
            child,
            "open",
            source="lifecycle",
            outcome="open",
            rule="topology",
            reasons=[f"still firing after incident {incident.id} it was related to resolved"],
            inputs={"parent": incident.id},
        )


def _resolve_storm(
    conn: Connection, parent_id: int, timer: Timer, state: SqlCorrelationState, actions: Actions
) -> int:
    """Resolve a storm incident once its last child resolved; 1 when it did."""
    if open_children(conn, parent_id):
        return 0
    parent = state.find_incident(parent_id)
    if parent is None or parent.status is IncidentStatus.RESOLVED:
        return 0
    lock_keys(conn, [parent.correlation_key])
    due = timer.due_at
    parent.firing = 0
    _mark_resolved(parent, due, state)
    state.add_timeline(
        parent.id, due, "resolved", "storm resolved: its last service resolved", {"storm": True}
    )
    actions.ticket(
        parent,
        "resolve",
        source="lifecycle",
        outcome="resolve",
        rule="storm",
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
