"""Issue 19: one ~0.9 MiB Alertmanager notification with 28,000 distinct alertnames,
posted to a real `autoticket serve` on PostgreSQL, never stops the worker.

- At the default cap (`ingest.max_events_per_delivery`, 5,000) it is refused
  with 413 `too_many_events` and kept as a dead letter with the reason.
- With the cap raised above 28,000 it is accepted and processed: its
  correlation keys hash to at most 1,024 advisory-lock slots, so PostgreSQL's
  shared lock table is not exhausted (were it to fail every time anyway, the
  worker would dead-letter it after STUCK_AFTER tries and move on).
In both cases a normal alert posted next becomes a ticket; at the default cap
within seconds, with the cap raised once the storm ahead of it is worked off.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import yaml
from sqlalchemy import Engine, func, select

from autoticket.store import make_engine
from autoticket.store.tables import dead_letters, inbox, incidents, tickets
from conftest import am_alert, am_payload

from .conftest import PG_URL, fresh_pg_database, start_autoticket, write_test_config

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

STORM_KEYS = 28_000
# After a refused storm nothing is queued ahead of the next alert.
NEXT_TICKET_WITHIN = 10.0
# With the cap raised the next alert waits for 28,000 incidents and tickets to be
# written ahead of it: about a minute on two busy cores.
STORM_DRAINED_WITHIN = 300.0


def storm_body(keys: int = STORM_KEYS) -> bytes:
    """One notification of `keys` alerts, each its own alertname, as small as they come."""
    alerts = [{"labels": {"alertname": f"S{i:05d}"}} for i in range(keys)]
    return orjson.dumps({"version": "4", "status": "firing", "receiver": "storm", "alerts": alerts})


@pytest.fixture
def pg_db() -> Iterator[str]:
    with fresh_pg_database("autoticket_storm") as url:
        if url is None:
            pytest.skip(f"PostgreSQL at {PG_URL} is not reachable")
        yield url


@pytest.fixture
def db(pg_db: str) -> Iterator[Engine]:
    engine = make_engine(pg_db)
    yield engine
    engine.dispose()


def _config(directory: Path, max_events: int | None = None) -> Path:
    path = write_test_config(directory)
    if max_events is not None:
        data = yaml.safe_load(path.read_text())
        data["ingest"]["max_events_per_delivery"] = max_events
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _post(client: httpx.Client, body: bytes) -> httpx.Response:
    return client.post(
        "/api/v1/ingest/alertmanager", content=body, headers={"content-type": "application/json"}
    )


def _ticket_titled(db: Engine, title: str) -> bool:
    with db.connect() as conn:
        found = conn.execute(select(tickets.c.id).where(tickets.c.title == title)).first()
    return found is not None


def _wait_for_ticket(db: Engine, title: str, within: float) -> float:
    """Seconds until a ticket titled `title` exists; fails past `within`."""
    start = time.monotonic()
    while time.monotonic() - start < within:
        if _ticket_titled(db, title):
            return time.monotonic() - start
        time.sleep(0.2)
    pytest.fail(f"no ticket {title!r} within {within:.0f}s")


def _next_alert(client: httpx.Client, name: str) -> str:
    response = _post(client, orjson.dumps(am_payload(am_alert(alertname=name))))
    assert response.status_code == 202, response.text
    return f"{name} on checkout"  # the ticket title: the alert's summary


def test_storm_body_is_what_the_issue_describes() -> None:
    body = storm_body()
    assert 0.85 * 2**20 < len(body) < 2**20  # ~0.9 MiB: under the 1 MiB body cap
    alerts = orjson.loads(body)["alerts"]
    assert len({a["labels"]["alertname"] for a in alerts}) == STORM_KEYS


def test_over_the_cap_the_storm_is_refused_kept_and_the_next_alert_is_ticketed(
    tmp_path: Path, pg_db: str, db: Engine
) -> None:
    server = start_autoticket("storm-capped", pg_db, _config(tmp_path), tmp_path)
    try:
        response = _post(server.client, storm_body())
        assert response.status_code == 413, response.text
        error = response.json()["error"]
        assert error["code"] == "too_many_events"
        assert error["field"] == "alerts"
        assert error["dead_letter_id"] is not None
        letter = server.get(f"/api/v1/dead-letters/{error['dead_letter_id']}")
        assert letter["stage"] == "ingest"
        assert "too many events: 28000" in letter["error"]
        with db.connect() as conn:
            kept = conn.execute(
                select(dead_letters.c.body).where(dead_letters.c.id == error["dead_letter_id"])
            ).scalar_one()
        assert bytes(kept) == storm_body()  # the whole body, for a replay after a fix
        title = _next_alert(server.client, "AfterRefusedStorm")
        _wait_for_ticket(db, title, NEXT_TICKET_WITHIN)
        assert server.proc.alive()
    finally:
        server.client.close()
        server.proc.stop()


def test_with_the_cap_raised_the_storm_is_processed_and_the_worker_goes_on(
    tmp_path: Path, pg_db: str, db: Engine
) -> None:
    config = _config(tmp_path, max_events=STORM_KEYS + 2_000)
    server = start_autoticket("storm-raised", pg_db, config, tmp_path)
    try:
        response = _post(server.client, storm_body())
        assert response.status_code == 202, response.text
        assert response.json()["accepted"] == STORM_KEYS
        title = _next_alert(server.client, "AfterStorm")
        _wait_for_ticket(db, title, STORM_DRAINED_WITHIN)
        with db.connect() as conn:
            by_status = select(inbox.c.status, func.count()).group_by(inbox.c.status)
            statuses = {status: n for status, n in conn.execute(by_status)}
            opened = conn.execute(select(func.count()).select_from(incidents)).scalar_one()
            letters = conn.execute(select(func.count()).select_from(dead_letters)).scalar_one()
        assert statuses == {"done": 2}  # processed, not dead-lettered
        assert letters == 0
        assert opened == STORM_KEYS + 1
        ready = server.client.get("/readyz")
        assert ready.status_code == 200, ready.text  # no worker error left behind
        assert server.proc.alive()
    finally:
        server.client.close()
        server.proc.stop()
