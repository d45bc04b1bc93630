"""Escalation in replay (virtual clock) and live (worker, API and UI acknowledgement)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from autoticket.api.app import create_app
from autoticket.clock import FixedClock
from autoticket.config import Config
from autoticket.replay import replay
from autoticket.service.runtime import Runtime
from autoticket.store.tables import timeline
from conftest import am_alert, am_payload
from oncall.escalation_config import escalation_config


@pytest.fixture
def config() -> Config:
    return escalation_config()


def _entries(engine: Engine) -> list[tuple[datetime, str, str]]:
    query = (
        select(timeline.c.at, timeline.c.kind, timeline.c.message)
        .where(timeline.c.kind.in_(["escalation", "escalation_stopped"]))
        .order_by(timeline.c.at, timeline.c.id)
    )
    with engine.connect() as conn:
        return [(r.at.replace(tzinfo=None), r.kind, r.message) for r in conn.execute(query)]


def _line(line_id: str, at: datetime, body: object) -> bytes:
    return orjson.dumps(
        {
            "id": line_id,
            "source": "alertmanager",
            "received_at": at.isoformat().replace("+00:00", "Z"),
            "headers": {"content-type": "application/json"},
            "body": body,
        }
    )


def test_replay_runs_the_steps_on_the_virtual_clock(
    engine: Engine, config: Config, t0: datetime
) -> None:
    """The alert resolves at t0+12m: steps at t0, t0+5m; resolved at t0+17m (resolve_after
    5m), so round 2's first step, due at t0+15m, still pages; at t0+20m it has ended."""
    resolved = am_alert(status="resolved", ends_at="2026-01-05T10:12:00Z")
    lines = [
        _line("L1", t0, am_payload(am_alert())),
        _line("L2", t0 + timedelta(minutes=12), am_payload(resolved)),
    ]
    out = replay(iter(lines), config, engine=engine).output
    assert [(t["status"], t["responder"]) for t in out["tickets"]] == [("resolved", "ann")]
    base = t0.replace(tzinfo=None)
    assert [(at - base, kind) for at, kind, _ in _entries(engine)] == [
        (timedelta(0), "escalation"),
        (timedelta(minutes=5), "escalation"),
        (timedelta(minutes=15), "escalation"),
        (timedelta(minutes=20), "escalation_stopped"),
    ]
    assert "notified carol" in _entries(engine)[1][2]


@pytest.fixture
def clock(t0: datetime) -> FixedClock:
    return FixedClock(t0)


@pytest.fixture
def client(engine: Engine, config: Config, clock: FixedClock) -> Iterator[TestClient]:
    runtime = Runtime(config, engine, clock=clock, start_worker=False)
    with TestClient(create_app(runtime), base_url="http://localhost") as c:
        c.app_state = runtime  # type: ignore[attr-defined]
        yield c
    runtime.stop()


def _drain_at(client: TestClient, clock: FixedClock, at: datetime) -> None:
    clock.set(at)
    client.app_state.worker.drain()  # type: ignore[attr-defined]


def test_live_escalation_names_the_responder_until_acknowledged(
    client: TestClient, clock: FixedClock, engine: Engine, t0: datetime
) -> None:
    assert (
        client.post("/api/v1/ingest/alertmanager", json=am_payload(am_alert())).status_code == 202
    )
    _drain_at(client, clock, t0)
    _drain_at(client, clock, t0 + timedelta(seconds=1))  # the first step, due at t0
    [incident] = client.get("/api/v1/incidents").json()["items"]
    assert incident["responder"] == "ann"
    _drain_at(client, clock, t0 + timedelta(minutes=5))
    detail = client.get(f"/api/v1/incidents/{incident['id']}").json()
    assert detail["responder"] == "carol"
    [ticket] = client.get("/api/v1/tickets").json()["items"]
    assert client.get(f"/api/v1/tickets/{ticket['id']}").json()["responder"] == "carol"
    clock.set(t0 + timedelta(minutes=6))
    r = client.post(f"/api/v1/incidents/{incident['id']}/ack", json={})
    assert r.status_code == 200, r.text
    _drain_at(client, clock, t0 + timedelta(hours=1))
    assert [kind for _, kind, _ in _entries(engine)] == [
        "escalation",
        "escalation",
        "escalation_stopped",
    ]
    assert _entries(engine)[-1][2] == "escalation stopped: acknowledged by anonymous (api)"


def test_the_ui_acknowledge_button_stops_it_and_the_page_names_the_responder(
    client: TestClient, clock: FixedClock, engine: Engine, t0: datetime
) -> None:
    client.post("/api/v1/ingest/alertmanager", json=am_payload(am_alert()))
    _drain_at(client, clock, t0)
    _drain_at(client, clock, t0 + timedelta(seconds=1))
    [incident] = client.get("/api/v1/incidents").json()["items"]
    page = client.get(f"/incidents/{incident['id']}").text
    assert "<dt>Responder</dt><dd>ann</dd>" in page
    r = client.post(f"/incidents/{incident['id']}/ack", follow_redirects=False)
    assert r.status_code == 303
    _drain_at(client, clock, t0 + timedelta(hours=1))
    assert _entries(engine)[-1][2] == "escalation stopped: acknowledged by anonymous (ui)"
    assert [kind for _, kind, _ in _entries(engine)] == ["escalation", "escalation_stopped"]


def test_replay_names_the_on_call_of_a_team_without_a_policy(t0: datetime) -> None:
    """No escalation: the ticket still names who was on call for its team when it opened."""
    plain = escalation_config()
    teams = dict(plain.catalog.teams)
    teams["payments"] = teams["payments"].model_copy(update={"escalation_policy": None})
    config = plain.model_copy(update={"catalog": plain.catalog.model_copy(update={"teams": teams})})
    later = t0 + timedelta(days=1)  # bob's day
    out = replay(iter([_line("L1", later, am_payload(am_alert()))]), config).output
    assert [(t["team"], t["responder"]) for t in out["tickets"]] == [("payments", "bob")]
