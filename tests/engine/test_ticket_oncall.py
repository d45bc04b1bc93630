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
from autoticket.model import Delivery
from autoticket.store.tables import outbox
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
