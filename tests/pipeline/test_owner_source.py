"""Who owns a ticket, and how sure we are: the owner's source in each precedence case
(team label, catalog, default_team, the route's team, none), the fallback flag on
the ticket, and the unowned count in /metrics. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from autoticket.api.app import create_app
from autoticket.clock import FixedClock
from autoticket.config import parse_config_text
from autoticket.model import Delivery
from autoticket.service.runtime import Runtime
from autoticket.store.tables import events, outbox
from conftest import am_alert, am_payload, process, token_headers

CATALOG = """
catalog:
  services:
    checkout: {team: payments}
"""
ROUTES = """
routes:
  - name: db
    matchers: ['service="postgres"']
    team: dba
  - name: default
"""


def _open_payload(engine: Engine, config_text: str, t0: datetime, **labels: str) -> dict[str, Any]:
    config = parse_config_text(config_text)
    alert = am_alert(**labels)
    body = orjson.dumps(am_payload(alert))
    with engine.begin() as conn:
        process(conn, config, [Delivery("d1", "alertmanager", t0, body, {})], t0)
    with engine.connect() as conn:
        [payload] = conn.execute(
            select(outbox.c.payload).where(outbox.c.action == "open", outbox.c.sink == "builtin")
        ).scalars()
    return dict(payload)


@pytest.mark.parametrize(
    ("config_text", "labels", "team", "source", "fallback"),
    [
        (CATALOG + ROUTES, {"service": "checkout", "team": "web"}, "web", "label", False),
        (CATALOG + ROUTES, {"service": "checkout"}, "payments", "catalog", False),
        (
            CATALOG + "  default_team: ops\n" + ROUTES,
            {"service": "unlisted"},
            "ops",
            "default_team",
            True,
        ),
        (CATALOG + ROUTES, {"service": "postgres"}, "dba", "route", True),
        (CATALOG + ROUTES, {"service": "unlisted"}, None, "none", True),
    ],
    ids=["label", "catalog", "default_team", "route", "none"],
)
def test_each_precedence_case_names_its_source_and_flags_the_guesses(
    engine: Engine,
    t0: datetime,
    config_text: str,
    labels: dict[str, str],
    team: str | None,
    source: str,
    fallback: bool,
) -> None:
    payload = _open_payload(engine, config_text, t0, **labels)
    assert payload["team"] == team
    assert payload["owner_source"] == source
    assert payload["owner_fallback"] is fallback
    with engine.connect() as conn:
        [decisions] = conn.execute(select(events.c.decisions)).scalars()
    [enrich] = [d for d in decisions if d["stage"] == "enrich"]
    expected = source if source in ("label", "catalog", "default_team") else None
    assert enrich["inputs"]["owner_source"] == expected


def test_unowned_tickets_are_counted_by_source_in_metrics(engine: Engine, t0: datetime) -> None:
    config = parse_config_text(CATALOG + ROUTES)
    runtime = Runtime(config, engine, FixedClock(t0), start_worker=False)
    alerts = [
        am_alert(service="checkout"),
        am_alert(service="unlisted", alertname="A"),
        am_alert(service="other", alertname="B"),
        am_alert(service="postgres", alertname="C"),
    ]
    for n, alert in enumerate(alerts):
        alert["fingerprint"] = f"{n:016x}"
    with TestClient(create_app(runtime), base_url="http://localhost") as client:
        r = client.post("/api/v1/ingest/alertmanager", json=am_payload(*alerts))
        assert r.status_code == 202, r.text
        runtime.worker.drain()
        text = client.get("/metrics", headers=token_headers(engine, "v", "viewer")).text
    assert 'autoticket_unowned_tickets_total{owner_source="none"} 2.0' in text
    assert 'autoticket_unowned_tickets_total{owner_source="route"} 1.0' in text
    assert 'owner_source="catalog"' not in text  # known owners are not counted
