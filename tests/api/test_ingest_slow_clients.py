"""Ingest against slow clients and big bodies: a body deadline, parsing off the loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import anyio
import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from autoticket.api import ingest as ingest_api
from autoticket.api.app import create_app
from autoticket.config import Config, IngestConfig
from autoticket.model import Delivery, Event
from autoticket.service.runtime import Runtime
from autoticket.store.tables import dead_letters, inbox
from conftest import am_alert, am_payload

JSON = {"content-type": "application/json"}


def _runtime(engine: Engine, **ingest: object) -> Runtime:
    return Runtime(Config(ingest=IngestConfig(**ingest)), engine, start_worker=False)


def _count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


async def _trickle(stop: anyio.Event) -> AsyncIterator[bytes]:
    yield b'{"alerts": ['
    await stop.wait()  # the rest never comes while the server waits
    yield b"]}"


@pytest.mark.parametrize(
    "path", ["/api/v1/ingest/alertmanager", "/api/v1/releases", "/api/v1/metrics"]
)
def test_a_body_that_does_not_arrive_in_time_is_a_408_that_closes(
    engine: Engine, path: str
) -> None:
    runtime = _runtime(engine, body_timeout=timedelta(milliseconds=200))
    app = create_app(runtime)

    async def scenario() -> httpx.Response:
        stop = anyio.Event()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            try:
                return await client.post(path, content=_trickle(stop), headers=JSON)
            finally:
                stop.set()

    with TestClient(app):  # runs the app's start-up (the committer)
        response = anyio.run(scenario)
    assert response.status_code == 408
    assert response.headers["connection"] == "close"
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("request_timeout", "body")
    assert "ingest.body_timeout" in error["message"]
    assert _count(engine, inbox) == 0 and _count(engine, dead_letters) == 0


def _parse_spy(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Record, per parse, whether it ran on the event loop's thread."""
    on_loop: list[bool] = []
    real = ingest_api.parse_delivery

    def spy(delivery: Delivery, max_events: int | None = None, *settings: Any) -> list[Event]:
        try:
            asyncio.get_running_loop()
            on_loop.append(True)
        except RuntimeError:
            on_loop.append(False)
        return real(delivery, max_events, *settings)

    monkeypatch.setattr(ingest_api, "parse_delivery", spy)
    return on_loop


@pytest.fixture
def small_threshold_client(engine: Engine) -> Iterator[TestClient]:
    with TestClient(
        create_app(_runtime(engine, parse_in_thread_bytes=2048)), base_url="http://localhost"
    ) as client:
        yield client


def test_a_large_body_is_parsed_off_the_event_loop(
    small_threshold_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_loop = _parse_spy(monkeypatch)
    small = orjson.dumps(am_payload(am_alert()))
    large = orjson.dumps(am_payload(am_alert(note="n" * 4096)))
    assert len(small) < 2048 <= len(large)
    for body in (small, large):
        r = small_threshold_client.post("/api/v1/ingest/alertmanager", content=body, headers=JSON)
        assert r.status_code == 202, r.text
    assert on_loop == [True, False]


def test_a_large_malformed_body_parsed_in_a_thread_is_still_a_clear_400(
    small_threshold_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_loop = _parse_spy(monkeypatch)
    body = b'{"alerts": [' + b" " * 4096 + b"}"
    r = small_threshold_client.post("/api/v1/ingest/alertmanager", content=body, headers=JSON)
    assert on_loop == [False]
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "malformed_json"
    assert r.json()["error"]["dead_letter_id"] is not None
