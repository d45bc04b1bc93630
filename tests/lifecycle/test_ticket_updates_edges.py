"""The `ticket_update` timer at its edges: what a held update's firing records, several
incidents in one firing, and timers that name no held update."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from autoticket.config import parse_config_text
from autoticket.engine.round import Round
from autoticket.model import Delivery, Timer
from autoticket.pipeline.runner import build_pipeline
from autoticket.sinks.outbox import Dispatcher
from autoticket.store import timers as timer_store
from autoticket.store.tables import decisions, outbox
from conftest import am_alert, am_payload

CONFIG = parse_config_text(
    """
timers: {resolve_after: 10m}
tickets: {update_interval: 5m, update_every_alerts: 2}
routes:
  - name: web
    group_by: [alertname]
"""
)


def _alert(alertname: str, n: int) -> dict[str, Any]:
    alert = am_alert(alertname=alertname, instance=f"pod-{n}")
    alert["fingerprint"] = f"fp-{alertname}-{n}"
    return alert


def _held_updates(engine: Engine, t0: datetime, *alertnames: str) -> Round:
    """One incident per alertname, opened at t0; its second alert, a minute later,
    is worth an update that the interval holds back until t0 + 5 min."""
    rnd = Round(engine, CONFIG, build_pipeline(CONFIG), Dispatcher())
    for i, (at, count) in enumerate(((t0, 1), (t0 + timedelta(minutes=1), 2))):
        alerts = [_alert(name, n) for name in alertnames for n in range(count)]
        body = json.dumps(am_payload(*alerts)).encode()
        with engine.begin() as conn:
            rnd.process(conn, [Delivery(f"d{i}", "alertmanager", at, body)], at)
    return rnd


def _updates(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(outbox.c.payload).where(outbox.c.action == "update"))
        return [r.payload for r in rows]


def test_a_held_update_fires_as_one_explained_update(engine: Engine, t0: datetime) -> None:
    rnd = _held_updates(engine, t0, "HighErrorRate")
    assert _updates(engine) == [], "held by the interval"
    due = t0 + timedelta(minutes=5)
    assert rnd.fire_timers(due) == 1
    [payload] = _updates(engine)
    assert payload["reasons"] == ["alert_added"]
    assert payload["body"], "the newest body goes with it"
    with engine.connect() as conn:
        [row] = conn.execute(select(decisions).where(decisions.c.stage == "lifecycle")).all()
    assert (row.outcome, row.rule) == ("update", "update_interval")
    assert row.inputs["folded"] == ["alert_added"]
    assert row.inputs["due"] == due.isoformat()
    assert row.inputs["idempotency_key"].endswith(f":update@{due.isoformat()}")


def test_one_firing_sends_the_held_update_of_every_incident(engine: Engine, t0: datetime) -> None:
    """... also after an earlier timer in the same firing that had nothing held."""
    rnd = _held_updates(engine, t0, "HighErrorRate", "DiskFull")
    stray = Timer(timer_store.TICKET_UPDATE, "999", t0 + timedelta(minutes=2))
    with engine.begin() as conn:
        timer_store.schedule(conn, [stray], t0)
    assert rnd.fire_timers(t0 + timedelta(minutes=5)) == 2
    assert len(_updates(engine)) == 2


def test_timers_that_name_no_held_update_send_nothing(engine: Engine, t0: datetime) -> None:
    rnd = Round(engine, CONFIG, build_pipeline(CONFIG), Dispatcher())
    stray = [Timer(timer_store.TICKET_UPDATE, subject, t0) for subject in ("not-an-id", "999")]
    with engine.begin() as conn:
        timer_store.schedule(conn, stray, t0)
    assert rnd.fire_timers(t0) == 0
    assert _updates(engine) == []
