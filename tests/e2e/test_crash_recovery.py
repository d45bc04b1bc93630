"""Nothing lost, nothing doubled: kill -9 the server under load, restart, compare.

Every delivery answered 202 before the kill must end up processed after the
restart, and each distinct alert group must have exactly one ticket.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from autoticket.store import make_engine
from autoticket.store.tables import inbox, incidents, tickets
from conftest import am_alert, am_payload

from .conftest import Autoticket, start_autoticket, write_test_config

# Real services start, crash and converge here: more than the default 120 s per test.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

GROUPS = 60
COPIES = 4  # each group is delivered this many times (HA pair x retries)


async def _flood(server: Autoticket, kill_after: int) -> dict[str, str]:
    """Post every group COPIES times, 16 in flight, and SIGKILL the server mid-flood.

    Returns {delivery id: alertname} of the deliveries answered 202 before the kill.
    """
    limits = httpx.Limits(max_connections=16)
    accepted: dict[str, str] = {}
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=10.0) as client:

        async def post(group: int) -> None:
            payload = am_payload(am_alert(alertname=f"Crash{group}", service=f"svc-{group}"))
            try:
                r = await client.post("/api/v1/ingest/alertmanager", json=payload)
            except httpx.HTTPError:
                return  # the server died under us: this one was never acknowledged
            if r.status_code == 202:
                accepted[r.json()["delivery_id"]] = f"Crash{group}"
                if len(accepted) == kill_after:
                    server.proc.popen.kill()  # SIGKILL: no shutdown hook runs

        await asyncio.gather(*(post(g) for _ in range(COPIES) for g in range(GROUPS)))
    return accepted


def _group_of(body: bytes) -> str:
    return json.loads(body)["alerts"][0]["labels"]["alertname"]


def test_kill_9_under_load_loses_and_doubles_nothing(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'crash.db'}"
    config = write_test_config(tmp_path)
    server: Autoticket = start_autoticket("crash-1", database, config, tmp_path)
    accepted = asyncio.run(_flood(server, kill_after=GROUPS * COPIES // 2))
    server.proc.popen.wait(10)
    server.proc.stopped = True
    server.client.close()
    assert GROUPS <= len(accepted) < GROUPS * COPIES, "the kill did not land mid-flood"
    accepted_groups = set(accepted.values())

    restarted = start_autoticket("crash-2", database, config, tmp_path)
    try:
        engine = make_engine(database)
        deadline = 60.0
        start = time.monotonic()
        while time.monotonic() - start < deadline:
            with engine.connect() as conn:
                pending = conn.execute(
                    select(func.count()).select_from(inbox).where(inbox.c.status != "done")
                ).scalar_one()
                opened = conn.execute(select(func.count()).select_from(tickets)).scalar_one()
            if pending == 0 and opened >= len(accepted_groups):
                break
            time.sleep(0.2)
        with engine.connect() as conn:
            stored_rows = conn.execute(select(inbox.c.delivery_id, inbox.c.body)).all()
            not_done = conn.execute(
                select(func.count()).select_from(inbox).where(inbox.c.status != "done")
            ).scalar_one()
            n_incidents = conn.execute(select(func.count()).select_from(incidents)).scalar_one()
            n_tickets = conn.execute(select(func.count()).select_from(tickets)).scalar_one()
        engine.dispose()
        stored = {row.delivery_id for row in stored_rows}
        assert set(accepted) <= stored, "a delivery answered 202 was lost"
        # A delivery can commit just before the kill without its 202 reaching
        # the client, so the groups to expect are those of what was stored.
        stored_groups = {_group_of(row.body) for row in stored_rows}
        assert accepted_groups <= stored_groups
        assert not_done == 0
        assert n_incidents == len(stored_groups)
        assert n_tickets == len(stored_groups)
    finally:
        restarted.client.close()
        restarted.proc.stop()
