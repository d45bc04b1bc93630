"""Edges of correlate that `make mutate` found unguarded (docs/testing.md): the
group's environment and missing labels in the key, and the batch's keys read
before correlating (a known incident is joined, not raced for)."""

from __future__ import annotations

from datetime import datetime, timedelta

import orjson
from sqlalchemy import Engine, select

from autoticket.config import Config, RouteConfig
from autoticket.engine.round import Round
from autoticket.model import Delivery, Event
from autoticket.pipeline.correlate import correlation_key
from autoticket.pipeline.runner import build_pipeline
from autoticket.sinks.outbox import Dispatcher
from autoticket.sources import get_source
from autoticket.store.tables import events
from conftest import am_alert, am_payload


def _event(labels: dict[str, str], t0: datetime) -> Event:
    body = {"alerts": [{"status": "firing", "labels": labels, "startsAt": "2026-01-05T10:00:00Z"}]}
    [event] = get_source("alertmanager").parse(body, {}, delivery_id="d", received_at=t0)
    return event


def test_environment_in_group_by_is_the_events_environment(t0: datetime) -> None:
    """`environment` comes from `environment` or `env` (else "default"), never
    from a label lookup that would miss `env`."""
    route = RouteConfig(name="r", group_by=["environment", "alertname"])
    key, group = correlation_key(_event({"alertname": "A", "env": "staging"}, t0), route)
    assert key == "r|alertname=A,environment=staging"
    assert group == {"environment": "staging", "alertname": "A"}


def test_a_missing_group_label_is_empty_in_the_key(t0: datetime) -> None:
    route = RouteConfig(name="r", group_by=["alertname", "service"])
    key, group = correlation_key(_event({"alertname": "A"}, t0), route)
    assert key == "r|alertname=A,environment=default,service="
    assert group["service"] == ""


def _delivery(i: int, t: datetime, **labels: str) -> Delivery:
    alert = am_alert(**labels)
    return Delivery(f"d{i}", "alertmanager", t, orjson.dumps(am_payload(alert)), {})


def test_a_later_alert_of_an_open_incident_joins_it_without_a_race(
    engine: Engine, config: Config, t0: datetime
) -> None:
    """The batch's keys are read first, so the open incident is found: no insert
    that loses to it, no "joined (lost race)" decision."""
    pipeline = Round(engine, config, build_pipeline(config), Dispatcher())
    for i, instance in enumerate(["1", "2"]):
        t = t0 + timedelta(minutes=i)
        with engine.begin() as conn:
            pipeline.process(conn, [_delivery(i, t, alertname="A", instance=instance)], t)
    with engine.connect() as conn:
        query = select(events.c.delivery_id, events.c.decisions, events.c.incident_id)
        rows = {r.delivery_id: r for r in conn.execute(query)}
    assert rows["d0"].incident_id == rows["d1"].incident_id
    outcomes = [d["outcome"] for d in rows["d1"].decisions if d["stage"] == "correlate"]
    assert "joined (lost race)" not in outcomes
