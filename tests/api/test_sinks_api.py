"""Sinks in the API: queues and breakers, parked actions and their replay, /metrics,
and the remote callback of two-way sync (a person's close is never fought)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from autoticket.api.app import create_app
from autoticket.clock import FixedClock
from autoticket.config import parse_config_text
from autoticket.model import TicketAction
from autoticket.service.runtime import Runtime
from autoticket.sinks import BuiltinSink, NoSettings, OutboxItem, RemoteChange, Sink, SinkResult
from autoticket.sinks.dispatch import DispatchSettings
from autoticket.sinks.external import Lane
from autoticket.store import outbox as outbox_store
from autoticket.store.tables import outbox, timeline
from conftest import token_headers

CONFIG = "sinks: {trk: {type: builtin}}\nroutes: [{name: default, sinks: [builtin]}]\n"


class Tracker(Sink):
    """A remote tracker that refuses what `refuse` holds and says which tickets changed."""

    type = "tracker"

    def __init__(self) -> None:
        super().__init__("trk", NoSettings(), httpx.Client(), {"TRK_HOOK": "hook-s3cret"})
        self.dispatch = DispatchSettings(webhook_secret_env="TRK_HOOK", max_attempts=2)
        self.refuse: set[str] = set()
        self.calls: list[str] = []

    def apply(self, item: OutboxItem) -> SinkResult:
        self.calls.append(item.action)
        if item.action in self.refuse:
            return SinkResult("permanent", reason="HTTP 422 Unprocessable Entity")
        return SinkResult("ok", external_ref="T-1")

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[RemoteChange]:
        doc = json.loads(body)
        if not isinstance(doc, dict) or "ref" not in doc:
            raise ValueError("expected an object with 'ref'")
        return [RemoteChange(doc["ref"], doc["kind"], by=doc.get("by", ""))]


def _enqueue(engine: Engine, t0: datetime, action: str, version: int) -> None:
    act = TicketAction(1, action, f"1-v{version}-{action}", ["trk"], {"title": "Checkout down"})
    with engine.begin() as conn:
        outbox_store.enqueue(conn, [act], t0)


def _timeline(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(timeline.c.kind).order_by(timeline.c.id)).scalars())


def test_parked_actions_are_listed_counted_and_replayed_by_an_admin(
    engine: Engine, t0: datetime
) -> None:
    tracker = Tracker()
    tracker.refuse = {"open"}
    sinks = {"builtin": BuiltinSink(), "trk": tracker}
    runtime = Runtime(
        parse_config_text(CONFIG), engine, FixedClock(t0), start_worker=False, sinks=sinks
    )
    admin = token_headers(engine, "root", "admin")
    viewer = token_headers(engine, "val", "viewer")
    _enqueue(engine, t0, "open", 1)
    _enqueue(engine, t0, "update", 2)
    assert runtime.external.run_once() == 1
    assert tracker.calls == ["open"], "the parked open holds the update"
    with TestClient(create_app(runtime), base_url="http://localhost") as client:
        listed = {s["name"]: s for s in client.get("/api/v1/sinks", headers=viewer).json()["sinks"]}
        assert listed["trk"]["parked"] == 1 and listed["trk"]["pending"] == 1
        assert listed["trk"]["breaker"]["state"] == "closed"
        assert listed["builtin"]["kind"] == "transactional"
        parked = client.get("/api/v1/sinks/trk/parked", headers=viewer).json()["parked"]
        assert [(p["action"], p["last_error"]) for p in parked] == [
            ("open", "HTTP 422 Unprocessable Entity")
        ]
        metrics = client.get("/metrics", headers=viewer).text
        assert 'autoticket_sink_actions{sink="trk",state="parked"} 1.0' in metrics
        assert 'autoticket_sink_breaker_state{sink="trk"} 0.0' in metrics
        url = f"/api/v1/sinks/trk/parked/{parked[0]['id']}/retry"
        assert client.post(url, headers=viewer).status_code == 403
        assert client.post("/api/v1/sinks/nope/parked/1/retry", headers=admin).status_code == 404
        tracker.refuse = set()
        answer = client.post(url, headers=admin)
        assert answer.status_code == 200, answer.text
        assert client.post(url, headers=admin).status_code == 404, "no longer parked"
        assert runtime.external.run_once() == 2
        assert tracker.calls == ["open", "open", "update"]
        metrics = client.get("/metrics", headers=viewer).text
        assert 'autoticket_sink_actions{sink="trk",state="parked"} 0.0' in metrics
    assert "sink_replayed" in _timeline(engine)


def test_a_person_closing_the_remote_ticket_stops_automatic_reopens_until_reopened(
    engine: Engine, t0: datetime
) -> None:
    tracker = Tracker()
    sinks = {"builtin": BuiltinSink(), "trk": tracker}
    runtime = Runtime(
        parse_config_text(CONFIG), engine, FixedClock(t0), start_worker=False, sinks=sinks
    )
    _enqueue(engine, t0, "open", 1)
    assert runtime.external.run_once() == 1
    hook = "/api/v1/sinks/trk/webhook"
    secret = {"x-autoticket-webhook-secret": "hook-s3cret"}
    closed = {"ref": "T-1", "kind": "closed", "by": "alice"}
    with TestClient(create_app(runtime), base_url="http://localhost") as client:
        assert client.post(hook, json=closed).status_code == 401
        assert (
            client.post(
                hook, json=closed, headers={"x-autoticket-webhook-secret": "no"}
            ).status_code
            == 401
        )
        assert client.post("/api/v1/sinks/builtin/webhook", json=closed).status_code == 404
        bad = client.post(hook, json=["x"], headers=secret)
        assert bad.status_code == 400 and "expected an object" in bad.json()["error"]["message"]
        answer = client.post(hook, json=closed, headers={"authorization": "Bearer hook-s3cret"})
        assert answer.status_code == 202
        assert answer.json() == {"recorded": 1, "unknown": 0, "repeated": 0}
        unknown = client.post(hook, json={"ref": "T-9", "kind": "closed"}, headers=secret)
        assert unknown.json() == {"recorded": 0, "unknown": 1, "repeated": 0}
        _enqueue(engine, t0, "reopen", 2)
        assert runtime.external.run_once() == 0, "no call: a person closed it"
        assert tracker.calls == ["open"]
        with engine.connect() as conn:
            statuses = dict(conn.execute(select(outbox.c.idempotency_key, outbox.c.status)).all())
        assert statuses["1-v2-reopen:trk"] == "done"
        reopened = {"ref": "T-1", "kind": "reopened", "by": "bob"}
        assert client.post(hook, json=reopened, headers=secret).status_code == 202
        _enqueue(engine, t0, "reopen", 3)
        assert runtime.external.run_once() == 1
        assert tracker.calls == ["open", "reopen"]
    assert _timeline(engine) == ["remote_closed", "reopen_skipped", "remote_reopened"]


class PollingTracker(Tracker):
    def __init__(self) -> None:
        super().__init__()
        self.dispatch = DispatchSettings(poll_interval=timedelta(minutes=1))
        self.asked: list[datetime | None] = []
        self.changes: list[RemoteChange] = []

    def poll(self, since: datetime | None) -> list[RemoteChange]:
        self.asked.append(since)
        found, self.changes = self.changes, []
        return found


def test_the_lane_polls_every_interval_and_records_what_people_did(
    engine: Engine, t0: datetime
) -> None:
    tracker = PollingTracker()
    clock = FixedClock(t0)
    lane = Lane(engine, tracker, clock)
    _enqueue(engine, t0, "open", 1)
    assert lane.run_once() == 2  # a poll, then the open
    tracker.changes = [RemoteChange("T-1", "acknowledged", by="carol", at=t0)]
    clock.set(t0 + timedelta(seconds=59))
    assert lane.run_once() == 0, "not before the interval"
    clock.set(t0 + timedelta(minutes=1))
    assert lane.run_once() == 1
    assert tracker.asked == [None, t0]
    with engine.connect() as conn:
        message = conn.execute(select(timeline.c.message)).scalar_one()
    assert message == "trk ticket T-1 acknowledged by carol"
