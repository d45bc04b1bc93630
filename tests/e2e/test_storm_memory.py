"""Issue 19: a storm of twelve ~1 MiB Alertmanager bodies keeps a real
`autoticket serve` under a documented memory bound.

The documented configuration is the default one: the embedded SQLite store and
`ingest.max_events_per_delivery` 5,000. Twelve ~1 MiB bodies of 5,000 alerts of
about 200 bytes (a real alert's size) are accepted; twelve more of the issue's
kind (38,000 tiny alerts each) are refused with 413 and kept as dead letters.
All 24 arrive at once; the test waits until the worker drained the inbox and
then reads the server's peak RSS (VmHWM in /proc/<pid>/status).

What keeps it bounded: a request holds at most `max_body_bytes` and, once
parsed, only its event ids; the inbox keeps the bodies on disk; a worker batch
takes at most 5,000 events / 16 MiB of bodies (service/worker.py).
"""

from __future__ import annotations

import concurrent.futures
import time
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from autoticket.store import make_engine
from autoticket.store.tables import alerts, dead_letters, inbox

from .conftest import start_autoticket, write_test_config

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

BODIES = 12
ALERTS_PER_BODY = 5_000  # the default ingest.max_events_per_delivery
TINY_ALERTS_PER_BODY = 38_000  # the kind of body: refused at the default cap, kept
# Peak RSS of the whole server process (Python, FastAPI, SQLAlchemy, RE2,
# NumPy and the storm): 229-244 MB measured on Python 3.11 (110 MB at start),
# 263 MB in CI, where coverage traces the server too; 425 MB when large bodies
# were parsed all at once in a thread pool, 332 MB when ingest held parsed
# payloads while awaiting the commit. docs/architecture.md and
# bench/README.md quote the bound.
PEAK_RSS_BOUND_MB = 320
DRAINED_WITHIN = 300.0


def storm_body(n: int) -> bytes:
    """A ~1 MiB notification: one group of ALERTS_PER_BODY node alerts."""
    group = {"alertname": f"NodeStorm{n}", "job": "node", "severity": "warning"}
    alerts_ = [
        {
            "status": "firing",
            "labels": {**group, "instance": f"10.{n}.{i // 250}.{i % 250}:9100"},
            "annotations": {"summary": f"node storm {n}"},
            "startsAt": "2026-01-05T09:59:00Z",
        }
        for i in range(ALERTS_PER_BODY)
    ]
    return orjson.dumps(
        {"version": "4", "status": "firing", "receiver": "storm", "groupLabels": group,
         "alerts": alerts_}
    )  # fmt: skip


def tiny_storm_body(n: int) -> bytes:
    """A ~1 MiB notification of the issue's kind: 38,000 alerts of one short label each."""
    alerts_ = [{"labels": {"i": f"{n:02d}{i:05d}"}} for i in range(TINY_ALERTS_PER_BODY)]
    return orjson.dumps({"version": "4", "status": "firing", "alerts": alerts_})


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def test_storm_bodies_are_about_one_mebibyte() -> None:
    for body in (storm_body(0), storm_body(BODIES - 1), tiny_storm_body(BODIES - 1)):
        assert 0.9 * 2**20 < len(body) <= 2**20, len(body)


def test_twelve_storm_bodies_stay_under_the_memory_bound(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'storm.db'}"
    server = start_autoticket("storm-memory", database, write_test_config(tmp_path), tmp_path)
    engine = make_engine(database)
    try:
        bodies = [storm_body(n) for n in range(BODIES)]
        bodies += [tiny_storm_body(n) for n in range(BODIES)]
        started_kb = _status_kb(server.proc.pid, "VmHWM")

        def post(body: bytes) -> int:
            with httpx.Client(base_url=server.url, timeout=60.0) as client:
                response = client.post(
                    "/api/v1/ingest/alertmanager",
                    content=body,
                    headers={"content-type": "application/json"},
                )
                return response.status_code

        with concurrent.futures.ThreadPoolExecutor(len(bodies)) as pool:
            statuses = list(pool.map(post, bodies))
        assert statuses == [202] * BODIES + [413] * BODIES
        start = time.monotonic()
        pending = -1
        while time.monotonic() - start < DRAINED_WITHIN:
            with engine.connect() as conn:
                pending = conn.execute(
                    select(func.count()).select_from(inbox).where(inbox.c.status == "pending")
                ).scalar_one()
            if pending == 0:
                break
            time.sleep(0.5)
        assert pending == 0, f"{pending} deliveries still pending after {DRAINED_WITHIN:.0f}s"
        with engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(alerts)).scalar_one()
            kept = conn.execute(select(func.count()).select_from(dead_letters)).scalar_one()
            done = conn.execute(
                select(func.count()).select_from(inbox).where(inbox.c.status == "done")
            ).scalar_one()
        assert (done, stored) == (BODIES, BODIES * ALERTS_PER_BODY)
        assert kept == BODIES  # every refused body is kept for a replay
        peak_mb = _status_kb(server.proc.pid, "VmHWM") / 1024
        print(f"peak RSS {peak_mb:.0f} MB (at start {started_kb / 1024:.0f} MB)")
        assert peak_mb < PEAK_RSS_BOUND_MB
        assert server.proc.alive()
    finally:
        engine.dispose()
        server.client.close()
        server.proc.stop()
