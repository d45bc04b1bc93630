"""Ticket updates coalesced: worth a comment, at most once per interval, nothing lost.

Every test runs on SQLite and PostgreSQL through the engine's round; the
outbox is what a tracker would receive.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from autoticket.config import Config, parse_config_text
from autoticket.engine.round import Round
from autoticket.model import Delivery
from autoticket.pipeline.runner import build_pipeline
from autoticket.sinks.outbox import Dispatcher
from autoticket.store.tables import decisions, outbox
from conftest import am_alert, am_payload

CONFIG = """
timers: {resolve_after: 10m}
tickets: {update_interval: 5m, update_every_alerts: 10}
routes:
  - name: web
    group_by: [alertname]
"""


class Flow:
    """Deliveries and timers through one engine round, as the worker runs them."""

    def __init__(self, engine: Engine, config: Config) -> None:
        self.engine, self.config = engine, config
        self.round = Round(engine, config, build_pipeline(config), Dispatcher())
        self.sent = 0

    def send(self, at: datetime, *alerts: dict[str, Any]) -> None:
        self.round.fire_timers(at)
        self.sent += 1
        body = json.dumps(am_payload(*alerts)).encode()
        with self.engine.begin() as conn:
            self.round.process(conn, [Delivery(f"d{self.sent}", "alertmanager", at, body)], at)

    def actions(self) -> list[tuple[str, list[str]]]:
        """(action, reasons) of every ticket action so far, in order."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(outbox.c.action, outbox.c.payload).order_by(outbox.c.id))
            return [(r.action, list(r.payload["reasons"])) for r in rows]


def _alert(n: int, severity: str = "warning", service: str = "checkout") -> dict[str, Any]:
    alert = am_alert(severity=severity, service=service, instance=f"pod-{n}")
    alert["fingerprint"] = f"fp-{service}-{n}"
    return alert


def _flow(engine: Engine, text: str = CONFIG) -> Flow:
    return Flow(engine, parse_config_text(text))


def test_a_flood_becomes_one_update_per_interval(engine: Engine, t0: datetime) -> None:
    flow = _flow(engine)
    alerts = []
    for n in range(25):  # one new alert every 10 s for 4 minutes
        alerts.append(_alert(n))
        flow.send(t0 + timedelta(seconds=10 * n), *alerts)
    assert flow.actions() == [("open", ["opened"])]  # the 10th and 20th alert are held

    flow.round.fire_timers(t0 + timedelta(minutes=5) - timedelta(seconds=1))
    assert len(flow.actions()) == 1
    flow.round.fire_timers(t0 + timedelta(minutes=5))
    # Past 10 alerts (tickets.raise_priority_at) its priority rose: said in that update.
    assert flow.actions() == [("open", ["opened"]), ("update", ["alert_added", "grew"])]
    flow.round.fire_timers(t0 + timedelta(hours=1))  # nothing else was held
    assert len(flow.actions()) == 2


def test_changes_not_worth_a_comment_wait_for_one_that_is(engine: Engine, t0: datetime) -> None:
    flow = _flow(engine)
    flow.send(t0, _alert(0))
    later = t0 + timedelta(minutes=6)  # past the interval: nothing holds an update back
    flow.send(later, _alert(0), _alert(1))  # one more pod of the same service
    flow.send(later + timedelta(seconds=10), _alert(0), _alert(1), _alert(2))
    flow.round.fire_timers(t0 + timedelta(hours=1))
    assert flow.actions() == [("open", ["opened"])]

    # A new service is worth an update, sent at once, with what was folded before it.
    at = later + timedelta(seconds=20)
    flow.send(at, _alert(0), _alert(1), _alert(2), _alert(3, service="payments-api"))
    assert flow.actions()[1] == ("update", ["alert_added"])
    with flow.engine.connect() as conn:
        worth = [
            d.inputs.get("worth")
            for d in conn.execute(select(decisions).where(decisions.c.outcome == "update"))
        ]
    assert worth == [["new service=payments-api"]]


def test_a_severity_rise_after_the_interval_is_sent_at_once(engine: Engine, t0: datetime) -> None:
    flow = _flow(engine)
    flow.send(t0, _alert(0))
    at = t0 + timedelta(minutes=5)  # exactly the interval after the opening
    flow.send(at, _alert(0, severity="critical"))
    # (a new severity label makes a new alert, as in Prometheus)
    assert flow.actions() == [
        ("open", ["opened"]),
        ("update", ["alert_added", "severity_changed"]),
    ]
    # ... and the next interval starts there: a second rise waits for its end.
    flow.send(at + timedelta(minutes=1), _alert(0, severity="critical"), _alert(1, "critical"))
    flow.send(at + timedelta(minutes=2), _alert(0, "critical"), _alert(1, "critical"))
    assert len(flow.actions()) == 2


def test_folded_updates_are_explained(engine: Engine, t0: datetime) -> None:
    flow = _flow(engine)
    flow.send(t0, _alert(0))
    flow.send(t0 + timedelta(seconds=30), _alert(0), _alert(1))
    with flow.engine.connect() as conn:
        [folded] = conn.execute(
            select(decisions).where(decisions.c.outcome == "update folded")
        ).all()
    assert folded.inputs["changes"] == ["alert_added"]
    assert folded.inputs["next_update_at"] == (t0 + timedelta(minutes=5)).isoformat()


def test_a_resolution_carries_what_was_held(engine: Engine, t0: datetime) -> None:
    text = CONFIG.replace("resolve_after: 10m", "resolve_after: 1m")
    flow = _flow(engine, text)
    flow.send(t0, _alert(0))
    flow.send(t0 + timedelta(seconds=10), _alert(0), _alert(1, "critical"))  # held to t0+5m
    ended = [_alert(0), _alert(1, "critical")]
    for alert in ended:
        alert.update(status="resolved", endsAt="2026-01-05T10:00:15Z")
    flow.send(t0 + timedelta(seconds=20), *ended)  # auto-resolves at t0+80s
    flow.round.fire_timers(t0 + timedelta(hours=1))
    kinds = [action for action, _ in flow.actions()]
    assert kinds == ["open", "resolve"]  # the held escalation is not sent after the resolve


def test_coalescing_off_sends_every_change(engine: Engine, t0: datetime) -> None:
    flow = _flow(engine, CONFIG.replace("update_interval: 5m", "coalesce: false"))
    flow.send(t0, _alert(0))
    flow.send(t0 + timedelta(seconds=10), _alert(0), _alert(1))
    flow.send(t0 + timedelta(seconds=20), _alert(0), _alert(1), _alert(2))
    assert [a for a, _ in flow.actions()] == ["open", "update", "update"]


def test_an_alert_firing_again_is_worth_an_update(engine: Engine, t0: datetime) -> None:
    flow = _flow(engine)
    flow.send(t0, _alert(0), _alert(1))
    ended = _alert(1)
    ended.update(status="resolved", endsAt="2026-01-05T10:00:30Z")
    flow.send(t0 + timedelta(minutes=1), _alert(0), ended)  # folded: one of two resolved
    again = _alert(1)
    again["startsAt"] = "2026-01-05T10:06:00Z"
    flow.send(t0 + timedelta(minutes=6), _alert(0), again)
    assert flow.actions() == [
        ("open", ["opened"]),
        ("update", ["alert_resolved", "alert_refired"]),
    ]


def test_growth_raises_the_priority_one_step_per_threshold_one_update_each(
    engine: Engine, t0: datetime
) -> None:
    text = CONFIG.replace(
        "update_every_alerts: 10}", "update_every_alerts: 100, raise_priority_at: [3, 5]}"
    )
    flow = _flow(engine, text)
    alerts = []
    for n in range(7):  # a new alert every 6 min: past the update interval each time
        alerts.append(_alert(n))
        flow.send(t0 + timedelta(minutes=6 * n), *alerts)
    with flow.engine.connect() as conn:
        rows = conn.execute(select(outbox.c.action, outbox.c.payload).order_by(outbox.c.id)).all()
        worth = [
            d.inputs["worth"]
            for d in conn.execute(
                select(decisions).where(decisions.c.outcome == "update").order_by(decisions.c.id)
            )
        ]
    sent = [(r.action, r.payload["priority"], r.payload["reasons"]) for r in rows]
    assert sent == [
        ("open", "P3", ["opened"]),
        ("update", "P2", ["alert_added", "grew"]),  # the 3rd alert
        ("update", "P1", ["alert_added", "grew"]),  # the 5th
    ]
    assert worth == [["grew", "priority P3 -> P2"], ["grew", "priority P2 -> P1"]]


def test_growth_can_be_turned_off(engine: Engine, t0: datetime) -> None:
    text = CONFIG.replace(
        "update_every_alerts: 10}", "update_every_alerts: 100, raise_priority_at: []}"
    )
    flow = _flow(engine, text)
    alerts = [_alert(n) for n in range(60)]
    flow.send(t0, *alerts)
    with flow.engine.connect() as conn:
        [priority] = conn.execute(select(outbox.c.payload)).scalars().all()
    assert priority["priority"] == "P3"
