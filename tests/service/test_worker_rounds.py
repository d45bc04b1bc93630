"""A worker round opens a write transaction only for work it has: an idle round
takes none, so it never makes ingest's group commit wait (on SQLite, one writer
at a time)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, select

from autoticket.api.app import create_app
from autoticket.clock import FixedClock
from autoticket.config import Config
from autoticket.service.runtime import Runtime
from autoticket.store.db import READ_ONLY
from autoticket.store.tables import tickets
from conftest import am_alert, am_payload

INGEST = "/api/v1/ingest/alertmanager"


@pytest.fixture
def write_transactions(engine: Engine) -> Iterator[list[int]]:
    """A list that grows by one for every write transaction begun on `engine`."""
    begun: list[int] = []

    def on_begin(conn: Any) -> None:
        if not conn.get_execution_options().get(READ_ONLY, False):
            begun.append(1)

    event.listen(engine, "begin", on_begin)
    yield begun
    event.remove(engine, "begin", on_begin)


def test_idle_rounds_take_no_write_transaction_and_due_work_still_runs(
    engine: Engine, config: Config, t0: datetime, write_transactions: list[int]
) -> None:
    clock = FixedClock(t0)
    runtime = Runtime(config, engine, clock=clock, start_worker=False)
    try:
        with TestClient(create_app(runtime), base_url="http://localhost") as client:
            assert client.post(INGEST, json=am_payload(am_alert())).status_code == 202
            runtime.worker.drain()
            runtime.worker.run_once()  # the retention purge of the first round is done
            write_transactions.clear()
            for _ in range(3):
                assert runtime.worker.run_once().idle
            assert write_transactions == [], "an idle round wrote"

            resolved = am_alert(status="resolved", ends_at="2026-01-05T10:00:30Z")
            assert client.post(INGEST, json=am_payload(resolved)).status_code == 202
            runtime.worker.drain()
            clock.set(t0 + config.timers.resolve_after + timedelta(seconds=1))
            outcome = runtime.worker.run_once()
            assert (outcome.fired, outcome.applied) == (1, 1), (
                "a due timer and its ticket action still run"
            )
        with engine.connect() as conn:
            assert conn.execute(select(tickets.c.status)).scalars().all() == ["resolved"]
    finally:
        runtime.stop()
