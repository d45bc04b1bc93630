"""Transient auto-pause (a route's `pause`): a new incident of a paused severity files
its ticket only if it still fires when the pause ends; one that resolved within it
is suppressed, on its timeline and in explain, and tickets if it fires again later.
On the virtual clock, the outcome does not depend on the batch size."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from autoticket.api.app import create_app
from autoticket.clock import FixedClock
from autoticket.config import Config, parse_config_text
from autoticket.lifecycle.timers import fire_due
from autoticket.model import Delivery
from autoticket.replay import replay
from autoticket.service.runtime import Runtime
from autoticket.store.tables import decisions, incidents, outbox, timeline
from conftest import am_alert, am_payload, process, token_headers

CONFIG = """
timers: {resolve_after: 5m, reopen_within: 1h}
routes:
  - name: default
    pause: {warning: 2m}
"""
T0 = datetime(2026, 1, 5, 10, 0, 0, tzinfo=UTC)


@pytest.fixture
def paused() -> Config:
    return parse_config_text(CONFIG)


def _ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _alert(at: datetime, status: str = "firing", severity: str = "warning", **kw: Any) -> bytes:
    start = kw.pop("starts_at", at - timedelta(seconds=1))
    alert = am_alert(
        alertname=kw.pop("alertname", "DiskSlow"),
        status=status,
        severity=severity,
        starts_at=_ts(start),
        ends_at=_ts(at - timedelta(seconds=1)),
        **kw,
    )
    return orjson.dumps(am_payload(alert))


def _step(engine: Engine, config: Config, n: int, at: datetime, body: bytes) -> None:
    with engine.begin() as conn:
        fire_due(conn, at, config)
        process(conn, config, [Delivery(f"d{n}", "alertmanager", at, body, {})], at)


def _opens(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        query = select(outbox.c.payload).where(
            outbox.c.action == "open", outbox.c.sink == "builtin"
        )
        return [dict(p) for p in conn.execute(query).scalars()]


def test_a_transient_that_resolved_within_the_pause_files_no_ticket(
    engine: Engine, paused: Config
) -> None:
    _step(engine, paused, 0, T0, _alert(T0))
    assert _opens(engine) == []
    _step(
        engine,
        paused,
        1,
        T0 + timedelta(seconds=60),
        _alert(T0 + timedelta(seconds=60), "resolved", starts_at=T0 - timedelta(seconds=1)),
    )
    with engine.begin() as conn:
        fire_due(conn, T0 + timedelta(minutes=10), paused)
    assert _opens(engine) == []
    with engine.connect() as conn:
        entries = conn.execute(select(timeline.c.kind, timeline.c.message, timeline.c.at)).all()
        held = conn.execute(select(incidents.c.held)).scalar_one()
        outcomes = list(conn.execute(select(decisions.c.outcome)).scalars())
    suppressed = [(m, at) for kind, m, at in entries if kind == "suppressed"]
    assert suppressed == [
        (
            "suppressed: no ticket, all alerts resolved within the 0:02:00 pause",
            T0 + timedelta(minutes=2),
        )
    ]
    assert held == "resolved within its pause"
    assert "ticket paused" in outcomes and "suppressed" in outcomes and "resolve held" in outcomes


def test_still_firing_when_the_pause_ends_opens_the_ticket_then(
    engine: Engine, paused: Config
) -> None:
    _step(engine, paused, 0, T0, _alert(T0))
    _step(
        engine,
        paused,
        1,
        T0 + timedelta(seconds=90),
        _alert(T0 + timedelta(seconds=90), starts_at=T0 - timedelta(seconds=1)),
    )
    assert _opens(engine) == []
    with engine.begin() as conn:
        fire_due(conn, T0 + timedelta(minutes=3), paused)
    [opened] = _opens(engine)
    assert opened["reasons"] == ["opened", "still firing after its 0:02:00 pause"]
    assert "DiskSlow" in opened["body"] and opened["first_received_at"] == T0.isoformat()
    with engine.connect() as conn:
        assert conn.execute(select(incidents.c.held)).scalar_one() is None


def test_unpaused_severities_open_at_once_and_a_transient_tickets_when_it_returns(
    engine: Engine, paused: Config
) -> None:
    _step(engine, paused, 0, T0, _alert(T0, severity="critical", alertname="Down", service="api"))
    assert [o["title"] for o in _opens(engine)] == ["Down on api"]
    # A transient on another service, then the same alert again 20 min later for good.
    t = T0 + timedelta(minutes=1)
    _step(engine, paused, 1, t, _alert(t))
    _step(
        engine,
        paused,
        2,
        t + timedelta(seconds=30),
        _alert(t + timedelta(seconds=30), "resolved", starts_at=t - timedelta(seconds=1)),
    )
    back = t + timedelta(minutes=20)
    _step(engine, paused, 3, back, _alert(back))
    assert len(_opens(engine)) == 1, "it pauses again before filing"
    with engine.begin() as conn:
        fire_due(conn, back + timedelta(minutes=3), paused)
    opens = _opens(engine)
    assert len(opens) == 2 and opens[1]["title"] == "DiskSlow on checkout"


def test_a_paused_incident_that_grows_past_the_paused_severities_files_at_once(
    engine: Engine, paused: Config
) -> None:
    _step(engine, paused, 0, T0, _alert(T0))
    at = T0 + timedelta(seconds=20)
    _step(engine, paused, 1, at, _alert(at, severity="critical", alertname="DiskFull"))
    [opened] = _opens(engine)
    assert opened["reasons"][-1] == "severity critical: its route does not pause it"
    assert opened["priority"] == "P1"
    with engine.begin() as conn:  # the pause's end changes nothing
        fire_due(conn, T0 + timedelta(minutes=3), paused)
    assert len(_opens(engine)) == 1
    with engine.connect() as conn:
        assert conn.execute(select(incidents.c.held)).scalar_one() is None


def _stream(seed: int, length: int = 40, grow: bool = False) -> list[bytes]:
    """Warnings firing and resolving around the 2 minute pause, several groups
    interleaved; with `grow`, now and then a critical alert joins a firing group."""
    rng = random.Random(seed)
    steps = (10, 30, 60, 100, 119, 120, 121, 130, 240, 300, 600, 3600)
    now, lines = T0, []
    episodes: dict[int, tuple[bool, datetime]] = {}
    for n in range(length):
        now += timedelta(seconds=rng.choice(steps))
        g = rng.randrange(8)
        firing, start = episodes.get(g, (False, now))
        if grow and firing and rng.random() < 0.15:  # it grows: a critical alert of the service
            body = _alert(now, severity="critical", alertname=f"G{g}x", service=f"s{g}")
        elif not firing or rng.random() < 0.5:
            if not firing:
                start = now - timedelta(seconds=1)
            body = _alert(now, alertname=f"G{g}", service=f"s{g}", starts_at=start)
            episodes[g] = (True, start)
        else:
            body = _alert(now, "resolved", alertname=f"G{g}", service=f"s{g}", starts_at=start)
            episodes[g] = (False, start)
        line = {
            "id": f"L{n:03d}",
            "source": "alertmanager",
            "received_at": _ts(now),
            "headers": {"content-type": "application/json"},
            "body": json.loads(body),
        }
        lines.append(orjson.dumps(line))
    return lines


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_pauses_replay_the_same_at_every_batch_size(seed: int) -> None:
    config = parse_config_text(CONFIG)
    lines = _stream(seed, grow=seed % 2 == 1)
    outputs = {
        b: json.dumps(replay(iter(lines), config, batch_size=b).output, sort_keys=True)
        for b in (1, 7, 200)
    }
    assert json.loads(outputs[1])["errors"] == []
    assert outputs[7] == outputs[1] and outputs[200] == outputs[1], f"seed {seed}"


def test_the_generated_streams_both_suppress_and_file() -> None:
    """Guards the generator: its streams reach both ends of a pause."""
    config = parse_config_text(CONFIG)
    filed = suppressed = 0
    for seed in range(6):
        out = replay(iter(_stream(seed)), config, batch_size=1).output
        filed += len(out["tickets"])
        suppressed += out["stats"].get("incidents", 0) - len(out["tickets"])
    assert filed > 0 and suppressed > 0


def test_suppressions_are_counted_by_reason_in_metrics(engine: Engine) -> None:
    clock = FixedClock(T0)
    runtime = Runtime(parse_config_text(CONFIG), engine, clock, start_worker=False)
    transient = am_alert(alertname="DiskSlow", severity="warning", starts_at=_ts(T0))
    info = am_alert(alertname="DeployStarted", severity="info", service="search")
    with TestClient(create_app(runtime), base_url="http://localhost") as client:
        assert (
            client.post("/api/v1/ingest/alertmanager", json=am_payload(transient, info)).status_code
            == 202
        )
        runtime.worker.drain()
        clock.set(T0 + timedelta(seconds=30))
        resolved = am_alert(
            alertname="DiskSlow",
            severity="warning",
            status="resolved",
            starts_at=_ts(T0),
            ends_at=_ts(T0 + timedelta(seconds=20)),
        )
        assert (
            client.post("/api/v1/ingest/alertmanager", json=am_payload(resolved)).status_code == 202
        )
        runtime.worker.drain()
        clock.set(T0 + timedelta(minutes=3))
        runtime.worker.drain()
        text = client.get("/metrics", headers=token_headers(engine, "v", "viewer")).text
    assert 'autoticket_suppressed_total{reason="info"} 1.0' in text
    assert 'autoticket_suppressed_total{reason="transient"} 1.0' in text
