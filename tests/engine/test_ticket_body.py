"""The ticket body: rendered from the incident's most telling event, on both databases."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from autoticket.config import Config
from autoticket.engine.round import Round
from autoticket.engine.ticket_body import MAX_BODY, safe_link
from autoticket.lifecycle.manual import acknowledge
from autoticket.model import Delivery
from autoticket.pipeline.runner import build_pipeline
from autoticket.sinks.outbox import Dispatcher
from autoticket.store.tables import incidents, outbox
from autoticket.store.tickets import ticket_of_incident
from conftest import am_alert, am_payload


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JAVASCRIPT:alert(1)",
        "data:text/html,<b>x</b>",
        "/relative/runbook",
        "https://",
        "https://runbooks.example.com/a b",
        "https://runbooks.example.com/\nInjected: line",
        "ftp://files.example.com/runbook",
        "",
        None,
    ],
)
def test_unsafe_links_are_dropped(url: str | None) -> None:
    assert safe_link(url) is None


@pytest.mark.parametrize(
    "url", ["https://runbooks.example.com/checkout#step-2", "http://10.0.0.1:3000/wiki?page=db"]
)
def test_http_links_are_kept(url: str) -> None:
    assert safe_link(url) == url


def _run(engine: Engine, config: Config, bodies: list[dict[str, object]], now: datetime) -> int:
    engine_round = Round(engine, config, build_pipeline(config), Dispatcher())
    deliveries = [
        Delivery(f"d{i}", "alertmanager", now, json.dumps(b).encode()) for i, b in enumerate(bodies)
    ]
    with engine.begin() as conn:
        engine_round.process(conn, deliveries, now)
    engine_round.dispatch(now)
    with engine.connect() as conn:
        ids = conn.execute(select(incidents.c.id)).scalars().all()
    assert len(ids) == 1, ids
    return ids[0]


def _alert(severity: str, instance: str, **annotations: str) -> dict[str, object]:
    alert = am_alert(severity=severity, instance=instance)
    alert["annotations"] = annotations
    alert["fingerprint"] = f"fp-{instance}"
    return alert


def test_the_body_tells_what_where_who_and_why(
    engine: Engine, config: Config, t0: datetime
) -> None:
    warning = _alert("warning", "a", summary="a warning first")
    critical = _alert(
        "critical",
        "b",
        summary="Checkout is failing 7% of requests",
        description="5xx ratio above 5% for 5 minutes",
        runbook_url="https://runbooks.example.com/checkout-5xx",
        dashboard="https://grafana.example.com/d/checkout",
    )
    incident_id = _run(engine, config, [am_payload(warning, critical)], t0)
    with engine.connect() as conn:
        body = ticket_of_incident(conn, incident_id).body
    lines = body.splitlines()
    assert lines[0] == "Checkout is failing 7% of requests"  # the critical one, not the first
    assert "5xx ratio above 5% for 5 minutes" in lines
    assert "Service: checkout (prod)" in lines
    assert "Alert: HighErrorRate" in lines
    assert "Severity: critical · Priority: P1" in lines
    assert "Alerts: 2 (2 firing)" in lines
    assert "Owner: payments (Payments, payments-oncall@example.com)" in lines
    # The annotation's runbook wins over the catalog's.
    assert "Runbook: https://runbooks.example.com/checkout-5xx" in lines
    assert "Source: http://prometheus.example:9090/graph" in lines
    assert "Alertmanager: http://alertmanager.example:9093" in lines
    assert "- dashboard: https://grafana.example.com/d/checkout" in lines
    assert "- summary: Checkout is failing 7% of requests" not in lines  # shown once, on top
    assert lines[-1].startswith("Why: route 'payments-prod' files tickets; severity critical")
    assert "changes in this update: opened" in lines[-1]
    assert f"GET /api/v1/incidents/{incident_id} (explain)" in lines[-1]


def test_an_unsafe_runbook_is_not_linked(engine: Engine, config: Config, t0: datetime) -> None:
    alert = _alert("critical", "a", summary="s", runbook_url="javascript:alert(document.cookie)")
    incident_id = _run(engine, config, [am_payload(alert)], t0)
    with engine.connect() as conn:
        body = ticket_of_incident(conn, incident_id).body
    assert "javascript:" not in body
    assert "Runbook: none" in body.splitlines()


def test_updates_rewrite_the_body_and_a_person_s_action_keeps_it(
    engine: Engine, config: Config, t0: datetime
) -> None:
    first = _alert("warning", "a", summary="first summary")
    incident_id = _run(engine, config, [am_payload(first)], t0)
    later = t0 + timedelta(seconds=30)
    second = _alert("critical", "b", summary="now critical")
    assert _run(engine, config, [am_payload(first, second)], later) == incident_id
    # The escalation is held until the update interval since the opening ends.
    due = t0 + config.tickets.update_interval
    engine_round = Round(engine, config, build_pipeline(config), Dispatcher())
    assert engine_round.fire_timers(due - timedelta(seconds=1)) == 0
    with engine.connect() as conn:
        assert ticket_of_incident(conn, incident_id).body.splitlines()[0] == "first summary"
    assert engine_round.fire_timers(due) == 1
    engine_round.dispatch(due)
    with engine.connect() as conn:
        updated = ticket_of_incident(conn, incident_id).body
    assert updated.splitlines()[0] == "now critical"
    assert "Alerts: 2 (2 firing)" in updated.splitlines()

    acked_at = due + timedelta(seconds=5)
    with engine.begin() as conn:
        acknowledge(conn, config, incident_id, acked_at, "alice")
    engine_round.dispatch(acked_at)
    with engine.connect() as conn:
        ticket = ticket_of_incident(conn, incident_id)
    assert ticket.status == "acknowledged"
    assert ticket.body == updated


def test_the_body_is_bounded(engine: Engine, config: Config, t0: datetime) -> None:
    big = {f"note_{i:02d}": "x" * 5000 for i in range(20)}
    alert = _alert("critical", "a", summary="s" * 5000, **big)
    incident_id = _run(engine, config, [am_payload(alert)], t0)
    with engine.connect() as conn:
        body = ticket_of_incident(conn, incident_id).body
    assert len(body) == MAX_BODY
    assert body.endswith("…")
    assert body.splitlines()[0] == "s" * 1023 + "…"


def test_each_action_payload_carries_the_body_and_the_labels_a_sink_files_under(
    engine: Engine, config: Config, t0: datetime
) -> None:
    alert = _alert(
        "critical",
        "a",
        summary="Checkout is failing",
        runbook_url="https://runbooks.example.com/checkout-5xx",
    )
    incident_id = _run(engine, config, [am_payload(alert)], t0)
    with engine.connect() as conn:
        payload = (
            conn.execute(select(outbox.c.payload).where(outbox.c.incident_id == incident_id))
            .scalars()
            .first()
        )
        body = ticket_of_incident(conn, incident_id).body
    assert payload["body"] == body and body.startswith("Checkout is failing")
    assert payload["incident_id"] == incident_id
    assert payload["remote_tag"] == f"autoticket-{incident_id}"
    assert len(payload["incident_ref"]) == 20
    assert payload["labels"] == {
        "service": "checkout",
        "environment": "prod",
        "alertname": "HighErrorRate",
        "runbook": "https://runbooks.example.com/checkout-5xx",
        "source": "http://prometheus.example:9090/graph",
        "alertmanager": "http://alertmanager.example:9093",
    }
