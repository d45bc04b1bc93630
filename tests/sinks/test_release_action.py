"""The release action webhook over real HTTP on 127.0.0.1: signed, retried, exactly once.

A failed release's rollback reaches a receiver that checks the HMAC
signature over `<timestamp>.<raw body>`; a receiver that fails first gets
the same delivery again after the backoff and records it once; the secret
is only ever named in the config.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from autoticket.clock import FixedClock
from autoticket.config import ConfigError, parse_config_text
from autoticket.engine.round import Round
from autoticket.model import MetricSample, Release
from autoticket.pipeline.runner import build_pipeline
from autoticket.sinks.build import build_sinks, check_sinks, external_sinks, transactional_sinks
from autoticket.sinks.external import ExternalDispatcher
from autoticket.sinks.outbox import Dispatcher
from autoticket.store.metric_samples import add_samples
from autoticket.store.releases import save_release
from autoticket.store.tables import outbox

SECRET = "release-hook-secret"
MINUTE = timedelta(minutes=1)


@dataclass
class Receiver:
    """Checks each request's signature; answers 500 `failures` times, then 200."""

    url: str = ""
    failures: int = 0
    got: list[tuple[dict[str, str], bytes, bool]] = field(default_factory=list)
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)  # by idempotency key

    def handle(self, headers: dict[str, str], body: bytes) -> int:
        stamp = headers.get("x-autoticket-timestamp", "")
        mac = hmac.new(SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        signed = hmac.compare_digest(f"sha256={mac}", headers.get("x-autoticket-signature", ""))
        self.got.append((headers, body, signed))
        if not signed:
            return 401
        if self.failures > 0:
            self.failures -= 1
            return 500
        self.accepted.setdefault(headers["idempotency-key"], json.loads(body))
        return 200


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = state.handle({k.lower(): v for k, v in self.headers.items()}, body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/cd"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def _config(url: str, actions: str = "[pause, rollback]") -> Any:
    return parse_config_text(
        f"""
releases:
  action_webhook: {{url: "{url}", secret_env: RELEASE_HOOK_SECRET, actions: {actions}}}
routes: [{{name: all}}]
"""
    )


def _failed_release(engine: Engine, t0: datetime) -> None:
    rng = random.Random(3)
    samples = [
        MetricSample(
            "checkout_error_ratio",
            "checkout",
            "prod",
            t0 + m * MINUTE,
            (0.01 if m < 0 else 0.05) * (1 + rng.uniform(-0.05, 0.05)),
        )
        for m in range(-30, 30)
    ]
    with engine.begin() as conn:
        add_samples(conn, samples, t0)
        save_release(conn, Release("checkout", "prod", "v42", t0, commit="abc123"), t0)


class Service:
    """The worker's round plus the external lanes, on a fixed clock."""

    def __init__(self, engine: Engine, config: Any, clock: FixedClock) -> None:
        sinks = build_sinks(
            config, httpx.Client(follow_redirects=False), {"RELEASE_HOOK_SECRET": SECRET}
        )
        dispatcher = Dispatcher(transactional_sinks(sinks))
        self.round = Round(engine, config, build_pipeline(config), dispatcher)
        self.external = ExternalDispatcher(
            engine, external_sinks(sinks), clock, after=list(dispatcher.sinks)
        )
        self.clock = clock

    def run(self, until: datetime) -> int:
        self.clock.set(until)
        self.round.fire_timers(until)
        self.round.dispatch(until)
        return self.external.run_once()


def test_a_rollback_reaches_the_cd_system_signed(
    engine: Engine, t0: datetime, receiver: Receiver
) -> None:
    _failed_release(engine, t0)
    service = Service(engine, _config(receiver.url), FixedClock(t0))
    assert service.run(t0 + 40 * MINUTE) == 1
    [(headers, raw, signed)] = receiver.got
    assert signed and headers["x-autoticket-event"] == "release-action"
    [(key, body)] = receiver.accepted.items()
    assert key.startswith("release:") and key.endswith(":rollback:release-actions")
    assert (body["verdict"], body["action"], body["score"]) == ("fail", "rollback", 0.0)
    assert body["release"]["version"] == "v42" and body["release"]["commit"] == "abc123"
    assert body["link"].startswith("/api/v1/releases/")
    [metric] = body["metrics"]
    assert (metric["name"], metric["classification"]) == ("checkout_error_ratio", "high")
    assert metric["test"]["interval"][0] > 0 and metric["after"]["count"] >= 5
    assert body["reasons"] and body["decided_by"] == "early_fail"
    assert SECRET not in raw.decode()


def test_a_receiver_that_fails_first_gets_it_again_once(
    engine: Engine, t0: datetime, receiver: Receiver
) -> None:
    receiver.failures = 1
    _failed_release(engine, t0)
    service = Service(engine, _config(receiver.url), FixedClock(t0))
    service.run(t0 + 40 * MINUTE)
    with engine.connect() as conn:
        row = conn.execute(select(outbox).where(outbox.c.sink == "release-actions")).one()
    assert (row.status, row.attempts, receiver.accepted) == ("pending", 1, {})
    assert service.run(t0 + 40 * MINUTE + timedelta(seconds=1)) == 1  # after the backoff
    service.run(t0 + 50 * MINUTE)  # nothing more to send
    assert len(receiver.got) == 2 and all(signed for _, _, signed in receiver.got)
    assert len(receiver.accepted) == 1
    keys = {h["idempotency-key"] for h, _, _ in receiver.got}
    assert len(keys) == 1  # the retry carries the same key
    with engine.connect() as conn:
        rows = list(conn.execute(select(outbox).where(outbox.c.sink == "release-actions")))
    assert [(r.status, r.attempts) for r in rows] == [("done", 2)]


def test_an_action_not_listed_is_not_sent(engine: Engine, t0: datetime, receiver: Receiver) -> None:
    _failed_release(engine, t0)
    service = Service(engine, _config(receiver.url, "[pause]"), FixedClock(t0))
    assert service.run(t0 + 40 * MINUTE) == 0
    assert receiver.got == []


def test_the_secret_is_named_never_written() -> None:
    with pytest.raises(ConfigError, match="secret"):
        parse_config_text(
            'releases: {action_webhook: {url: "http://127.0.0.1:1/x", secret_env: S, '
            "secret: plain}}"
        )
    config = _config("http://127.0.0.1:1/x")
    [problem] = check_sinks(config, env={})
    assert "RELEASE_HOOK_SECRET is not set" in problem.message
    assert check_sinks(config, env={"RELEASE_HOOK_SECRET": "x"}) == []
    with pytest.raises(ConfigError, match="url"):
        parse_config_text('releases: {action_webhook: {url: "ftp://x/y", secret_env: S}}')
