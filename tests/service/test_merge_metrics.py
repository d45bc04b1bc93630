"""/metrics counts what correlation folded instead of ticketing, by mechanism:
repeats (duplicate), other alertnames of a service (cross-alert), storm children,
inhibited incidents. With the tickets opened, a dashboard reads the duplicate
rate and storm compression from them. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from autoticket.api.app import create_app
from autoticket.clock import FixedClock
from autoticket.config import parse_config_text
from autoticket.service.runtime import Runtime
from conftest import am_alert, am_payload, token_headers

CONFIG = """
correlation:
  storm: {threshold: 3, window: 5m}
inhibit_rules:
  - name: cluster-down
    source_matchers: ['alertname="ClusterDown"']
    target_matchers: ['severity="warning"']
    equal: [cluster]
routes:
  - name: default
"""
T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def test_merges_are_counted_by_mechanism(engine: Engine) -> None:
    clock = FixedClock(T0)
    runtime = Runtime(parse_config_text(CONFIG), engine, clock, start_worker=False)
    sends = [
        [am_alert(service="checkout", cluster="eu-1")],
        [am_alert(service="checkout", cluster="eu-1")],  # Alertmanager's resend
        [am_alert(alertname="HighLatencyP99", service="checkout", cluster="eu-1")],
        [am_alert(service="web", cluster="eu-1")],
        [am_alert(service="cart", cluster="eu-1")],  # the third service: a storm
        [am_alert(alertname="ClusterDown", service="infra", cluster="us-1")],
        [am_alert(alertname="Slow", severity="warning", service="ads", cluster="us-1")],
    ]
    with TestClient(create_app(runtime), base_url="http://localhost") as client:
        for n, alerts in enumerate(sends):
            clock.set(T0 + timedelta(seconds=10 * n))
            response = client.post("/api/v1/ingest/alertmanager", json=am_payload(*alerts))
            assert response.status_code == 202
            runtime.worker.drain()
        text = client.get("/metrics", headers=token_headers(engine, "v", "viewer")).text
    counted = {
        line.split('"')[1]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("autoticket_merged_total{")
    }
    assert counted == {"duplicate": 1.0, "cross-alert": 1.0, "storm": 1.0, "inhibit": 1.0}
