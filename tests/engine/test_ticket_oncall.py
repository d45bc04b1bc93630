"""Every ticket names who is on call for its team when it is filed, and a failing
on-call lookup never holds a ticket back. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, select

from autoticket.config import Config
from autoticket.engine import ticket_body
from autoticket.engine.round import Round
from autoticket.model import Delivery
from autoticket.pipeline.runner import build_pipeline
from autoticket.sinks.outbox import Dispatcher
from autoticket.store.tables import decisions, outbox
from autoticket.telemetry import Telemetry
from conftest import am_alert, am_payload, process
from oncall.escalation_config import escalation_config


def _open(engine: Engine, config: Config, t0: datetime, **labels: str) -> dict[str, Any]:
    body = orjson.dumps(am_payload(am_alert(**labels)))
    with engine.begin() as conn:
        process(conn, config, [Delivery("d1", "alertmanager", t0, body, {})], t0)
    with engine.connect() as conn:
        query = select(outbox.c.payload).where(
            outbox.c.action == "open", outbox.c.sink == "builtin"
        )
        [payload] = conn.execute(query).scalars()
    return dict(payload)


def test_the_ticket_names_the_responder_on_call_now(engine: Engine, t0: datetime) -> None:
    payload = _open(engine, escalation_config(), t0, service="checkout", team="payments")
    assert payload["team"] == "payments"
    assert payload["oncall"] == "ann"
    assert "On call: ann (payments-primary until 2026-01-06 00:00 UTC)" in payload["body"]


def test_a_team_without_a_schedule_says_so(engine: Engine, t0: datetime) -> None:
    payload = _open(engine, escalation_config(), t0, service="search", team="discovery")
    assert "oncall" not in payload
    assert "On call: no schedule for team discovery" in payload["body"]


def test_a_failing_lookup_degrades_and_the_ticket_still_opens(
    engine: Engine, t0: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("feed unreachable")

    monkeypatch.setattr(ticket_body, "who_is_on_call", broken)
    payload = _open(engine, escalation_config(), t0, service="checkout", team="payments")
    assert payload["title"] and "oncall" not in payload
    assert "On call: unknown (the lookup failed: RuntimeError)" in payload["body"]
    assert payload["missing"] == ["on-call responder: the lookup failed"]
    with engine.connect() as conn:
        [degraded] = conn.execute(
            select(decisions.c.inputs).where(decisions.c.outcome == "enrichment degraded")
        ).scalars()
    assert degraded == {"lookup": "oncall", "team": "payments", "retried": "at the next action"}


def test_lookups_are_counted_by_outcome(
    engine: Engine, t0: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = escalation_config()
    telemetry = Telemetry()
    engine_round = Round(engine, config, build_pipeline(config), Dispatcher(), telemetry)
    alerts = [
        am_alert(service="checkout", team="payments"),  # found: ann
        am_alert(service="search", team="discovery"),  # no schedule
    ]
    with engine.begin() as conn:
        body = orjson.dumps(am_payload(*alerts))
        engine_round.process(conn, [Delivery("d1", "alertmanager", t0, body, {})], t0)

    def broken(*args: object) -> None:
        raise RuntimeError("feed unreachable")

    monkeypatch.setattr(ticket_body, "who_is_on_call", broken)
    with engine.begin() as conn:
        body = orjson.dumps(am_payload(am_alert(service="cart", team="payments")))
        engine_round.process(conn, [Delivery("d2", "alertmanager", t0, body, {})], t0)
    text = telemetry.render().decode()
    counted = {
        line.split("{", 1)[1].split("}", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("autoticket_enrichment_total{")
    }
    assert counted == {
        'lookup="oncall",outcome="found"': 1.0,
        'lookup="oncall",outcome="no_schedule"': 1.0,
        'lookup="oncall",outcome="failed"': 1.0,
    }


def test_a_ticket_filed_after_its_pause_names_who_is_on_call_then(
    engine: Engine, t0: datetime
) -> None:
    from datetime import timedelta

    from autoticket.lifecycle.timers import fire_due

    config = escalation_config(routes=[{"name": "default", "pause": {"warning": "2m"}}])
    body = orjson.dumps(
        am_payload(am_alert(service="checkout", team="payments", severity="warning"))
    )
    with engine.begin() as conn:
        process(conn, config, [Delivery("d1", "alertmanager", t0, body, {})], t0)
        assert conn.execute(select(outbox.c.id)).first() is None  # paused
    with engine.begin() as conn:
        fire_due(conn, t0 + timedelta(minutes=3), config)
    with engine.connect() as conn:
        [payload] = conn.execute(select(outbox.c.payload)).scalars()
    assert payload["reasons"][-1] == "still firing after its 0:02:00 pause"
    assert payload["oncall"] == "ann"
