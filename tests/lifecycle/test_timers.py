"""The auto-resolve timer fired directly: what it resolves, when, and what it records.

The end-to-end timing (resolve_after, reopen_within through the worker) is in
tests/service/test_lifecycle_flow.py; these call lifecycle/timers.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import orjson
from sqlalchemy import Engine, select

from autoticket.config import Config
from autoticket.lifecycle.timers import fire_due, next_due
from autoticket.pipeline.base import Delivery
from autoticket.store.tables import decisions, incidents, outbox, timeline
from conftest import am_alert, am_payload, process


def _resolved_alert(engine: Engine, config: Config, t0: datetime, name: str, minute: int) -> int:
    """An incident whose only alert fired at t0 and resolved `minute` minutes later."""
    resolved_at = t0 + timedelta(minutes=minute)
    steps = [
        (t0, am_alert(alertname=name)),
        (resolved_at, am_alert(alertname=name, status="resolved")),
    ]
    for i, (t, alert) in enumerate(steps):
        body = orjson.dumps(am_payload(alert))
        with engine.begin() as conn:
            process(conn, config, [Delivery(f"{name}-{i}", "alertmanager", t, body)], t)
    with engine.connect() as conn:
        query = select(incidents.c.id).where(incidents.c.title.contains(name))
        return conn.execute(query).scalar_one()


def test_nothing_due_fires_nothing(engine: Engine, config: Config, t0: datetime) -> None:
    with engine.begin() as conn:
        assert next_due(conn) is None
        assert fire_due(conn, t0, config) == 0
        assert conn.execute(select(outbox)).first() is None


def test_resolves_at_the_due_time_not_when_the_round_runs(
    engine: Engine, config: Config, t0: datetime
) -> None:
    incident_id = _resolved_alert(engine, config, t0, "A", 1)
    due = t0 + timedelta(minutes=1) + config.timers.resolve_after
    late = due + timedelta(hours=2)  # e.g. the worker was down
    with engine.begin() as conn:
        assert next_due(conn).replace(tzinfo=due.tzinfo) == due
        before = conn.execute(
            select(incidents.c.version).where(incidents.c.id == incident_id)
        ).scalar_one()
        assert fire_due(conn, late, config) == 1
    with engine.connect() as conn:
        row = conn.execute(select(incidents).where(incidents.c.id == incident_id)).one()
        assert row.status == "resolved"
        assert row.open_key is None
        assert row.resolve_due_at is None
        assert row.resolved_at.replace(tzinfo=due.tzinfo) == due
        assert row.updated_at.replace(tzinfo=due.tzinfo) == due
        assert row.version == before + 1
        entries = conn.execute(
            select(timeline.c.at, timeline.c.message, timeline.c.data).where(
                timeline.c.incident_id == incident_id, timeline.c.kind == "resolved"
            )
        ).all()
        after = config.timers.resolve_after
        assert [(e.at.replace(tzinfo=due.tzinfo), e.message, e.data) for e in entries] == [
            (
                due,
                f"auto-resolved: all alerts stayed resolved for {after}",
                {"timer": "resolve_after", "after_seconds": after.total_seconds()},
            )
        ]
        [action] = conn.execute(
            select(outbox.c.action, outbox.c.idempotency_key, outbox.c.payload).where(
                outbox.c.incident_id == incident_id, outbox.c.action == "resolve"
            )
        ).all()
        assert f":v{before + 1}:resolve:" in action.idempotency_key
        assert action.payload["status"] == "resolved"
        assert action.payload["reasons"] == ["resolved"]
        [decision] = conn.execute(select(decisions).where(decisions.c.stage == "lifecycle")).all()
        assert (decision.incident_id, decision.outcome, decision.rule, decision.subject) == (
            incident_id,
            "resolve",
            "resolve_after",
            str(incident_id),
        )
        assert decision.inputs["due"] == due.isoformat()
        assert action.idempotency_key.startswith(decision.inputs["idempotency_key"] + ":")
        assert next_due(conn) is None


def test_a_round_fires_every_due_timer_page_by_page_at_its_own_time(
    engine: Engine, config: Config, t0: datetime
) -> None:
    later = _resolved_alert(engine, config, t0, "Later", 3)
    earlier = _resolved_alert(engine, config, t0, "Earlier", 1)
    now = t0 + timedelta(hours=1)
    with engine.begin() as conn:
        assert fire_due(conn, now, config, limit=1) == 2  # page by page, all that are due
        assert fire_due(conn, now, config, limit=1) == 0
        rows = conn.execute(select(incidents.c.id, incidents.c.status, incidents.c.resolved_at))
        resolved = {r.id: (r.status, r.resolved_at) for r in rows}
    after = config.timers.resolve_after
    assert resolved == {
        earlier: ("resolved", t0 + timedelta(minutes=1) + after),
        later: ("resolved", t0 + timedelta(minutes=3) + after),
    }
