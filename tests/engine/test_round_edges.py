"""Edges of the engine round: when it looks before applying the outbox, which timers
fire before a batch, where a batch is cut, what it counts, and the stage decisions
it stores."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import orjson
import pytest
from sqlalchemy import Connection, Engine, select

from autoticket.config import Config
from autoticket.engine.round import Round
from autoticket.model import Decision, Delivery
from autoticket.pipeline.base import Batch, Context, StageResult
from autoticket.pipeline.runner import build_pipeline
from autoticket.sinks.outbox import Dispatcher
from autoticket.store.tables import decisions, incidents, outbox
from autoticket.telemetry import Telemetry
from conftest import am_alert, am_payload


@pytest.fixture
def config(config: Config) -> Config:
    """Every change its own ticket update: held updates are tested in test_coalesce.py."""
    tickets = config.tickets.model_copy(update={"coalesce": False})
    return config.model_copy(update={"tickets": tickets})


class _CountingDispatcher(Dispatcher):
    """The built-in dispatcher, counting its looks (`any_due`) and its writes."""

    def __init__(self) -> None:
        super().__init__()
        self.looks = 0
        self.writes = 0

    def any_due(self, conn: Connection, now: datetime) -> bool:
        self.looks += 1
        return super().any_due(conn, now)

    def dispatch_due(self, conn: Connection, now: datetime, limit: int = 500) -> int:
        self.writes += 1
        return super().dispatch_due(conn, now, limit)


def _delivery(name: str, at: datetime, **alert: str) -> Delivery:
    body = am_payload(am_alert(**alert))
    return Delivery(name, "alertmanager", at, orjson.dumps(body), {})


def _actions(engine: Engine) -> list[tuple[str, str]]:
    """(incident title, action) of every outbox row, in order."""
    query = (
        select(incidents.c.title, outbox.c.action)
        .join(incidents, incidents.c.id == outbox.c.incident_id)
        .order_by(outbox.c.id)
    )
    with engine.connect() as conn:
        return [(r.title, r.action) for r in conn.execute(query)]


def test_a_round_that_enqueued_actions_applies_them_without_looking_first(
    engine: Engine, config: Config, t0: datetime
) -> None:
    spy = _CountingDispatcher()
    rnd = Round(engine, config, build_pipeline(config), spy)
    outcome = rnd.run(t0, lambda _conn: [_delivery("d0", t0)])
    assert outcome.batch is not None and outcome.batch.actions == 1
    assert outcome.applied == 1
    assert (spy.looks, spy.writes) == (0, 1)


def test_a_round_whose_batch_made_no_action_looks_and_writes_nothing(
    engine: Engine, config: Config, t0: datetime
) -> None:
    spy = _CountingDispatcher()
    rnd = Round(engine, config, build_pipeline(config), spy)
    rnd.run(t0, lambda _conn: [_delivery("d0", t0)])
    spy.looks = spy.writes = 0
    later = t0 + timedelta(seconds=30)
    outcome = rnd.run(later, lambda _conn: [_delivery("d1", later)])  # a repeat
    assert outcome.batch is not None and outcome.batch.actions == 0
    assert outcome.applied == 0
    assert (spy.looks, spy.writes) == (1, 0)


def test_a_round_in_which_one_timer_fired_applies_its_action_without_looking(
    engine: Engine, config: Config, t0: datetime
) -> None:
    spy = _CountingDispatcher()
    rnd = Round(engine, config, build_pipeline(config), spy)
    t1 = t0 + timedelta(minutes=1)
    rnd.run(t0, lambda _conn: [_delivery("d0", t0)])
    rnd.run(t1, lambda _conn: [_delivery("d1", t1, status="resolved")])
    spy.looks = spy.writes = 0
    due = t1 + config.timers.resolve_after
    outcome = rnd.run(due, lambda _conn: [])
    assert (outcome.fired, outcome.batch, outcome.applied) == (1, None, 1)
    assert (spy.looks, spy.writes) == (0, 1)


def test_dispatch_on_its_own_looks_before_it_writes(
    engine: Engine, config: Config, t0: datetime
) -> None:
    spy = _CountingDispatcher()
    rnd = Round(engine, config, build_pipeline(config), spy)
    assert rnd.dispatch(t0) == 0
    assert (spy.looks, spy.writes) == (1, 0)


def test_timers_fire_only_up_to_timers_until_before_the_batch(
    engine: Engine, config: Config, t0: datetime
) -> None:
    """Replay runs a batch at its last line's time but fires timers only up to its
    first line: a firing in the batch before the due time cancels the timer."""
    rnd = Round(engine, config, build_pipeline(config), Dispatcher())
    t1 = t0 + timedelta(minutes=1)
    rnd.run(t0, lambda _conn: [_delivery("d0", t0)])
    rnd.run(t1, lambda _conn: [_delivery("d1", t1, status="resolved")])
    due = t1 + config.timers.resolve_after
    refire_at = due - timedelta(seconds=10)
    refire = _delivery("d2", refire_at, starts_at=(t1 + timedelta(seconds=30)).isoformat())
    outcome = rnd.run(due + timedelta(minutes=1), lambda _conn: [refire], timers_until=refire_at)
    assert outcome.fired == 0
    # resolved, then fired again: two updates, and the timer never fired
    assert [a for _, a in _actions(engine)] == ["open", "update", "update"]
    with engine.connect() as conn:
        assert conn.execute(select(incidents.c.status)).scalar_one() == "open"


def test_an_event_at_the_very_due_time_comes_after_the_timer(
    engine: Engine, config: Config, t0: datetime
) -> None:
    """In one batch, an event received exactly when a stored timer falls due is cut
    into the next segment, after the timer fired, as a live round would order them."""
    rnd = Round(engine, config, build_pipeline(config), Dispatcher())
    t1 = t0 + timedelta(minutes=1)
    rnd.run(t0, lambda _conn: [_delivery("d0", t0)])
    rnd.run(t1, lambda _conn: [_delivery("d1", t1, status="resolved")])
    due = t1 + config.timers.resolve_after
    other = _delivery("x", due - timedelta(seconds=1), alertname="DiskFull")
    refire = _delivery("d2", due, starts_at=(t1 + timedelta(seconds=30)).isoformat())
    with engine.begin() as conn:
        rnd.process(conn, [other, refire], due)
    mine = [a for title, a in _actions(engine) if title.startswith("HighErrorRate")]
    assert mine == ["open", "update", "resolve", "reopen"]
    with engine.connect() as conn:
        keys = [
            row.inputs["idempotency_key"]
            for row in conn.execute(select(decisions).where(decisions.c.stage == "lifecycle"))
        ]
    assert len(keys) == 1 and keys[0].endswith(":resolve"), "recorded once, by the round"


def test_a_batch_counts_its_sizes_changes_dead_letters_and_drops(
    engine: Engine, config: Config, t0: datetime
) -> None:
    telemetry = Telemetry()
    rnd = Round(engine, config, build_pipeline(config), Dispatcher(), telemetry)
    batch = [
        _delivery("d0", t0),
        _delivery("d1", t0, alertname="DiskFull"),
        _delivery("w", t0, alertname="Watchdog"),
        Delivery("bad", "generic", t0, b"{", {}),
    ]
    with engine.begin() as conn:
        rnd.process(conn, batch, t0)
    value = telemetry.registry.get_sample_value
    assert value("autoticket_worker_batch_size_sum") == 4
    assert value("autoticket_worker_batch_size_count") == 1
    assert value("autoticket_incidents_total", {"kind": "opened"}) == 2
    labels = {"source": "generic", "stage": "normalize"}
    assert value("autoticket_dead_letters_total", labels) == 1
    dropped = {"source": "alertmanager", "outcome": "ignored"}
    assert value("autoticket_events_received_total", dropped) == 1


class _Audit:
    """A resolve stage made up for this test: one decision per changed incident,
    and two about no incident."""

    name = "audit"

    def run(self, batch: Batch, ctx: Context) -> StageResult:
        made = [Decision("audit", "seen", None, str(c.incident_id)) for c in batch.changes]
        made.append(Decision("audit", "about an event", None, "d0-0"))
        made.append(Decision("audit", "about nothing"))
        return StageResult(batch, made)


def test_stage_decisions_are_stored_under_the_incident_their_subject_names(
    engine: Engine, config: Config, t0: datetime
) -> None:
    pipeline = build_pipeline(config)
    pipeline.resolve_stages.append(_Audit())
    rnd = Round(engine, config, pipeline, Dispatcher())
    with engine.begin() as conn:
        rnd.process(conn, [_delivery("d0", t0)], t0)
    with engine.connect() as conn:
        incident_id = conn.execute(select(incidents.c.id)).scalar_one()
        rows = conn.execute(
            select(decisions.c.incident_id, decisions.c.outcome, decisions.c.subject)
            .where(decisions.c.stage == "audit")
            .order_by(decisions.c.id)
        ).all()
    assert [tuple(r) for r in rows] == [
        (incident_id, "seen", str(incident_id)),
        (None, "about an event", "d0-0"),
        (None, "about nothing", None),
    ]


class _DropAll:
    """A prepare stage made up for this test: drops every event without naming a source."""

    name = "drop-all"

    def run(self, batch: Batch, ctx: Context) -> StageResult:
        gone = [Decision("drop-all", "filtered", None, e.id) for e in batch.events]
        return StageResult(replace(batch, events=[], dropped=[*batch.dropped, *gone]))


def test_drops_that_name_no_source_are_counted_as_unknown(
    engine: Engine, config: Config, t0: datetime
) -> None:
    telemetry = Telemetry()
    pipeline = build_pipeline(config)
    pipeline.prepare_stages.append(_DropAll())
    rnd = Round(engine, config, pipeline, Dispatcher(), telemetry)
    with engine.begin() as conn:
        outcome = rnd.process(conn, [_delivery("d0", t0)], t0)
    assert outcome.dropped == 1
    labels = {"source": "unknown", "outcome": "filtered"}
    assert telemetry.registry.get_sample_value("autoticket_events_received_total", labels) == 1
