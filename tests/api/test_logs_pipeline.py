"""1,000 JSON log lines of 5 real templates, varying ids and numbers, sent over
HTTP in several deliveries: exactly 5 alerts in 5 incidents (the same error
deduplicates across deliveries; different errors never merge)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from autoticket.api.app import create_app
from autoticket.clock import FixedClock
from autoticket.config import parse_config_text
from autoticket.service.runtime import Runtime
from autoticket.store.tables import alerts
from conftest import token_headers

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
Template = Callable[[random.Random], tuple[str, str]]

# (service, message) makers, one per error; the variable parts are the kind a
# real service writes: ids, durations, addresses, UUIDs, counts, paths, quotes.
TEMPLATES: list[Template] = [
    lambda r: (
        "payments",
        f"Timeout after {r.randint(1000, 30000)}ms calling payment-gateway "
        f"for order {r.randint(10**6, 10**7)}",
    ),
    lambda r: (
        "auth",
        f"Login failed for user {r.randint(1, 99999)} from "
        f"{r.randint(1, 254)}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}: "
        "invalid password",
    ),
    lambda r: (
        "orders",
        f"Connection pool exhausted: {r.randint(50, 100)}/100 connections in use, "
        f"waited {r.uniform(0.5, 9.9):.2f}s",
    ),
    lambda r: (
        "billing",
        f"Failed to process message {uuid.UUID(int=r.getrandbits(128))} from queue "
        f"invoice-events: deserialization error at offset {r.randint(0, 10**5)}",
    ),
    lambda r: (
        "storage",
        f"Disk usage on volume '{r.choice(['pg-data', 'wal', 'logs'])}-{r.randint(1, 9)}' "
        f"at {r.randint(91, 99)}% (threshold 90%), request id {r.getrandbits(64):016x}",
    ),
]


def _lines(count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    lines = []
    for n in range(count):
        service, message = TEMPLATES[n % len(TEMPLATES)](rng)
        when = NOW - timedelta(seconds=count - n)
        lines.append(
            {
                "timestamp": when.isoformat().replace("+00:00", "Z"),
                "level": "error",
                "service": service,
                "message": message,
            }
        )
    rng.shuffle(lines)
    return lines


@pytest.fixture
def client(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.delenv("AUTOTICKET_INGEST_TOKEN", raising=False)
    runtime = Runtime(
        parse_config_text("routes: [{name: default}]"),
        engine,
        start_worker=False,
        clock=FixedClock(NOW),
    )
    with TestClient(create_app(runtime), base_url="http://localhost") as c:
        c.headers.update(token_headers(engine))
        yield c


def test_a_thousand_lines_of_five_templates_are_five_incidents(
    client: TestClient, engine: Engine
) -> None:
    lines = _lines(1000, seed=16)
    assert len({line["message"] for line in lines}) > 900  # the ids really vary
    for start in range(0, len(lines), 250):  # four deliveries, mined one by one
        r = client.post("/api/v1/ingest/logs", json={"lines": lines[start : start + 250]})
        assert r.status_code == 202, r.text
        assert r.json()["accepted"] == len(TEMPLATES)
    client.app.state.runtime.worker.drain()  # type: ignore[attr-defined]

    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(alerts)).scalar_one() == 5
    r = client.get("/api/v1/incidents", params={"status": "all", "limit": 50})
    assert r.status_code == 200, r.text
    incidents = r.json()["items"]
    assert len(incidents) == 5
    assert all(incident["alert_count"] == 1 for incident in incidents)
    # One incident per error: each title is a line of a different template.
    services = sorted(_service_of(incident["title"]) for incident in incidents)
    assert services == sorted(maker(random.Random(0))[0] for maker in TEMPLATES)


def _service_of(title: str) -> str:
    for maker in TEMPLATES:
        service, example = maker(random.Random(0))
        if title.split()[:2] == example.split()[:2]:
            return service
    raise AssertionError(f"no template starts like {title!r}")
