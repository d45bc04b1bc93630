"""Timers: one agenda (store/timers.py), one way to fire it, a module per kind.

A new kind (escalation, pause, flap window, release re-judging) is one module
with a `kind` name and a `fire` method, plus one line in `TIMER_KINDS`. Every
kind fires inside the engine's round, at the timer's own due time, and turns
what it changes into ticket actions through engine/actions.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Protocol

from sqlalchemy import Connection

from autoticket.config import Config
from autoticket.engine.actions import Actions, record
from autoticket.lifecycle.auto_resolve import AutoResolve
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


TIMER_KINDS: dict[str, TimerKind] = {kind.kind: kind for kind in (AutoResolve(),)}


def next_due(conn: Connection) -> datetime | None:
    return timer_store.next_due(conn, list(TIMER_KINDS))


def fire_due(conn: Connection, until: datetime, config: Config, limit: int = 500) -> int:
    """Fire the timers due by `until`, each at its own due time; return how many acted.

    Fired timers are removed. Only known kinds are taken: a timer of a kind
    this version does not know (written by a newer one) waits on the agenda.
    """
    due = timer_store.due(conn, until, list(TIMER_KINDS), limit)
    if not due:
        return 0
    by_kind: dict[str, list[Timer]] = {}
    for timer in due:
        by_kind.setdefault(timer.kind, []).append(timer)
    state = SqlCorrelationState(conn)
    actions = Actions(config)
    acted = 0
    fired: list[Timer] = []
    for kind, timers in by_kind.items():
        acted += TIMER_KINDS[kind].fire(conn, timers, state, actions, config)
        fired.extend(timers)
    timer_store.delete_fired(conn, fired)
    state.flush()
    record(conn, actions, until)
    return acted
