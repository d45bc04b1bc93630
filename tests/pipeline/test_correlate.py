"""correlate + decide, table-driven: a sequence of alert states -> changes and actions."""

from __future__ import annotations

from datetime import datetime, timedelta

import orjson
import pytest
from sqlalchemy import Connection, Engine, func, select

from autoticket.config import Config
from autoticket.engine.round import Round
from autoticket.model import Delivery
from autoticket.pipeline.correlate import correlation_key
from autoticket.pipeline.runner import build_pipeline
from autoticket.policy import RouteTable
from autoticket.sinks.outbox import Dispatcher
from autoticket.sources import get_source
from autoticket.store.tables import outbox
from conftest import am_alert, am_payload

A = {"alertname": "A"}
B = {"alertname": "B"}  # another group (group_by alertname)
A2 = {"alertname": "A", "instance": "2"}  # same group as A, another alert

# (minute, status, alert overrides) -> (change kinds, ticket actions) of that step
CASES = {
    "first firing opens": [
        ((0, "firing", A), ({"opened"}, ["open"])),
    ],
    "repeat is a no-op": [
        ((0, "firing", A), ({"opened"}, ["open"])),
        ((1, "firing", A), (set(), [])),
        ((2, "firing", A), (set(), [])),
    ],
    "second alert of the group updates": [
        ((0, "firing", A), ({"opened"}, ["open"])),
        ((1, "firing", A2), ({"alert_added"}, ["update"])),
    ],
    "other group opens another incident": [
        ((0, "firing", A), ({"opened"}, ["open"])),
        ((1, "firing", B), ({"opened"}, ["open"])),
    ],
    # severity is a label, so a critical twin is another alert of the same group
    "severity rise updates": [
        ((0, "firing", {**A, "severity": "warning"}), ({"opened"}, ["open"])),
        (
            (1, "firing", {**A, "severity": "critical"}),
            ({"alert_added", "severity_changed"}, ["update"]),
        ),
        ((2, "firing", {**A, "severity": "warning"}), (set(), [])),
    ],
    "partial resolve updates, full resolve waits for the timer": [
        ((0, "firing", A), ({"opened"}, ["open"])),
        ((0, "firing", A2), ({"alert_added"}, ["update"])),
        ((1, "resolved", A2), ({"alert_resolved"}, ["update"])),
        ((2, "resolved", A), ({"alert_resolved"}, ["update"])),
        ((3, "resolved", A), (set(), [])),
    ],
    "refire before the timer": [
        ((0, "firing", A), ({"opened"}, ["open"])),
        ((1, "resolved", A), ({"alert_resolved"}, ["update"])),
        (
            (2, "firing", {**A, "starts_at": "2026-01-05T10:01:30Z"}),
            ({"alert_refired"}, ["update"]),
        ),
    ],
    "a stale firing copy after the resolve changes nothing": [
        ((0, "firing", A), ({"opened"}, ["open"])),
        ((1, "resolved", A), ({"alert_resolved"}, ["update"])),
        ((1, "firing", A), (set(), [])),
    ],
    "resolved without a firing first is ignored": [
        ((0, "resolved", A), (set(), [])),
        ((1, "firing", {**A, "starts_at": "2026-01-05T10:00:45Z"}), ({"opened"}, ["open"])),
    ],
    "a resolved alert that never fired stays without incident": [
        ((0, "resolved", A), (set(), [])),
        ((1, "resolved", {**A, "ends_at": "2026-01-05T10:00:50Z"}), (set(), [])),
        ((2, "firing", {**A, "starts_at": "2026-01-05T10:01:30Z"}), ({"opened"}, ["open"])),
    ],
    "a firing older than the known resolution is stale": [
        ((0, "resolved", A), (set(), [])),
        ((1, "firing", A), (set(), [])),
    ],
}


def _delivery(i: int, t: datetime, status: str, overrides: dict[str, str]) -> Delivery:
    alert = am_alert(
        status=status,
        **{k: v for k, v in overrides.items() if k != "alertname"},
        alertname=overrides["alertname"],
    )
    return Delivery(f"d{i}", "alertmanager", t, orjson.dumps(am_payload(alert)), {})


def _round(engine: Engine, config: Config) -> Round:
    return Round(engine, config, build_pipeline(config), Dispatcher())


@pytest.mark.parametrize("steps", list(CASES.values()), ids=list(CASES))
def test_sequence(engine: Engine, config: Config, t0: datetime, steps: list) -> None:
    pipeline = _round(engine, config)
    for i, ((minute, status, overrides), (kinds, actions)) in enumerate(steps):
        t = t0 + timedelta(minutes=minute)
        with engine.begin() as conn:
            seen = _last_outbox_id(conn)
            outcome = pipeline.process(conn, [_delivery(i, t, status, overrides)], t)
            enqueued = _actions_after(conn, seen)
        assert set(outcome.changes) == kinds, f"step {i}"
        assert outcome.actions == len(actions), f"step {i}"
        assert enqueued == sorted(actions), f"step {i}"


def _last_outbox_id(conn: Connection) -> int:
    return conn.execute(select(func.coalesce(func.max(outbox.c.id), 0))).scalar_one()


def _actions_after(conn: Connection, last_id: int) -> list[str]:
    """The kinds of the ticket actions enqueued since `last_id` (one row per sink)."""
    rows = conn.execute(
        select(outbox.c.idempotency_key, outbox.c.sink, outbox.c.action).where(
            outbox.c.id > last_id
        )
    )
    per_action = {(key.removesuffix(f":{sink}"), action) for key, sink, action in rows}
    return sorted(action for _, action in per_action)


def test_same_batch_twice_produces_the_same_idempotency_keys(
    engine: Engine, config: Config, t0: datetime
) -> None:
    """Re-running a batch (after a crash) must regenerate keys the outbox already holds."""
    from sqlalchemy import select

    from autoticket.store.tables import outbox

    pipeline = _round(engine, config)
    deliveries = [_delivery(0, t0, "firing", A), _delivery(1, t0, "firing", A2)]
    with engine.connect() as conn:
        trans = conn.begin()
        pipeline.process(conn, deliveries, t0)
        first = conn.execute(select(outbox.c.idempotency_key)).scalars().all()
        trans.rollback()
    with engine.begin() as conn:
        pipeline.process(conn, deliveries, t0)
        second = conn.execute(select(outbox.c.idempotency_key)).scalars().all()
    assert first == second
    assert len(first) == 1 and first[0].endswith(":v1:open:builtin")


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (
            {"alertname": "A", "service": "checkout", "environment": "prod", "team": "payments"},
            "payments-prod|alertname=A,environment=prod,service=checkout",
        ),
        (
            {"alertname": "A", "service": "search"},
            "default|alertname=A,environment=default,service=search",
        ),
        (
            {"alertname": "A", "service": "search", "env": "staging", "pod": "x-1"},
            "default|alertname=A,environment=staging,service=search",
        ),
    ],
)
def test_correlation_key_includes_route_environment_and_group(
    config: Config, t0: datetime, labels: dict[str, str], expected: str
) -> None:
    body = {"alerts": [{"status": "firing", "labels": labels, "startsAt": "2026-01-05T10:00:00Z"}]}
    [event] = get_source("alertmanager").parse(body, {}, delivery_id="d", received_at=t0)
    match = RouteTable.from_config(config).match(event)
    assert match is not None
    key, group = correlation_key(event, match.route)
    assert key == expected
    assert group["environment"] == expected.split("environment=")[1].split(",")[0]


def test_a_routing_change_moves_firing_alerts_without_stranding_the_old_incident(
    engine: Engine, t0: datetime
) -> None:
    """After a config change the alert correlates elsewhere; the old incident still resolves."""
    from sqlalchemy import select

    from autoticket.config import parse_config_text
    from autoticket.lifecycle import fire_due
    from autoticket.store.tables import incidents

    before = parse_config_text("routes: [{name: old}]")
    after = parse_config_text("routes: [{name: new}]")
    with engine.begin() as conn:
        _round(engine, before).process(conn, [_delivery(0, t0, "firing", A)], t0)
    t1 = t0 + timedelta(minutes=1)
    with engine.begin() as conn:
        outcome = _round(engine, after).process(conn, [_delivery(1, t1, "firing", A)], t1)
    assert set(outcome.changes) == {"opened", "alert_moved"}
    t2 = t0 + timedelta(minutes=2)
    with engine.begin() as conn:
        _round(engine, after).process(conn, [_delivery(2, t2, "resolved", A)], t2)
    with engine.begin() as conn:
        assert fire_due(conn, t2 + after.timers.resolve_after, after) == 2
        rows = conn.execute(select(incidents.c.route, incidents.c.status, incidents.c.firing))
        assert sorted(rows) == [("new", "resolved", 0), ("old", "resolved", 0)]
