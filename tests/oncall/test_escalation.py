"""Escalation on the engine's virtual clock: each step at its time, stopped by an ack.

Timers are fired by `Round.fire_timers(until)`, which fires each due timer at
its own due time, as the worker does live and replay does on its clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import orjson
import pytest
from sqlalchemy import Engine, select, update

from autoticket.config import Config
from autoticket.engine.round import Round
from autoticket.lifecycle.manual import acknowledge, resolve_now
from autoticket.model import Delivery
from autoticket.pipeline.runner import build_pipeline
from autoticket.sinks.base import RemoteChange
from autoticket.sinks.outbox import Dispatcher
from autoticket.sinks.sync import record_changes
from autoticket.store import escalations
from autoticket.store.tables import incidents, outbox, timeline
from conftest import am_alert, am_payload, process
from oncall.escalation_config import escalation_config


@pytest.fixture
def config() -> Config:
    return escalation_config()


def _open(engine: Engine, config: Config, t0: datetime) -> int:
    body = orjson.dumps(am_payload(am_alert()))
    with engine.begin() as conn:
        process(conn, config, [Delivery("d1", "alertmanager", t0, body)], t0)
        return conn.execute(select(incidents.c.id)).scalar_one()


def _round(engine: Engine, config: Config) -> Round:
    return Round(engine, config, build_pipeline(config), Dispatcher())


def _steps(engine: Engine, incident_id: int) -> list[tuple[datetime, str, str | None]]:
    """(at, kind, responder) of the escalation's timeline entries, in order."""
    query = (
        select(timeline.c.at, timeline.c.kind, timeline.c.data)
        .where(
            timeline.c.incident_id == incident_id,
            timeline.c.kind.in_(["escalation", "escalation_stopped"]),
        )
        .order_by(timeline.c.at, timeline.c.id)
    )
    with engine.connect() as conn:
        return [
            (r.at.replace(tzinfo=None), r.kind, (r.data or {}).get("responder"))
            for r in conn.execute(query)
        ]


def _naive(at: datetime) -> datetime:
    return at.replace(tzinfo=None)


def test_without_acknowledgement_every_step_runs_then_it_ends(
    engine: Engine, config: Config, t0: datetime
) -> None:
    incident_id = _open(engine, config, t0)
    assert _round(engine, config).fire_timers(t0 + timedelta(hours=2)) == 4
    assert _steps(engine, incident_id) == [
        (_naive(t0), "escalation", "ann"),
        (_naive(t0 + timedelta(minutes=5)), "escalation", "carol"),
        (_naive(t0 + timedelta(minutes=15)), "escalation", "ann"),  # round 2
        (_naive(t0 + timedelta(minutes=20)), "escalation", "carol"),
    ]
    with engine.connect() as conn:
        assert escalations.pending(conn, incident_id) is None
        responder = escalations.responder_of(conn, incident_id)
        keys = [
            k
            for (k,) in conn.execute(
                select(outbox.c.idempotency_key)
                .where(outbox.c.incident_id == incident_id)
                .order_by(outbox.c.id)
            )
            if "escalate" in k
        ]
        last = conn.execute(
            select(timeline.c.message)
            .where(timeline.c.incident_id == incident_id, timeline.c.kind == "escalation")
            .order_by(timeline.c.id.desc())
        ).first()
    assert responder is not None
    assert (responder["responder"], responder["step"], responder["round"]) == ("carol", 2, 2)
    # One notify action per step, for the team's notify sinks (builtin here).
    assert [k.split(":")[-2] for k in keys] == [
        "escalate-r1-s1",
        "escalate-r1-s2",
        "escalate-r2-s1",
        "escalate-r2-s2",
    ]
    assert last is not None and "last step" in last.message


def test_the_first_step_names_the_schedule_layer_that_decided(
    engine: Engine, config: Config, t0: datetime
) -> None:
    incident_id = _open(engine, config, t0)
    _round(engine, config).fire_timers(t0)
    with engine.connect() as conn:
        row = conn.execute(
            select(timeline.c.message, timeline.c.data).where(
                timeline.c.incident_id == incident_id, timeline.c.kind == "escalation"
            )
        ).one()
    assert row.message == (
        "escalation step 1/2, round 1/2: notified ann (schedule payments-primary)"
    )
    assert (row.data["schedule"], row.data["layer"], row.data["source"]) == (
        "payments-primary",
        "primary",
        "rotation",
    )


def test_an_acknowledgement_stops_it(engine: Engine, config: Config, t0: datetime) -> None:
    incident_id = _open(engine, config, t0)
    engine_round = _round(engine, config)
    engine_round.fire_timers(t0 + timedelta(minutes=1))
    with engine.begin() as conn:
        acknowledge(conn, config, incident_id, t0 + timedelta(minutes=2), "ann")
    assert engine_round.fire_timers(t0 + timedelta(hours=2)) == 0
    assert _steps(engine, incident_id) == [
        (_naive(t0), "escalation", "ann"),
        (_naive(t0 + timedelta(minutes=2)), "escalation_stopped", None),
    ]
    with engine.connect() as conn:
        message = conn.execute(
            select(timeline.c.message).where(timeline.c.kind == "escalation_stopped")
        ).scalar_one()
    assert message == "escalation stopped: acknowledged by ann (api)"


def test_a_sinks_two_way_sync_acknowledgement_stops_it(
    engine: Engine, config: Config, t0: datetime
) -> None:
    incident_id = _open(engine, config, t0)
    engine_round = _round(engine, config)
    engine_round.fire_timers(t0)
    with engine.begin() as conn:  # as the external dispatcher records a tracker's answer
        conn.execute(
            update(outbox)
            .where(outbox.c.incident_id == incident_id)
            .values(sink="tracker", status="done", external_ref="OPS-7")
        )
    at = t0 + timedelta(minutes=3)
    change = RemoteChange("OPS-7", "acknowledged", "bob", at)
    assert record_changes(engine, "tracker", [change], at).recorded == 1
    engine_round.fire_timers(t0 + timedelta(hours=2))
    assert _steps(engine, incident_id) == [
        (_naive(t0), "escalation", "ann"),
        (_naive(at), "escalation_stopped", None),
    ]


def test_a_resolution_ends_it(engine: Engine, config: Config, t0: datetime) -> None:
    incident_id = _open(engine, config, t0)
    engine_round = _round(engine, config)
    engine_round.fire_timers(t0 + timedelta(minutes=6))
    with engine.begin() as conn:
        resolve_now(conn, config, incident_id, t0 + timedelta(minutes=7), "ann")
    engine_round.fire_timers(t0 + timedelta(hours=2))
    assert [kind for _, kind, _ in _steps(engine, incident_id)] == [
        "escalation",
        "escalation",
        "escalation_stopped",
    ]
    with engine.connect() as conn:
        message = conn.execute(
            select(timeline.c.message).where(timeline.c.kind == "escalation_stopped")
        ).scalar_one()
    assert message == "escalation stopped: resolved by ann (api)"


def test_an_auto_resolved_incident_pages_nobody_more(
    engine: Engine, config: Config, t0: datetime
) -> None:
    incident_id = _open(engine, config, t0)
    resolved = am_alert(status="resolved", ends_at="2026-01-05T10:01:00Z")
    body = orjson.dumps(am_payload(resolved))
    at = t0 + timedelta(minutes=1)
    with engine.begin() as conn:
        process(conn, config, [Delivery("d2", "alertmanager", at, body)], at)
    _round(engine, config).fire_timers(t0 + timedelta(hours=2))
    # Steps at t0 and t0+5m; auto-resolved at t0+6m; round 2 at t0+15m finds it resolved.
    assert _steps(engine, incident_id) == [
        (_naive(t0), "escalation", "ann"),
        (_naive(t0 + timedelta(minutes=5)), "escalation", "carol"),
        (_naive(t0 + timedelta(minutes=15)), "escalation_stopped", None),
    ]


def test_a_team_without_a_policy_is_not_escalated(engine: Engine, t0: datetime) -> None:
    plain = escalation_config()
    teams = dict(plain.catalog.teams)
    teams["payments"] = teams["payments"].model_copy(update={"escalation_policy": None})
    config = plain.model_copy(update={"catalog": plain.catalog.model_copy(update={"teams": teams})})
    incident_id = _open(engine, config, t0)
    _round(engine, config).fire_timers(t0 + timedelta(hours=2))
    assert _steps(engine, incident_id) == []


def test_each_step_queues_a_notify_update_with_the_step_and_its_responder(
    engine: Engine, config: Config, t0: datetime
) -> None:
    from autoticket.store.tables import decisions

    incident_id = _open(engine, config, t0)
    _round(engine, config).fire_timers(t0)
    with engine.connect() as conn:
        [(key, sink, payload)] = conn.execute(
            select(outbox.c.idempotency_key, outbox.c.sink, outbox.c.payload).where(
                outbox.c.incident_id == incident_id, outbox.c.action == "update"
            )
        ).all()
        [(rule, inputs)] = conn.execute(
            select(decisions.c.rule, decisions.c.inputs).where(
                decisions.c.incident_id == incident_id, decisions.c.outcome == "notify"
            )
        ).all()
    step = {
        "policy": "payments",
        "step": 1,
        "round": 1,
        "responder": "ann",
        "target": "schedule payments-primary",
    }
    assert sink == "builtin" and key.split(":")[-2] == "escalate-r1-s1"
    assert payload["reasons"] == ["escalated"] and payload["responder"] == "ann"
    assert {k: payload["escalation"][k] for k in step} == step
    assert rule == "payments"
    assert {k: inputs[k] for k in step} == step


def test_a_step_whose_schedule_is_gone_notifies_nobody_and_says_why(
    engine: Engine, t0: datetime
) -> None:
    from oncall.escalation_config import ONCALL

    policies = {
        "payments": {
            "repeat": 0,
            "steps": [{"notify": {"schedule": "retired"}, "wait": "5m"}],
        }
    }
    config = escalation_config(schedules=ONCALL["schedules"], escalation_policies=policies)
    incident_id = _open(engine, config, t0)
    _round(engine, config).fire_timers(t0)
    with engine.connect() as conn:
        row = conn.execute(
            select(timeline.c.message, timeline.c.data).where(
                timeline.c.incident_id == incident_id, timeline.c.kind == "escalation"
            )
        ).one()
    assert row.message == (
        "escalation step 1/1, round 1/1: nobody to notify (schedule retired: no such schedule)"
        "; last step, escalation ends unless acknowledged"
    )
    assert row.data == {
        "policy": "payments",
        "step": 1,
        "round": 1,
        "responder": None,
        "target": "schedule retired",
        "why": "no such schedule",
    }
