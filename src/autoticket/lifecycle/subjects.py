"""The incidents a run of incident timers is about: locked, then read as stored.

Every incident timer kind starts the same way: lock the keys of the due
timers' incidents (so no batch changes them meanwhile), then read each one
again; a timer whose incident is gone is skipped.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import Connection

from autoticket.model import Incident, Timer
from autoticket.store.correlation_state import SqlCorrelationState
from autoticket.store.locks import lock_incident_keys

__all__ = ["due_incidents"]


def due_incidents(
    conn: Connection, due: list[Timer], state: SqlCorrelationState
) -> Iterator[tuple[Timer, Incident]]:
    """(timer, its incident) for each timer of `due` whose subject is an incident id."""
    lock_incident_keys(conn, sorted({int(t.subject) for t in due if t.subject.isdigit()}))
    for timer in due:
        if not timer.subject.isdigit():
            continue
        incident = state.find_incident(int(timer.subject))
        if incident is not None:
            yield timer, incident
