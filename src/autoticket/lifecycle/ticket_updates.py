"""Timer kind `ticket_update`: send the update that coalescing held back.

engine/coalesce.py sets it when a change worth an update arrives inside the
update interval. Firing re-reads the incident's coalescing state under its
key's lock: it sends the folded changes as one update, with the newest body,
unless a later update or the resolution already carried them.
"""

from __future__ import annotations

from typing import ClassVar

from sqlalchemy import Connection

from autoticket.config import Config
from autoticket.engine.actions import Actions
from autoticket.model import IncidentStatus, Timer
from autoticket.store import timers as timer_store
from autoticket.store.correlation_state import SqlCorrelationState
from autoticket.store.locks import lock_incident_keys
from autoticket.store.ticket_updates import load_update_states, save_update_states

__all__ = ["TicketUpdates"]


class TicketUpdates:
    kind: ClassVar[str] = timer_store.TICKET_UPDATE

    def fire(
        self,
        conn: Connection,
        due: list[Timer],
        state: SqlCorrelationState,
        actions: Actions,
        config: Config,
    ) -> int:
        """Send the folded updates of `due`; return how many were sent."""
        ids = sorted({int(t.subject) for t in due if t.subject.isdigit()})
        lock_incident_keys(conn, ids)
        held = load_update_states(conn, ids)
        sent = 0
        for timer in due:
            pending = held.get(int(timer.subject)) if timer.subject.isdigit() else None
            if pending is None or not pending.pending:
                continue
            incident = state.find_incident(pending.incident_id)
            folded = pending.pending
            body = pending.pending_body
            pending.pending, pending.pending_body = [], None
            if incident is None or incident.status is IncidentStatus.RESOLVED:
                continue  # the resolve action carried the final state
            pending.sent_at = timer.due_at
            pending.sent_alerts = incident.alert_count
            pending.sent_priority = incident.priority
            actions.ticket(
                incident,
                "update",
                source="lifecycle",
                outcome="update",
                rule="update_interval",
                reasons=folded,
                inputs={"folded": folded, "due": timer.due_at.isoformat()},
                extra={"body": body} if body is not None else None,
                key_name=f"update@{timer.due_at.isoformat()}",
            )
            sent += 1
        save_update_states(conn, held.values())
        return sent
