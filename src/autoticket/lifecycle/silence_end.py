"""Timer kind `silence_end`: a silence that held a ticket has ended (or changed).

engine/actions.py holds a new incident's ticket (or the reopening of its
ticket) while a silence or maintenance window covers its firing alerts, and
sets this timer for when that silence ends. At the due time, under the
incident's key lock, its firing alerts are matched again against the
silences then in force: if one fires that no silence covers, the hold lifts
and the ticket opens (or reopens) with what it would have carried; if all
are still covered (a longer silence, the next maintenance window), it waits
for the soonest of those to end; if none fires, nothing is filed, and the
incident tickets like any other should it fire again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import Connection

from autoticket.config import Config
from autoticket.engine.actions import OPEN_ENDED_RECHECK, Actions
from autoticket.lifecycle.subjects import due_incidents
from autoticket.model import SILENCE_HOLDS, Incident, IncidentStatus, Timer
from autoticket.policy.silences import Silence, config_silences, covering, stored_silence
from autoticket.store import timers as timer_store
from autoticket.store.alerts import firing_alerts_of
from autoticket.store.correlation_state import SqlCorrelationState

__all__ = ["SilenceEnd"]


class SilenceEnd:
    kind: ClassVar[str] = timer_store.SILENCE_END

    def fire(
        self,
        conn: Connection,
        due: list[Timer],
        state: SqlCorrelationState,
        actions: Actions,
        config: Config,
    ) -> int:
        """Look again at the incidents of `due`; return how many filed their ticket."""
        state.flush()  # the alerts' status as this batch left it
        acted = 0
        silences: list[Silence] | None = None
        for timer, incident in due_incidents(conn, due, state):
            if incident.held not in SILENCE_HOLDS:
                continue
            if incident.status is IncidentStatus.RESOLVED or incident.firing == 0:
                continue  # nothing fires: nothing to file; a new firing decides again
            if silences is None:
                rows = state.silence_rows(min(t.due_at for t in due))
                silences = [*config_silences(config), *map(stored_silence, rows)]
            at = timer.due_at
            free, until = _unsilenced(conn, incident, silences, at)
            if free is None:
                again = until if until is not None else at + OPEN_ENDED_RECHECK
                later = Timer(self.kind, timer.subject, again, timer.payload, set_at=at)
                timer_store.schedule(conn, [later])
                continue
            _lift(incident, timer, free, state, actions)
            acted += 1
        return acted


def _unsilenced(
    conn: Connection, incident: Incident, silences: list[Silence], at: datetime
) -> tuple[str | None, datetime | None]:
    """A firing alert no silence covers at `at` (its title), or else None and when the
    soonest covering silence ends (None: none of them ends)."""
    soonest: datetime | None = None
    for title, labels in firing_alerts_of(conn, incident.id):
        hit = covering(silences, labels, at)
        if hit is None:
            return title, None
        if not hit.open_ended and (soonest is None or hit.until < soonest):
            soonest = hit.until
    return None, soonest


def _lift(
    incident: Incident, timer: Timer, free: str, state: SqlCorrelationState, actions: Actions
) -> None:
    payload: dict[str, Any] = timer.payload
    action = "reopen" if payload.get("action") == "reopen" else "open"
    incident.held = None
    incident.updated_at = timer.due_at  # the ticket is filed now, not at the first alert
    state.save_incident(incident)
    why = f"the silence ended while alert {free!r} still fires"
    state.add_timeline(incident.id, timer.due_at, "unsilenced", why, {"alert": free})
    sinks = payload.get("sinks")
    actions.ticket(
        incident,
        action,
        source="lifecycle",
        outcome=action,
        rule=str(payload.get("rule") or incident.route),
        reasons=[*payload.get("changes", []), why],
        inputs={"mechanism": "silence", "due": timer.due_at.isoformat()},
        sinks=list(sinks) if isinstance(sinks, list) else None,
        extra=dict(payload.get("extra") or {}),
    )
