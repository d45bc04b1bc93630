"""Drive one alert through the whole service (ingest → worker → outbox → lane) to a sink.

Used by the sinks' planted-secret tests: redaction happens upstream, and
what the remote finally receives is what must be clean.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from autoticket.api.app import create_app
from autoticket.clock import FixedClock
from autoticket.config import parse_config_text
from autoticket.service.runtime import Runtime
from autoticket.store.tables import outbox
from conftest import am_alert, am_payload

PLANTED = "AKIAIOSFODNN7EXAMPLE"
INGEST = "/api/v1/ingest/alertmanager"


def planted_alert() -> dict[str, Any]:
    """An alert whose summary, description and a label carry an AWS-key-shaped secret."""
    alert = am_alert(leaked=PLANTED)
    alert["annotations"] = {
        "summary": f"checkout errors (key {PLANTED})",
        "description": f"aws_access_key_id={PLANTED}",
    }
    return alert


def deliver(
    engine: Engine,
    t0: datetime,
    sinks_yaml: str,
    sink: str,
    client: httpx.Client | None = None,
    seconds: float = 60,
) -> None:
    """Ingest the planted alert and wait until `sink`'s open is done (or fail).

    The sink's secrets come from the environment (monkeypatch them).
    """
    config = parse_config_text(
        f"{sinks_yaml}\nroutes:\n  - {{name: default, group_by: [alertname, service], "
        f"sinks: [builtin, {sink}]}}\n"
    )
    runtime = Runtime(config, engine, clock=FixedClock(t0), http_client=client)
    with TestClient(create_app(runtime), base_url="http://localhost") as api:
        assert api.post(INGEST, json=am_payload(planted_alert())).status_code == 202
        deadline = time.monotonic() + seconds  # only keeps a broken build from hanging
        while True:
            with engine.connect() as conn:
                row = conn.execute(select(outbox).where(outbox.c.sink == sink)).first()
            if row is not None and row.status == "done":
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{sink}: never delivered ({row and row.last_error})")
            runtime.external.wake()
            time.sleep(0.02)
