"""End to end over real HTTP on 127.0.0.1: ingest → worker → outbox → webhook lane.

Also: a sink that takes 2 s per call holds up neither ingest nor the built-in tickets.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from autoticket.api.app import create_app
from autoticket.clock import FixedClock
from autoticket.config import parse_config_text
from autoticket.service.runtime import Runtime
from autoticket.sinks import BuiltinSink, OutboxItem, Sink, SinkResult
from autoticket.store.tables import outbox, ticket_refs, tickets
from conftest import am_alert, am_payload

INGEST = "/api/v1/ingest/alertmanager"
SECRET = "e2e-hmac-secret"


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    signed: bool


@dataclass
class Receiver:
    """A webhook receiver that checks signatures and answers from a script."""

    answers: list[tuple[int, dict[str, str], dict[str, Any] | None]] = field(default_factory=list)
    got: list[Received] = field(default_factory=list)
    url: str = ""

    def handle(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        stamp = headers.get("x-autoticket-timestamp", "")
        mac = hmac.new(SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        given = headers.get("x-autoticket-signature", "")
        self.got.append(Received(headers, body, hmac.compare_digest(f"sha256={mac}", given)))
        status, extra, payload = self.answers.pop(0) if self.answers else (200, {}, None)
        return status, extra, json.dumps(payload).encode() if payload is not None else b""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, extra, out = state.handle(headers, body)
            self.send_response(status)
            for name, value in {**extra, "Content-Length": str(len(out))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def wait_for(check: Callable[[], bool], what: str, seconds: float = 60) -> None:
    """Poll until `check()`; the bound only keeps a broken build from hanging the suite."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


def hook_row(engine: Engine) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(outbox).where(outbox.c.sink == "hook")).first()


def test_an_alert_reaches_the_webhook_signed_after_500_and_429(
    engine: Engine, t0: datetime, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("E2E_HOOK_SECRET", SECRET)
    config = parse_config_text(
        f"""
sinks:
  hook: {{type: webhook, url: "{receiver.url}", secret_env: E2E_HOOK_SECRET, timeout: 5s}}
routes:
  - {{name: default, group_by: [alertname, service], sinks: [builtin, hook]}}
"""
    )
    receiver.answers = [
        (500, {}, None),
        (429, {"Retry-After": "30"}, None),
        (201, {"Content-Type": "application/json"}, {"id": "HOOK-1", "url": "https://x/HOOK-1"}),
    ]
    clock = FixedClock(t0)
    runtime = Runtime(config, engine, clock=clock)
    with TestClient(create_app(runtime), base_url="http://localhost") as client:
        assert client.post(INGEST, json=am_payload(am_alert())).status_code == 202
        wait_for(lambda: (row := hook_row(engine)) is not None and row.attempts == 1, "500")
        clock.set(t0 + timedelta(seconds=1))  # the backoff after the first attempt
        runtime.external.wake()
        wait_for(lambda: hook_row(engine).attempts == 2, "the 429")
        assert hook_row(engine).next_attempt_at == t0 + timedelta(seconds=31), "Retry-After"
        clock.set(t0 + timedelta(seconds=31))
        runtime.external.wake()
        wait_for(lambda: hook_row(engine).status == "done", "delivery")
    assert len(receiver.got) == 3
    metrics = runtime.telemetry.render().decode()
    assert 'autoticket_sink_attempts_total{outcome="retry",sink="hook"} 2.0' in metrics
    assert 'autoticket_sink_attempts_total{outcome="ok",sink="hook"} 1.0' in metrics
    assert all(r.signed for r in receiver.got)
    keys = {r.headers["idempotency-key"] for r in receiver.got}
    body = json.loads(receiver.got[0].body)
    assert keys == {body["idempotency_key"]}
    assert (body["version"], body["action"], body["ticket"]["priority"]) == ("1", "open", "P1")
    assert [json.loads(r.body)["attempt"] for r in receiver.got] == [1, 2, 3]
    with engine.connect() as conn:
        ticket_id = conn.execute(select(tickets.c.id)).scalar_one()
        refs = conn.execute(select(ticket_refs)).all()
    assert [(r.ticket_id, r.sink, r.external_id, r.url) for r in refs] == [
        (ticket_id, "hook", "HOOK-1", "https://x/HOOK-1")
    ]


class SleepySink(Sink):
    """Takes 2 s per call, like a remote at its limit."""

    type = "sleepy"

    def __init__(self, name: str) -> None:
        import httpx

        super().__init__(name, Sink.Settings(), httpx.Client())
        self.done: list[str] = []
        self.busy = threading.Event()

    def apply(self, item: OutboxItem) -> SinkResult:
        self.busy.set()
        time.sleep(2)
        self.done.append(item.idempotency_key)
        return SinkResult("ok")


def test_a_slow_sink_holds_up_neither_ingest_nor_the_builtin_tickets(
    engine: Engine, t0: datetime
) -> None:
    config = parse_config_text(
        "sinks: {slow: {type: sleepy}}\n"
        "routes: [{name: default, group_by: [alertname], sinks: [builtin, slow]}]\n"
    )
    slow = SleepySink("slow")
    runtime = Runtime(
        config, engine, clock=FixedClock(t0), sinks={"builtin": BuiltinSink(), "slow": slow}
    )
    count = 12
    seconds: list[float] = []

    def ticket_count() -> int:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(tickets)).scalar_one())

    with TestClient(create_app(runtime), base_url="http://localhost") as client:
        assert client.post(INGEST, json=am_payload(am_alert(alertname="First"))).status_code == 202
        assert slow.busy.wait(60), "the slow sink was never called"
        for i in range(1, count):
            started = time.perf_counter()
            answer = client.post(INGEST, json=am_payload(am_alert(alertname=f"Slow{i}")))
            seconds.append(time.perf_counter() - started)
            assert answer.status_code == 202
        wait_for(lambda: ticket_count() == count, "the built-in tickets")
        delivered_meanwhile = len(slow.done)
    assert delivered_meanwhile < count, "the built-in tickets waited for the slow sink"
    quantiles = statistics.quantiles(seconds, n=100)
    print(
        f"ingest latency with a 2 s sink: p50 {quantiles[49]:.4f}s p99 {quantiles[98]:.4f}s; "
        f"{delivered_meanwhile}/{count} slow deliveries done when all tickets existed"
    )
