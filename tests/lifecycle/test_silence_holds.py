"""Silences and maintenance windows: a new incident whose firing alerts a silence covers
files no ticket while it lasts (held, explained, on its timeline, counted); when the
silence ends (or is expired) and an alert still fires, the ticket opens then; an
alert no silence covers lifts the hold at once; what resolved meanwhile files none."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, select

from autoticket.config import Config, parse_config_text
from autoticket.lifecycle.timers import fire_due
from autoticket.model import Delivery, Release
from autoticket.replay import replay
from autoticket.store.releases import save_release
from autoticket.store.silences import create_silence, expire_silence
from autoticket.store.tables import decisions, incidents, outbox, timeline, timers
from conftest import am_alert, am_payload, process

T0 = datetime(2026, 1, 5, 10, 0, 0, tzinfo=UTC)
BASE = """
timers: {resolve_after: 5m, reopen_within: 1h}
routes:
  - name: default
"""
SILENCED = (
    BASE
    + """
silences:
  - name: checkout-migration
    matchers: ['service="checkout"', 'alertname=~"Disk.*"']
    starts_at: 2026-01-05T09:00:00Z
    ends_at: 2026-01-05T11:00:00Z
    comment: schema migration
    author: alice
"""
)


def _ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _alert(at: datetime, status: str = "firing", **kw: Any) -> bytes:
    start = kw.pop("starts_at", at - timedelta(seconds=1))
    alert = am_alert(
        alertname=kw.pop("alertname", "DiskFull"),
        status=status,
        severity=kw.pop("severity", "critical"),
        starts_at=_ts(start),
        ends_at=_ts(at - timedelta(seconds=1)),
        **kw,
    )
    return orjson.dumps(am_payload(alert))


def _step(engine: Engine, config: Config, n: int, at: datetime, body: bytes) -> None:
    with engine.begin() as conn:
        fire_due(conn, at, config)
        process(conn, config, [Delivery(f"d{n}", "alertmanager", at, body, {})], at)


def _actions(engine: Engine) -> list[tuple[str, dict[str, Any]]]:
    with engine.connect() as conn:
        query = (
            select(outbox.c.action, outbox.c.payload)
            .where(outbox.c.sink == "builtin")
            .order_by(outbox.c.id)
        )
        return [(a, dict(p)) for a, p in conn.execute(query)]


def _held(engine: Engine) -> list[str | None]:
    with engine.connect() as conn:
        return list(conn.execute(select(incidents.c.held).order_by(incidents.c.id)).scalars())


def test_a_silenced_alert_files_no_ticket_until_the_silence_ends_while_it_fires(
    engine: Engine,
) -> None:
    config = parse_config_text(SILENCED)
    _step(engine, config, 0, T0, _alert(T0))
    assert _actions(engine) == []
    assert _held(engine) == ["silenced"]
    with engine.connect() as conn:
        held = conn.execute(
            select(decisions.c.inputs).where(decisions.c.outcome == "ticket held")
        ).scalar_one()
        notes = conn.execute(
            select(timeline.c.message).where(timeline.c.kind == "silenced")
        ).scalar_one()
        due = conn.execute(
            select(timers.c.due_at).where(timers.c.kind == "silence_end")
        ).scalar_one()
    assert held["mechanism"] == "silence" and held["silence"] == "config:checkout-migration"
    assert held["by"] == "silence config:checkout-migration by alice: schema migration"
    assert "until 2026-01-05T11:00:00+00:00" in notes
    assert due == datetime(2026, 1, 5, 11, 0, tzinfo=UTC)
    # Still firing a minute before the end: nothing yet; at the end: the ticket opens.
    with engine.begin() as conn:
        fire_due(conn, due - timedelta(minutes=1), config)
    assert _actions(engine) == []
    with engine.begin() as conn:
        fire_due(conn, due, config)
    [(action, payload)] = _actions(engine)
    assert action == "open"
    assert (
        payload["reasons"][-1] == "the silence ended while alert 'DiskFull on checkout' still fires"
    )
    assert payload["first_received_at"] == T0.isoformat() and "DiskFull" in payload["body"]
    assert payload["at"] == due.isoformat()
    assert _held(engine) == [None]


def test_what_resolved_under_the_silence_never_files(engine: Engine) -> None:
    config = parse_config_text(SILENCED)
    _step(engine, config, 0, T0, _alert(T0))
    t = T0 + timedelta(minutes=10)
    _step(engine, config, 1, t, _alert(t, "resolved", starts_at=T0 - timedelta(seconds=1)))
    with engine.begin() as conn:
        fire_due(conn, T0 + timedelta(hours=3), config)
    assert _actions(engine) == []
    with engine.connect() as conn:
        outcomes = list(conn.execute(select(decisions.c.outcome)).scalars())
    assert "resolve held" in outcomes


def test_an_alert_no_silence_covers_lifts_the_hold_at_once(engine: Engine) -> None:
    config = parse_config_text(SILENCED)
    _step(engine, config, 0, T0, _alert(T0))
    t = T0 + timedelta(minutes=2)
    # Same service (cross-alert: one incident), an alertname the silence leaves out.
    _step(engine, config, 1, t, _alert(t, alertname="HighLatency"))
    [(action, payload)] = _actions(engine)
    assert action == "open"
    assert payload["reasons"][-1] == (
        "alert 'HighLatency on checkout' fires and no silence covers it"
    )
    # An unsilenced alert at once: never held.
    _step(engine, config, 2, t, _alert(t, service="cart"))
    assert [a for a, _ in _actions(engine)] == ["open", "open"]
    assert _held(engine) == [None, None]


def test_outside_its_time_range_a_silence_holds_nothing(engine: Engine) -> None:
    config = parse_config_text(SILENCED)
    late = datetime(2026, 1, 5, 11, 0, tzinfo=UTC)  # ends_at is exclusive
    _step(engine, config, 0, late, _alert(late))
    assert [a for a, _ in _actions(engine)] == ["open"]


def test_expiring_a_stored_silence_files_the_held_ticket_then(engine: Engine) -> None:
    config = parse_config_text(BASE)
    with engine.begin() as conn:
        silence_id = create_silence(
            conn,
            ['service="checkout"'],
            T0 - timedelta(minutes=5),
            T0 + timedelta(hours=4),
            "bob",
            "failover drill",
            T0,
        )
    _step(engine, config, 0, T0, _alert(T0))
    assert _actions(engine) == [] and _held(engine) == ["silenced"]
    expired_at = T0 + timedelta(minutes=20)
    with engine.begin() as conn:
        assert expire_silence(conn, silence_id, "carol", expired_at)
        assert not expire_silence(conn, silence_id, "carol", expired_at)
    with engine.begin() as conn:
        fire_due(conn, expired_at, config)
    [(action, payload)] = _actions(engine)
    assert action == "open" and payload["at"] == expired_at.isoformat()


def test_a_longer_silence_keeps_holding_when_the_first_ends(engine: Engine) -> None:
    config = parse_config_text(SILENCED)
    with engine.begin() as conn:
        create_silence(
            conn, ['alertname="DiskFull"'], T0, T0 + timedelta(hours=6), "bob", "disk swap", T0
        )
    _step(engine, config, 0, T0, _alert(T0))
    with engine.begin() as conn:
        fire_due(conn, T0 + timedelta(hours=2), config)
        due = conn.execute(
            select(timers.c.due_at).where(timers.c.kind == "silence_end")
        ).scalar_one()
    assert _actions(engine) == [] and due == T0 + timedelta(hours=6)
    with engine.begin() as conn:
        fire_due(conn, T0 + timedelta(hours=6), config)
    assert [a for a, _ in _actions(engine)] == ["open"]


def test_a_silence_holds_the_reopening_of_a_resolved_ticket(engine: Engine) -> None:
    config = parse_config_text(BASE)
    _step(engine, config, 0, T0, _alert(T0))
    t1 = T0 + timedelta(minutes=5)
    _step(engine, config, 1, t1, _alert(t1, "resolved", starts_at=T0 - timedelta(seconds=1)))
    with engine.begin() as conn:
        fire_due(conn, t1 + timedelta(minutes=5), config)
        create_silence(
            conn, ['service="checkout"'], t1, t1 + timedelta(hours=1), "dave", "restart", t1
        )
    assert [a for a, _ in _actions(engine)] == ["open", "resolve"]
    t2 = t1 + timedelta(minutes=20)
    _step(engine, config, 2, t2, _alert(t2))
    assert [a for a, _ in _actions(engine)] == ["open", "resolve"]
    assert _held(engine) == ["silenced (reopen)"]
    with engine.begin() as conn:
        fire_due(conn, t1 + timedelta(hours=1), config)
    assert [a for a, _ in _actions(engine)] == ["open", "resolve", "reopen"]


def _stream(events: list[tuple[int, str, str]]) -> list[bytes]:
    lines = []
    for n, (minute, status, name) in enumerate(events):
        at = T0 + timedelta(minutes=minute)
        start = (
            T0 + timedelta(minutes=min(m for m, _, a in events if a == name)) - timedelta(seconds=1)
        )
        body = json.loads(_alert(at, status, alertname=name, starts_at=start))
        line = {"id": f"L{n}", "source": "alertmanager", "received_at": _ts(at), "body": body}
        lines.append(orjson.dumps(line))
    return lines


@pytest.mark.parametrize(
    ("last", "tickets"),
    [
        ((61, "firing", "DiskFull"), 1),  # still firing when the silence ends at 11:00
        ((50, "resolved", "DiskFull"), 0),  # resolved under the silence
    ],
)
def test_replay_holds_and_lifts_on_the_virtual_clock_at_every_batch_size(
    last: tuple[int, str, str], tickets: int
) -> None:
    config = parse_config_text(SILENCED)
    lines = _stream([(0, "firing", "DiskFull"), (30, "firing", "DiskFull"), last])
    outputs = {b: replay(iter(lines), config, batch_size=b).output for b in (1, 2, 200)}
    assert outputs[1]["errors"] == []
    assert len(outputs[1]["tickets"]) == tickets
    assert outputs[2] == outputs[1] and outputs[200] == outputs[1]


RELEASE_QUIET = """
timers: {resolve_after: 5m, reopen_within: 1h}
routes:
  - name: default
    during_release: {severities: [warning], window: 30m}
"""


def test_a_warning_during_its_service_s_release_window_waits_for_the_window(
    engine: Engine,
) -> None:
    config = parse_config_text(RELEASE_QUIET)
    started = T0 - timedelta(minutes=10)
    with engine.begin() as conn:
        release = Release("checkout", "prod", "1.4.0", started, deployer="ci-bot")
        save_release(conn, release, started)
        # Another service's release and an older one of checkout hold nothing here.
        save_release(conn, Release("cart", "prod", "9.9", started), started)
        old = T0 - timedelta(hours=2)
        save_release(conn, Release("checkout", "prod", "1.3.9", old), old)
    _step(engine, config, 0, T0, _alert(T0, severity="warning", alertname="Slow"))
    assert _actions(engine) == [] and _held(engine) == ["silenced"]
    with engine.connect() as conn:
        held = conn.execute(
            select(decisions.c.inputs).where(decisions.c.outcome == "ticket held")
        ).scalar_one()
    assert (
        held["mechanism"] == "release"
        and held["until"] == (started + timedelta(minutes=30)).isoformat()
    )
    assert "checkout 1.4.0" in held["by"] and "ci-bot" in held["by"]
    # Critical is not a class the route names: it files at once, release or not.
    _step(engine, config, 1, T0, _alert(T0, alertname="Down", service="cart"))
    assert [a for a, _ in _actions(engine)] == ["open"]
    with engine.begin() as conn:
        fire_due(conn, started + timedelta(minutes=30), config)
    opens = [p["title"] for a, p in _actions(engine) if a == "open"]
    assert opens == ["Down on cart", "Slow on checkout"]


def test_outside_a_release_window_a_warning_tickets_at_once(engine: Engine) -> None:
    config = parse_config_text(RELEASE_QUIET)
    with engine.begin() as conn:
        early = T0 - timedelta(minutes=31)
        save_release(conn, Release("checkout", "prod", "1.4.0", early), early)
        save_release(conn, Release("checkout", "staging", "1.5.0", T0), T0)
    _step(engine, config, 0, T0, _alert(T0, severity="warning", alertname="Slow"))
    assert [a for a, _ in _actions(engine)] == ["open"]


def test_the_end_of_a_silence_lifts_each_held_incident_and_says_why(engine: Engine) -> None:
    config = parse_config_text(
        SILENCED.replace(
            """['service="checkout"', 'alertname=~"Disk.*"']""", """['alertname=~"Disk.*"']"""
        )
    )
    _step(engine, config, 0, T0, _alert(T0, service="checkout"))
    _step(engine, config, 1, T0, _alert(T0, service="cart"))
    # checkout's hold lifts at once: an alert no silence covers fires there.
    later = T0 + timedelta(minutes=1)
    _step(engine, config, 2, later, _alert(later, service="checkout", alertname="CPUHigh"))
    assert [p["title"] for _, p in _actions(engine)] == ["DiskFull on checkout"]
    end = datetime(2026, 1, 5, 11, 0, tzinfo=UTC)
    with engine.begin() as conn:
        acted = fire_due(conn, end, config)
    assert acted == 1
    assert [p["title"] for a, p in _actions(engine) if a == "open"] == [
        "DiskFull on checkout",
        "DiskFull on cart",
    ]
    with engine.connect() as conn:
        cart = conn.execute(
            select(incidents.c.id).where(incidents.c.correlation_key.like("%service=cart"))
        ).scalar_one()
        [data] = conn.execute(
            select(timeline.c.data).where(
                timeline.c.incident_id == cart, timeline.c.kind == "unsilenced"
            )
        ).scalars()
        [(rule, inputs)] = conn.execute(
            select(decisions.c.rule, decisions.c.inputs).where(
                decisions.c.incident_id == cart, decisions.c.stage == "lifecycle"
            )
        ).all()
    assert data == {"alert": "DiskFull on cart"}
    assert rule == "default"
    assert inputs["mechanism"] == "silence" and inputs["due"] == end.isoformat()
