"""An access log line per request and a log line per ticket action, with no secret in either."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from autoticket.api.access_log import loggable_query
from autoticket.api.app import create_app
from autoticket.clock import FixedClock
from autoticket.config import Config, parse_config_text
from autoticket.service.runtime import Runtime
from autoticket.sinks import BuiltinSink, build_sinks
from conftest import am_alert, am_payload, token_headers

AWS_KEY = "AKIAIOSFODNN7EXAMPLE"  # the documented example key: planted in a label
INGEST_TOKEN = "ingest-9f8e7d6c5b4a39281706"


def _access(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "autoticket.access"]


def _actions(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "autoticket.tickets"]


@pytest.fixture
def runtime(engine: Engine, config: Config, t0: object) -> Iterator[Runtime]:
    rt = Runtime(config, engine, clock=FixedClock(t0), start_worker=False)  # type: ignore[arg-type]
    yield rt
    rt.stop()


def test_one_line_per_request_with_owner_and_no_secret(
    runtime: Runtime,
    engine: Engine,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AUTOTICKET_INGEST_TOKEN", INGEST_TOKEN)
    headers = token_headers(engine, "ops", "responder")
    secret = headers["authorization"].removeprefix("Bearer ")
    caplog.set_level(logging.INFO, logger="autoticket")
    with TestClient(create_app(runtime), base_url="http://localhost") as client:
        alert = am_alert(aws_key=AWS_KEY)
        r = client.post(
            "/api/v1/ingest/alertmanager",
            json=am_payload(alert),
            headers={"authorization": f"Bearer {INGEST_TOKEN}"},
        )
        assert r.status_code == 202, r.text
        read = client.get(f"/api/v1/incidents?status=all&token={secret}", headers=headers)
        assert read.status_code == 200
        assert client.get("/api/v1/incidents").status_code == 401  # no token: not logged as ops
        assert client.get("/api/v1/nowhere", headers=headers).status_code == 404
    lines = _access(caplog)
    assert len(lines) == 4, lines
    method, target, status, ms, remote, who = lines[0].split(" ")
    assert (method, target, status, remote, who) == (
        "POST", "/api/v1/ingest/alertmanager", "202", "testclient", "-",
    )  # fmt: skip
    assert ms.endswith("ms") and float(ms[:-2]) >= 0
    assert lines[1].startswith("GET /api/v1/incidents?status=all&token=*** 200 ")
    assert lines[1].endswith(" testclient ops")
    assert lines[2].startswith("GET /api/v1/incidents 401 ") and lines[2].endswith(" -")
    assert lines[3].startswith("GET /api/v1/nowhere 404 ")
    for leaked in (secret, INGEST_TOKEN, AWS_KEY, "Bearer", "authorization"):
        assert leaked not in caplog.text


def test_access_log_can_be_turned_off(
    engine: Engine, config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    quiet = config.model_copy(
        update={"server": config.server.model_copy(update={"access_log": False})}
    )
    runtime = Runtime(quiet, engine, start_worker=False)
    caplog.set_level(logging.INFO, logger="autoticket")
    with TestClient(create_app(runtime), base_url="http://localhost") as client:
        assert client.get("/healthz").status_code == 200
    assert _access(caplog) == []


def test_a_line_per_ticket_action_built_in_and_external(
    engine: Engine, t0: object, caplog: pytest.LogCaptureFixture
) -> None:
    hook_secret = "hook-signing-secret-5d41402abc4b2a76"
    config = parse_config_text(
        """
catalog:
  services: {checkout: {team: payments}}
sinks:
  hook: {type: webhook, url: "https://hooks.example/t", secret_env: S, timeout: 2s}
routes: [{name: default, sinks: [builtin, hook], priorities: {critical: P1}}]
"""
    )
    calls: list[httpx.Request] = []

    def remote(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json={"id": "HOOK-7"})

    client = httpx.Client(transport=httpx.MockTransport(remote))
    sinks = {"builtin": BuiltinSink(), **build_sinks(config, client, env={"S": hook_secret})}
    runtime = Runtime(config, engine, clock=FixedClock(t0), start_worker=False, sinks=sinks)  # type: ignore[arg-type]
    caplog.set_level(logging.INFO, logger="autoticket")
    with TestClient(create_app(runtime), base_url="http://localhost") as api:
        r = api.post("/api/v1/ingest/alertmanager", json=am_payload(am_alert(aws_key=AWS_KEY)))
        assert r.status_code == 202
        runtime.worker.drain()
        assert _actions(caplog) == [
            "ticket opened: incident 1, ticket 1, team payments, priority P1, sink builtin"
        ]
        assert runtime.external.run_once() == 1
        assert len(calls) == 1
        assert api.post("/api/v1/incidents/1/resolve", json={}).status_code == 200
        runtime.worker.drain()
        runtime.external.run_once()
    lines = _actions(caplog)
    assert lines[1].startswith("ticket opened: incident 1, ticket ")
    assert lines[1].endswith(", team payments, priority P1, sink hook")
    assert lines[2:] == [
        "ticket resolved: incident 1, ticket 1, team payments, priority P1, sink builtin",
        lines[1].replace("opened", "resolved"),
    ]
    assert AWS_KEY not in caplog.text and hook_secret not in caplog.text


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (b"", ""),
        (b"status=all&page=2", "?status=all&page=2"),
        (b"token=abc&api_key=x&sig=y&next=/a", "?token=***&api_key=***&sig=***&next=/a"),
        (b"a=%0Ab", "?a=%0Ab"),  # no line break reaches the log
    ],
)
def test_query_values_of_secret_keys_are_masked(raw: bytes, shown: str) -> None:
    assert loggable_query(raw) == shown
