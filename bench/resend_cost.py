"""What an unchanged Prometheus re-send costs against a new alert (not in `make bench`).

Run: `python -m bench.resend_cost` from the repository root. In process, on a
fresh SQLite file: POST /api/v2/alerts with a 64-alert batch that is new
(stored, then processed by the pipeline) and the same batch re-sent with
`endsAt` moved on (dropped by api/resend.py). Prints microseconds per alert.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from fastapi.testclient import TestClient

from autoticket.api.app import create_app
from autoticket.clock import FixedClock
from autoticket.config import parse_config_text
from autoticket.service.runtime import Runtime
from autoticket.store import make_engine, migrate

T0 = datetime(2026, 3, 2, 12, tzinfo=UTC)
ALERTS = 64  # Prometheus's default batch (alerting max_alerts per send)
ROUNDS = 30


def _batch(round_: int, ends_at: datetime) -> bytes:
    alerts: list[dict[str, Any]] = [
        {
            "labels": {
                "alertname": f"HostDown{round_}",
                "instance": f"host-{i}:9100",
                "job": "node",
                "service": "checkout",
                "severity": "warning",
            },
            "annotations": {"summary": f"host-{i} is down", "description": "no scrape for 1m"},
            "startsAt": "2026-03-02T11:59:00.123Z",
            "endsAt": ends_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "generatorURL": "http://prometheus:9090/graph?g0.expr=up+%3D%3D+0",
        }
        for i in range(ALERTS)
    ]
    return orjson.dumps(alerts)


def measure(window: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        migrate(engine)
        clock = FixedClock(T0)
        runtime = Runtime(
            parse_config_text(f"ingest: {{unchanged_resend_window: {window}}}"),
            engine,
            start_worker=False,
            clock=clock,
        )
        headers = {"content-type": "application/json"}
        with TestClient(create_app(runtime), base_url="http://localhost") as client:
            new_post = resend_post = pipeline = 0.0
            for r in range(ROUNDS):
                t = time.perf_counter()
                assert (
                    client.post(
                        "/api/v2/alerts",
                        content=_batch(r, T0 + timedelta(minutes=4)),
                        headers=headers,
                    ).json()["accepted"]
                    == ALERTS
                )
                new_post += time.perf_counter() - t
                t = time.perf_counter()
                runtime.worker.drain()
                pipeline += time.perf_counter() - t
                clock.current += timedelta(seconds=1)
                t = time.perf_counter()
                answer = client.post(
                    "/api/v2/alerts", content=_batch(r, T0 + timedelta(minutes=5)), headers=headers
                ).json()
                runtime.worker.drain()  # a re-send let through goes down the pipeline
                resend_post += time.perf_counter() - t
                assert answer["unchanged"] == (ALERTS if window != "0s" else 0)
        engine.dispose()
    per = 1e6 / (ROUNDS * ALERTS)
    new = (new_post + pipeline) * per
    print(f"unchanged_resend_window {window}: us per alert")
    print(
        f"  new alert: {new:6.1f} (POST+store {new_post * per:.1f}, pipeline {pipeline * per:.1f})"
    )
    print(f"  re-send:   {resend_post * per:6.1f} (POST, and store+pipeline when let through)")


def main() -> None:
    measure("5m")  # the default: re-sends dropped before the inbox
    measure("0s")  # the filter off: every re-send stored and correlated


if __name__ == "__main__":
    main()
