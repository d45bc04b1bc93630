"""Timers: one agenda (store/timers.py), one way to fire it, a module per kind.

A new kind (escalation, pause, flap window, release re-judging) is one module
with a `kind` name and a `fire` method, plus one line in `TIMER_KINDS`. Every
kind fires inside the engine's round, at the timer's own due time, and turns
what it changes into ticket actions through engine/actions.py.
"""

from __future__ import annotations

from datetime import datetime
from itertools import groupby
from typing import ClassVar, Protocol

from sqlalchemy import Connection

from autoticket.config import Config
from autoticket.engine.actions import Actions, record
from autoticket.lifecycle.auto_resolve import AutoResolve
from autoticket.lifecycle.escalation import Escalate
from autoticket.lifecycle.pause import TicketPause
from autoticket.lifecycle.release_check import ReleaseCheck
from autoticket.lifecycle.silence_end import SilenceEnd
from autoticket.lifecycle.ticket_updates import TicketUpdates
from autoticket.model import Timer
from autoticket.store import timers as timer_store
from autoticket.store.correlation_state import SqlCorrelationState

__all__ = ["TIMER_KINDS", "TimerKind", "fire_due", "next_due"]


class TimerKind(Protocol):
    kind: ClassVar[str]

    def fire(
        self,
        conn: Connection,
        due: list[Timer],
        state: SqlCorrelationState,
        actions: Actions,
        config: Config,
    ) -> int:
        """Act on `due` (all of this kind, in due order); return how many changed something."""
        ...


TIMER_KINDS: dict[str, TimerKind] = {
    kind.kind: kind
    for kind in (
        AutoResolve(),
        TicketPause(),
        SilenceEnd(),
        TicketUpdates(),
        ReleaseCheck(),
        Escalate(),
    )
}


def next_due(conn: Connection) -> datetime | None:
    return timer_store.next_due(conn, list(TIMER_KINDS))


def fire_due(
    conn: Connection,
    until: datetime,
    config: Config,
    state: SqlCorrelationState | None = None,
    actions: Actions | None = None,
    limit: int = 500,
) -> int:
    """Fire every timer due by `until`, each at its own due time; return how many acted.

    Fired timers are removed. Only known kinds are taken: a timer of a kind
    this version does not know (written by a newer one) waits on the agenda.
    Given `state` and `actions` (a pipeline batch firing timers between its
    events), the caller flushes and records them; else this call does.
    """
    own = state is None or actions is None
    state = state if state is not None else SqlCorrelationState(conn)
    actions = actions if actions is not None else Actions(config)
    acted = 0
    while due := timer_store.due(conn, until, list(TIMER_KINDS), limit):
        # Runs of one kind, in due order: an incident's resolution due before
        # its held update fires first. Kinds re-read their subjects from the
        # database, so each run sees what the previous one changed.
        for kind, run in groupby(due, key=lambda timer: timer.kind):
            acted += TIMER_KINDS[kind].fire(conn, list(run), state, actions, config)
            state.flush()
        timer_store.delete_fired(conn, due)
        state.flush()
        # Loop until nothing is due: a full page may have more behind it, and
        # a kind that moved its timer to a time still due (a release judged
        # step by step while catching up) fires again, at that time.
    if own:
        record(conn, actions, until)
    return acted
