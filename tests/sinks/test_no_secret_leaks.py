"""No sink lets a secret into an error or a log line, whatever the remote does
(as Alertmanager's `AssertNotifyLeaksNoSecret`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import Engine, select

from autoticket.clock import FixedClock
from autoticket.config import parse_config_text
from autoticket.model import TicketAction
from autoticket.sinks import SINK_TYPES, NoSettings, OutboxItem, Sink, SinkResult, build_sinks
from autoticket.sinks.external import Lane
from autoticket.store import outbox as outbox_store
from autoticket.store.tables import outbox

SECRET = "Sup3rS3cretValue"
# Settings of each external sink type, naming every secret it can take.
SETTINGS: dict[str, dict[str, Any]] = {
    "redmine": {"url": "https://redmine.example", "project": "ops", "key_env": "LEAK_TOKEN"},
    "webhook": {
        "url": "https://hooks.example/x",
        "secret_env": "LEAK_SECRET",
        "token_env": "LEAK_TOKEN",
    },
    "jira": {
        "url": "https://jira.example",
        "project": "OPS",
        "email": "bot@example.com",
        "token_env": "LEAK_TOKEN",
    },
    "servicenow": {
        "url": "https://example.service-now.com",
        "user": "autoticket",
        "password_env": "LEAK_SECRET",
    },
    "github": {"repo": "acme/ops", "token_env": "LEAK_TOKEN"},
    "release-action": {"url": "https://cd.example/x", "secret_env": "LEAK_SECRET"},
    "pagerduty": {"routing_key_env": "LEAK_SECRET"},
    "slack": {"url_env": "LEAK_URL"},
    # No SMTP server listens there: every remote is a refused connection.
    "email": {
        "host": "127.0.0.1",
        "port": 9,
        "from": "a@example.com",
        "to": ["b@example.com"],
        "username": "u",
        "password_env": "LEAK_SECRET",
    },
}
ENV = {
    "LEAK_SECRET": SECRET,
    "LEAK_TOKEN": SECRET + "-token",
    "LEAK_URL": f"https://hooks.example/services/{SECRET}",
}


def _echo(status: int) -> Callable[[httpx.Request], httpx.Response]:
    """A remote that echoes every header (Authorization too) in its answer."""

    def handler(request: httpx.Request) -> httpx.Response:
        echoed = "; ".join(f"{k}: {v}" for k, v in request.headers.items())
        return httpx.Response(
            status,
            headers={"X-Echo": echoed},
            text=echoed,
            extensions={"reason_phrase": echoed.encode()},
        )

    return handler


def _raise(exc: type[Exception]) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        echoed = str(dict(request.headers))
        if issubclass(exc, httpx.RequestError):
            raise exc(echoed, request=request)
        raise exc(echoed)

    return handler


REMOTES = {
    "500 echoing": _echo(500),
    "429 echoing": _echo(429),
    "401 echoing": _echo(401),
    "timeout": _raise(httpx.ReadTimeout),
    "connection refused": _raise(httpx.ConnectError),
    "transport bug": _raise(RuntimeError),
}


def test_every_external_sink_type_is_covered() -> None:
    external = {name for name, kind in SINK_TYPES.items() if issubclass(kind, Sink)}
    assert external == set(SETTINGS)


@pytest.mark.parametrize("remote", sorted(REMOTES))
@pytest.mark.parametrize("kind", sorted(SETTINGS))
def test_no_secret_in_errors_or_logs(
    engine: Engine, t0: datetime, caplog: pytest.LogCaptureFixture, kind: str, remote: str
) -> None:
    text = yaml.safe_dump(
        {
            "sinks": {"remote": {"type": kind, **SETTINGS[kind]}},
            "routes": [{"name": "default", "sinks": ["remote"]}],
        }
    )
    client = httpx.Client(transport=httpx.MockTransport(REMOTES[remote]))
    sink = build_sinks(parse_config_text(text), client, env=ENV)["remote"]
    assert isinstance(sink, Sink)
    with engine.begin() as conn:
        action = TicketAction(1, "open", "1-open", ["remote"], {"title": "t"})
        outbox_store.enqueue(conn, [action], t0)
    caplog.set_level(logging.DEBUG)
    assert Lane(engine, sink, FixedClock(t0)).run_once() == 1
    with engine.connect() as conn:
        error = conn.execute(select(outbox.c.last_error)).scalar_one()
    assert error
    assert SECRET not in error
    assert SECRET not in caplog.text


PLANTED = "AKIAIOSFODNN7EXAMPLE"


class WholePayloadSink(Sink):
    """Sends the whole payload it is handed (body, labels and all) as JSON."""

    type = "whole"

    def apply(self, item: OutboxItem) -> SinkResult:
        self.client.post("https://tracker.example/issues", json=item.payload)
        return SinkResult("ok", external_ref="R-1")


def test_a_secret_planted_in_a_queued_payload_never_reaches_the_remote(
    engine: Engine, t0: datetime, caplog: pytest.LogCaptureFixture
) -> None:
    """Redaction runs again in the lane, right before the call: a payload that
    slipped past the pipeline (written straight to the outbox here) is masked."""
    from autoticket.service.runtime import Runtime

    seen: list[bytes] = []

    def remote(request: httpx.Request) -> httpx.Response:
        seen.append(request.content)
        return httpx.Response(200, json={"id": "R-1"})

    text = yaml.safe_dump(
        {
            "sinks": {"remote": {"type": "webhook", **SETTINGS["webhook"]}},
            "routes": [{"name": "default", "sinks": ["remote"]}],
        }
    )
    config = parse_config_text(text)
    client = httpx.Client(transport=httpx.MockTransport(remote))
    sinks: dict[str, Any] = {"remote": WholePayloadSink("remote", NoSettings(), client)}
    runtime = Runtime(config, engine, clock=FixedClock(t0), start_worker=False, sinks=sinks)
    payload = {
        "title": f"key {PLANTED} leaked",
        "body": f"aws_secret_access_key={PLANTED}\nmore",
        "labels": {"service": "checkout", "token": PLANTED},
        "reasons": [f"saw {PLANTED}"],
    }
    with engine.begin() as conn:
        outbox_store.enqueue(conn, [TicketAction(1, "open", "1-open", ["remote"], payload)], t0)
    caplog.set_level(logging.DEBUG)
    assert runtime.external.run_once() == 1
    assert len(seen) == 1
    sent = seen[0].decode()
    assert PLANTED not in sent
    assert "[REDACTED:" in sent and "checkout" in sent
    assert PLANTED not in caplog.text
    with engine.connect() as conn:
        assert conn.execute(select(outbox.c.status)).scalar_one() == "done"
