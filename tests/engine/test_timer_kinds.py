"""The timers agenda: one row per (kind, subject), kept in step with incidents, and a
new kind is one class plus one registration, fired by the same round live and in replay."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar

import orjson
import pytest
from sqlalchemy import Connection, Engine, select

from autoticket.config import Config
from autoticket.engine.actions import Actions
from autoticket.engine.round import Round
from autoticket.lifecycle import timers as lifecycle_timers
from autoticket.model import Delivery, Timer
from autoticket.pipeline.runner import build_pipeline
from autoticket.sinks.outbox import Dispatcher
from autoticket.store import timers as timer_store
from autoticket.store.correlation_state import SqlCorrelationState
from autoticket.store.tables import incidents, outbox, timers
from conftest import am_alert, am_payload


@pytest.fixture
def config(config: Config) -> Config:
    """Auto-resolve alone on the agenda: held ticket updates are tested in test_coalesce.py."""
    tickets = config.tickets.model_copy(update={"coalesce": False})
    return config.model_copy(update={"tickets": tickets})


def _round(engine: Engine, config: Config) -> Round:
    return Round(engine, config, build_pipeline(config), Dispatcher())


def _delivery(i: int, at: datetime, status: str) -> Delivery:
    body = am_payload(am_alert(status=status))
    return Delivery(f"d{i}", "alertmanager", at, orjson.dumps(body), {})


def _agenda(engine: Engine) -> list[tuple[str, str, datetime]]:
    """The agenda but for held ticket updates (tests/engine/test_coalesce.py has those)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(timers.c.kind, timers.c.subject, timers.c.due_at).where(
                timers.c.kind != timer_store.TICKET_UPDATE
            )
        )
        return sorted((r.kind, r.subject, r.due_at) for r in rows)


def test_the_agenda_follows_the_incident(engine: Engine, config: Config, t0: datetime) -> None:
    """All alerts resolved: an auto-resolve timer; firing again: gone; fired: gone."""
    rnd = _round(engine, config)
    after = config.timers.resolve_after
    with engine.begin() as conn:
        rnd.process(conn, [_delivery(0, t0, "firing")], t0)
    assert _agenda(engine) == []
    t1 = t0 + timedelta(minutes=1)
    with engine.begin() as conn:
        rnd.process(conn, [_delivery(1, t1, "resolved")], t1)
    with engine.connect() as conn:
        incident_id = conn.execute(select(incidents.c.id)).scalar_one()
    assert _agenda(engine) == [("auto_resolve", str(incident_id), t1 + after)]
    assert rnd.fire_timers(t1 + after - timedelta(seconds=1)) == 0, "not due yet"
    assert rnd.fire_timers(t1 + after) == 1, "due at exactly resolve_after"
    assert _agenda(engine) == []
    with engine.connect() as conn:
        row = conn.execute(select(incidents.c.status, incidents.c.resolved_at)).one()
    assert (row.status, row.resolved_at) == ("resolved", t1 + after)


def test_firing_again_cancels_the_timer(engine: Engine, config: Config, t0: datetime) -> None:
    rnd = _round(engine, config)
    with engine.begin() as conn:
        rnd.process(conn, [_delivery(0, t0, "firing")], t0)
        rnd.process(conn, [_delivery(1, t0 + timedelta(minutes=1), "resolved")], t0)
    assert len(_agenda(engine)) == 1
    body = am_payload(am_alert(starts_at="2026-01-05T10:01:30Z"))
    refire = Delivery("d2", "alertmanager", t0 + timedelta(minutes=2), orjson.dumps(body), {})
    with engine.begin() as conn:
        rnd.process(conn, [refire], t0 + timedelta(minutes=2))
    assert _agenda(engine) == []
    assert rnd.fire_timers(t0 + timedelta(days=1)) == 0


def test_a_timer_due_inside_a_batch_fires_between_its_events(
    engine: Engine, config: Config, t0: datetime
) -> None:
    """One batch: fire, resolve, then (after resolve_after) fire again with a new episode.
    The incident must be auto-resolved in between and reopened: as with one delivery
    per batch."""
    after = config.timers.resolve_after
    t_resolved = t0 + timedelta(minutes=1)
    t_again = t_resolved + after + timedelta(seconds=30)
    again = am_alert(starts_at=(t_again - timedelta(seconds=5)).isoformat())
    batch = [
        _delivery(0, t0, "firing"),
        _delivery(1, t_resolved, "resolved"),
        Delivery("d2", "alertmanager", t_again, orjson.dumps(am_payload(again)), {}),
    ]
    rnd = _round(engine, config)
    with engine.begin() as conn:
        outcome = rnd.process(conn, batch, t_again)
    assert outcome.changes.get("reopened") == 1
    with engine.connect() as conn:
        actions = conn.execute(select(outbox.c.action).order_by(outbox.c.id)).scalars().all()
        decided = conn.execute(select(incidents.c.status, incidents.c.resolved_at)).one()
    assert actions == ["open", "resolve", "reopen"]
    assert decided.status == "open" and decided.resolved_at is None


class _Reminder:
    """A kind made up for this test: it notes on the timeline that it fired."""

    kind: ClassVar[str] = "reminder"
    fired: ClassVar[list[tuple[str, datetime]]] = []

    def fire(
        self,
        conn: Connection,
        due: list[Timer],
        state: SqlCorrelationState,
        actions: Actions,
        config: Config,
    ) -> int:
        for timer in due:
            self.fired.append((timer.subject, timer.due_at))
            state.add_timeline(int(timer.subject), timer.due_at, "reminder", "ping", {})
        return len(due)


@pytest.fixture
def reminder(monkeypatch: pytest.MonkeyPatch) -> type[_Reminder]:
    kinds: dict[str, Any] = {**lifecycle_timers.TIMER_KINDS, _Reminder.kind: _Reminder()}
    monkeypatch.setattr(lifecycle_timers, "TIMER_KINDS", kinds)
    _Reminder.fired = []
    return _Reminder


def test_a_new_kind_is_one_registration(
    engine: Engine, config: Config, t0: datetime, reminder: type[_Reminder]
) -> None:
    rnd = _round(engine, config)
    with engine.begin() as conn:
        rnd.process(conn, [_delivery(0, t0, "firing")], t0)
        incident_id = conn.execute(select(incidents.c.id)).scalar_one()
        due = t0 + timedelta(minutes=3)
        timer_store.schedule(conn, [Timer("reminder", str(incident_id), due)], t0)
        timer_store.schedule(conn, [Timer("unknown-kind", "x", t0)], t0)
    assert rnd.fire_timers(due - timedelta(seconds=1)) == 0
    assert rnd.fire_timers(due) == 1
    assert reminder.fired == [(str(incident_id), due)]
    assert [k for k, _, _ in _agenda(engine)] == ["unknown-kind"], "unknown kinds wait"
    with engine.connect() as conn:
        assert lifecycle_timers.next_due(conn) is None


def test_upgrading_moves_pending_auto_resolves_onto_the_agenda(tmp_path: Any, t0: datetime) -> None:
    """Incidents waiting to auto-resolve before the agenda existed keep their timers."""
    from sqlalchemy import insert

    from autoticket.store import make_engine, migrate

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    migrate(engine, "0003")
    base = {
        "route": "r",
        "title": "t",
        "severity": 4,
        "priority": "P1",
        "status": "open",
        "opened_at": t0,
        "updated_at": t0,
        "group_labels": {},
        "context": {},
    }
    due = t0 + timedelta(minutes=5)
    with engine.begin() as conn:
        conn.execute(
            insert(incidents),
            [
                {**base, "id": 1, "correlation_key": "a", "open_key": "a", "resolve_due_at": due},
                {**base, "id": 2, "correlation_key": "b", "open_key": "b", "resolve_due_at": None},
                {
                    **base,
                    "id": 3,
                    "correlation_key": "c",
                    "open_key": None,
                    "status": "resolved",
                    "resolve_due_at": due,
                },
            ],
        )
    migrate(engine)
    assert _agenda(engine) == [("auto_resolve", "1", due)]
    engine.dispose()
