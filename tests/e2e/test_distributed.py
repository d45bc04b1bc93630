"""Distributed mode: an API-only process and two worker processes over one PostgreSQL.

The same flood of HA duplicates as a single process must give the same
result: one incident and one ticket per group, exact counts, nothing left
pending.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from autoticket.store import make_engine
from autoticket.store.tables import inbox, incidents, outbox, tickets
from conftest import am_alert, am_payload

from .conftest import (
    PG_URL,
    fresh_pg_database,
    start_autoticket,
    start_process,
    write_test_config,
)

# Real services start, crash and converge here: more than the default 120 s per test.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

GROUPS = 40
COPIES = 6


@pytest.fixture
def pg_db() -> Iterator[str]:
    with fresh_pg_database("autoticket_dist") as url:
        if url is None:
            pytest.skip(f"PostgreSQL at {PG_URL} is not reachable")
        yield url


async def _flood(url: str) -> int:
    accepted = 0
    async with httpx.AsyncClient(
        base_url=url, timeout=10.0, limits=httpx.Limits(max_connections=16)
    ) as client:

        async def post(group: int) -> None:
            nonlocal accepted
            payload = am_payload(
                am_alert(alertname=f"Dist{group}", service=f"svc-{group}"),
                am_alert(alertname=f"Dist{group}", service=f"svc-{group}", instance="b"),
            )
            r = await client.post("/api/v1/ingest/alertmanager", json=payload)
            accepted += r.status_code == 202

        await asyncio.gather(*(post(g) for _ in range(COPIES) for g in range(GROUPS)))
    return accepted


def test_api_and_two_workers_over_postgresql(tmp_path: Path, pg_db: str) -> None:
    config = write_test_config(tmp_path)
    api = start_autoticket("dist-api", pg_db, config, tmp_path, extra_args=["--no-worker"])
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    workers = [
        start_process(
            f"dist-worker-{i}",
            [
                sys.executable,
                "-m",
                "autoticket.cli",
                "worker",
                "--database-url",
                pg_db,
                "--config",
                str(config),
            ],
            tmp_path,
            env,
        )
        for i in range(2)
    ]
    try:
        assert asyncio.run(_flood(api.url)) == GROUPS * COPIES
        engine = make_engine(pg_db)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                pending = conn.execute(
                    select(func.count()).select_from(inbox).where(inbox.c.status != "done")
                ).scalar_one()
                pending += conn.execute(
                    select(func.count()).select_from(outbox).where(outbox.c.status != "done")
                ).scalar_one()
            if pending == 0:
                break
            time.sleep(0.2)
        with engine.connect() as conn:
            rows = list(
                conn.execute(
                    select(incidents.c.alert_count, incidents.c.firing, incidents.c.event_count)
                )
            )
            n_tickets = conn.execute(select(func.count()).select_from(tickets)).scalar_one()
        engine.dispose()
        assert all(w.alive() for w in workers), "a worker died"
        assert pending == 0
        assert len(rows) == GROUPS
        assert n_tickets == GROUPS
        assert set(rows) == {(2, 2, 2 * COPIES)}  # exact under two racing workers
    finally:
        api.client.close()
        for proc in [*workers, api.proc]:
            proc.stop()
