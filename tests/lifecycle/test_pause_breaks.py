"""A pause asks for an alert that fires through it without a break: one that resolved
and fired again within its pause pauses again from that refire (like Prometheus's
`for`), and a transient back for the second time within the flapping window waits
`flapping.stable_for` before it files. Both named on the timeline and in explain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Engine, select

from autoticket.config import Config, parse_config_text
from autoticket.lifecycle.timers import fire_due
from autoticket.model import Delivery
from autoticket.store.tables import decisions, outbox, timeline
from conftest import am_alert, am_payload, process

CONFIG = """
timers: {resolve_after: 5m, reopen_within: 1h}
correlation: {flapping: {toggles: 3, window: 1h, stable_for: 30m}}
routes:
  - name: default
    pause: {warning: 6m}
"""
T0 = datetime(2026, 1, 5, 10, 0, 0, tzinfo=UTC)


def _ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class _Stream:
    """One warning's episodes delivered as Alertmanager does, timers fired in between."""

    def __init__(self, engine: Engine, config: Config) -> None:
        self.engine, self.config, self.n = engine, config, 0
        self.started = T0

    def _send(self, at: datetime, status: str) -> None:
        alert = am_alert(
            alertname="HighMemoryUsage",
            status=status,
            severity="warning",
            starts_at=_ts(self.started),
            ends_at=_ts(at - timedelta(seconds=1)),
        )
        body = orjson.dumps(am_payload(alert))
        self.n += 1
        with self.engine.begin() as conn:
            fire_due(conn, at, self.config)
            process(conn, self.config, [Delivery(f"d{self.n}", "alertmanager", at, body, {})], at)

    def fire(self, minute: float) -> None:
        self.started = T0 + timedelta(minutes=minute)
        self._send(self.started + timedelta(seconds=1), "firing")

    def resolve(self, minute: float) -> None:
        self._send(T0 + timedelta(minutes=minute), "resolved")

    def wait(self, minute: float) -> None:
        with self.engine.begin() as conn:
            fire_due(conn, T0 + timedelta(minutes=minute), self.config)


def _opens(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        query = select(outbox.c.payload).where(
            outbox.c.action == "open", outbox.c.sink == "builtin"
        )
        return [dict(p) for p in conn.execute(query).scalars()]


def _timeline(engine: Engine, kind: str) -> list[tuple[str, datetime]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(timeline.c.message, timeline.c.at)
            .where(timeline.c.kind == kind)
            .order_by(timeline.c.at, timeline.c.id)
        ).all()
    return [(m, at.replace(tzinfo=UTC) if at.tzinfo is None else at) for m, at in rows]


def test_a_break_within_the_pause_pauses_again_from_the_refire(engine: Engine) -> None:
    config = parse_config_text(CONFIG)
    s = _Stream(engine, config)
    s.fire(0)
    s.resolve(2)
    s.fire(4)  # back within the pause (due at 6 min), before the resolve timer
    s.wait(6.1)
    assert _opens(engine) == [], "it did not fire for 6 minutes without a break"
    [(message, at)] = _timeline(engine, "pause_restarted")
    assert at == T0 + timedelta(minutes=6, seconds=1)
    assert "fires until 2026-01-05T10:10:01" in message
    with engine.connect() as conn:
        outcomes = list(conn.execute(select(decisions.c.outcome)).scalars())
    assert "pause restarted" in outcomes
    s.wait(9)
    assert _opens(engine) == []
    s.wait(10.1)  # 6 minutes after the refire, still firing: filed
    [opened] = _opens(engine)
    assert opened["reasons"][-1] == "still firing after its 0:06:00 pause"


def test_a_steady_alert_files_at_the_end_of_its_pause(engine: Engine) -> None:
    config = parse_config_text(CONFIG)
    s = _Stream(engine, config)
    s.fire(0)
    s.wait(6.1)
    assert len(_opens(engine)) == 1
    assert _timeline(engine, "pause_restarted") == []


def test_a_transient_back_twice_waits_as_long_as_a_flapper_must_be_stable(
    engine: Engine,
) -> None:
    config = parse_config_text(CONFIG)
    s = _Stream(engine, config)
    s.fire(0)
    s.resolve(3)
    s.wait(6.1)  # resolved within the pause: a transient
    assert len(_timeline(engine, "suppressed")) == 1
    s.fire(8)  # back once: the route's pause again
    s.resolve(11)
    s.wait(14.1)
    assert len(_timeline(engine, "suppressed")) == 2
    s.fire(16)  # back a second time within the hour: 30 minutes
    s.wait(22.1)
    s.wait(45)
    assert _opens(engine) == [], "a flapper files only once it fires for stable_for"
    s.wait(46.1)
    [opened] = _opens(engine)
    assert opened["reasons"][-1] == "still firing after its 0:30:00 pause"


def test_a_transient_back_once_pauses_as_its_route_says(engine: Engine) -> None:
    config = parse_config_text(CONFIG)
    s = _Stream(engine, config)
    s.fire(0)
    s.resolve(3)
    s.wait(6.1)
    s.fire(8)
    s.wait(14.1)
    [opened] = _opens(engine)
    assert opened["reasons"][-1] == "still firing after its 0:06:00 pause"


def test_without_flapping_detection_a_returning_transient_keeps_the_route_pause(
    engine: Engine,
) -> None:
    config = parse_config_text(
        CONFIG.replace("stable_for: 30m}", "stable_for: 30m, enabled: false}")
    )
    s = _Stream(engine, config)
    for start in (0, 8):
        s.fire(start)
        s.resolve(start + 3)
        s.wait(start + 6.1)
    s.fire(16)
    s.wait(22.1)
    [opened] = _opens(engine)
    assert opened["reasons"][-1] == "still firing after its 0:06:00 pause"


def test_a_restart_records_its_timer_timeline_and_explain(engine: Engine) -> None:
    from autoticket.store.tables import timers

    config = parse_config_text(CONFIG)
    s = _Stream(engine, config)
    s.fire(0)
    s.resolve(2)
    s.fire(4)
    s.wait(6.1)
    refire = T0 + timedelta(minutes=4, seconds=1)
    with engine.connect() as conn:
        [(due, created)] = conn.execute(
            select(timers.c.due_at, timers.c.created_at).where(timers.c.kind == "ticket_pause")
        ).all()
        [data] = conn.execute(
            select(timeline.c.data).where(timeline.c.kind == "pause_restarted")
        ).scalars()
        [inputs] = conn.execute(
            select(decisions.c.inputs).where(decisions.c.outcome == "pause restarted")
        ).scalars()
    utc = [t.replace(tzinfo=UTC) if t.tzinfo is None else t for t in (due, created)]
    assert utc == [refire + timedelta(minutes=6), T0 + timedelta(minutes=6, seconds=1)]
    assert data == {"until": (refire + timedelta(minutes=6)).isoformat()}
    assert inputs == {
        "reason": "fired again after a break within its pause",
        "pause": "0:06:00",
        "fired_again": refire.isoformat(),
        "until": (refire + timedelta(minutes=6)).isoformat(),
    }


def test_a_transient_is_recorded_with_its_reason_and_pause(engine: Engine) -> None:
    config = parse_config_text(CONFIG)
    s = _Stream(engine, config)
    s.fire(0)
    s.resolve(3)
    s.wait(6.1)
    with engine.connect() as conn:
        [data] = conn.execute(
            select(timeline.c.data).where(timeline.c.kind == "suppressed")
        ).scalars()
        [inputs] = conn.execute(
            select(decisions.c.inputs).where(decisions.c.outcome == "suppressed")
        ).scalars()
    assert data == {"reason": "transient", "pause_seconds": 360.0}
    due = T0 + timedelta(minutes=6, seconds=1)
    assert inputs == {"reason": "transient", "pause": "0:06:00", "due": due.isoformat()}


def test_the_ticket_filed_after_its_pause_keeps_the_routes_sinks_and_rule(engine: Engine) -> None:
    hook = "sinks:\n  hook: {type: webhook, url: 'https://h.example/x', secret_env: HOOK_SECRET}\n"
    routed = CONFIG.replace("{warning: 6m}\n", "{warning: 6m}\n    sinks: [builtin, hook]\n")
    config = parse_config_text(routed + hook)
    s = _Stream(engine, config)
    s.fire(0)
    s.wait(6.1)
    with engine.connect() as conn:
        sent = conn.execute(
            select(outbox.c.sink, outbox.c.payload).where(outbox.c.action == "open")
        ).all()
        [inputs] = conn.execute(
            select(decisions.c.rule, decisions.c.inputs).where(decisions.c.outcome == "open")
        ).all()
    assert sorted(sink for sink, _ in sent) == ["builtin", "hook"]
    assert inputs.rule == "default"
    assert inputs.inputs["pause"] == "0:06:00"


def test_fired_again_and_resolved_again_within_the_pause_is_a_transient(engine: Engine) -> None:
    config = parse_config_text(CONFIG)
    s = _Stream(engine, config)
    s.fire(0)
    s.resolve(1)
    s.fire(2)
    s.resolve(3)
    s.wait(6.1)
    assert _timeline(engine, "pause_restarted") == []
    assert len(_timeline(engine, "suppressed")) == 1
    assert _opens(engine) == []


def test_each_due_pause_is_ended_and_counted(engine: Engine) -> None:
    """A pause whose incident is no longer paused (it grew) is skipped, not the
    ones after it; fire_due counts each pause that opened a ticket or suppressed."""
    config = parse_config_text(CONFIG)
    at = T0 + timedelta(seconds=1)
    for n, (service, severity) in enumerate([("a", "warning"), ("b", "warning"), ("c", "warning")]):
        alert = am_alert(alertname="Slow", service=service, severity=severity, starts_at=_ts(T0))
        body = orjson.dumps(am_payload(alert))
        with engine.begin() as conn:
            process(conn, config, [Delivery(f"p{n}", "alertmanager", at, body, {})], at)
    grown = am_alert(alertname="Down", service="a", severity="critical", starts_at=_ts(T0))
    later = T0 + timedelta(minutes=1)
    with engine.begin() as conn:  # a grows past the paused severities: filed at once
        process(
            conn,
            config,
            [Delivery("g", "alertmanager", later, orjson.dumps(am_payload(grown)), {})],
            later,
        )
    assert [o["title"] for o in _opens(engine)] == ["Slow on a"]
    with engine.begin() as conn:
        acted = fire_due(conn, T0 + timedelta(minutes=7), config)
    assert acted == 2
    assert sorted(o["title"] for o in _opens(engine)) == ["Slow on a", "Slow on b", "Slow on c"]
