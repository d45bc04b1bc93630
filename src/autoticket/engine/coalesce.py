"""Coalescing ticket updates: a comment worth reading, not one per alert.

In a flood every alert that joins an incident is a change; sent as they come
they would be twenty comments in a tracker. An update is sent for a change
worth one (severity, priority, a refire, a new service or alertname, every
Nth new alert), at most once per `tickets.update_interval`; every other
change is folded into the next update. A change worth sending that arrives
inside the interval sets a `ticket_update` timer at the interval's end
(lifecycle/ticket_updates.py), so it is late by at most the interval, never
lost. Opening and reopening send at once and start the interval.

Decisions use event times (the incident's `updated_at`), so replay folds the
same way whatever the batch size.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection

from autoticket.config import Config
from autoticket.model import Incident, TicketUpdateState, TicketVerdict, Timer
from autoticket.store import timers as timer_store
from autoticket.store.ticket_updates import load_update_states, save_update_states

__all__ = ["Coalescer", "worth_sending"]

# `member_joined`: an incident over its team's ticket cap, listed in the overflow's;
# `reassigned`: a storm's early service handed to the storm's team.
_WORTH_BY_KIND = frozenset(
    {"severity_changed", "alert_refired", "flapping", "grew", "member_joined", "reassigned"}
)


def worth_sending(
    state: TicketUpdateState, incident: Incident, verdict: TicketVerdict, every: int
) -> list[str]:
    """Why this change deserves an update of its own (empty: fold it).

    A flapping incident's refires are its flapping, said once (`flapping`):
    they are folded, not a comment each."""
    why = [kind for kind in verdict.changes if kind in _WORTH_BY_KIND]
    if incident.flapping_since is not None and "flapping" not in why:
        why = [kind for kind in why if kind != "alert_refired"]
    if verdict.priority != state.sent_priority:
        why.append(f"priority {state.sent_priority} -> {verdict.priority}")
    why += [f"new {label}" for label in sorted(verdict.seen - state.seen)]
    if incident.alert_count // every > state.sent_alerts // every:
        why.append(f"{incident.alert_count} alerts")
    return why


class Coalescer:
    """The send-or-fold decision for one transaction; `flush` writes what it decided."""

    def __init__(self, conn: Connection, config: Config) -> None:
        self.conn = conn
        self.interval = config.tickets.update_interval
        self.every = config.tickets.update_every_alerts
        self._states: dict[int, TicketUpdateState] = {}
        self._dirty: set[int] = set()
        self._timers: dict[int, datetime] = {}

    def prefetch(self, incident_ids: Iterable[int]) -> None:
        missing = [i for i in incident_ids if i not in self._states]
        self._states.update(load_update_states(self.conn, missing))

    def sent(self, incident: Incident, verdict: TicketVerdict, at: datetime) -> None:
        """An open or reopen went out at `at`: the interval starts, nothing is pending."""
        old = self._states.get(incident.id)
        seen = set(verdict.seen) | (old.seen if old is not None else set())
        self._timers.pop(incident.id, None)
        self._put(TicketUpdateState(incident.id, at, incident.alert_count, verdict.priority, seen))

    def update(
        self, incident: Incident, verdict: TicketVerdict, at: datetime, body: str | None
    ) -> tuple[list[str], list[str]] | None:
        """(reasons, worth) to send this update now, or None when it is folded."""
        state = self._states.get(incident.id)
        if state is None:  # no ticket update known yet (an incident from before coalescing)
            self.sent(incident, verdict, at)
            return list(verdict.changes), ["first update"]
        worth = worth_sending(state, incident, verdict, self.every)
        state.pending += [kind for kind in verdict.changes if kind not in state.pending]
        state.seen |= verdict.seen
        if body is not None:
            state.pending_body = body
        self._dirty.add(incident.id)
        due = state.sent_at + self.interval
        if not worth:
            return None
        if at >= due:
            reasons = state.pending
            self.sent(incident, verdict, at)
            return reasons, worth
        if incident.id not in self._timers:
            self._timers[incident.id] = due
        return None

    def next_send(self, incident_id: int) -> datetime | None:
        state = self._states.get(incident_id)
        return state.sent_at + self.interval if state is not None else None

    def soonest(self) -> datetime | None:
        """The earliest `ticket_update` timer set here and not yet written."""
        return min(self._timers.values(), default=None)

    def flush(self) -> None:
        """Write the states and timers; later reads go to the database again."""
        save_update_states(self.conn, (self._states[i] for i in sorted(self._dirty)))
        held = sorted(self._timers.items())
        timer_store.schedule(
            self.conn, [Timer(timer_store.TICKET_UPDATE, str(i), due) for i, due in held]
        )
        self._states.clear()
        self._dirty.clear()
        self._timers.clear()

    def _put(self, state: TicketUpdateState) -> None:
        self._states[state.incident_id] = state
        self._dirty.add(state.incident_id)
