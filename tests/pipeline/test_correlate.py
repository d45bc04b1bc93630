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


@pytest.fixture
def config(config: Config) -> Config:
    """One ticket update per change: these tests pin what correlation changes.

    How updates are coalesced is tested in tests/engine/test_coalesce.py.
    """
    tickets = config.tickets.model_copy(update={"coalesce": False})
    return config.model_copy(update={"tickets": tickets})


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


def _episode(minute: int) -> dict[str, str]:
    """Alert A as a new firing episode that started at t0 + `minute` minutes."""
    return {**A, "starts_at": f"2026-01-05T{10 + minute // 60:02d}:{minute % 60:02d}:00Z"}


def test_a_reopen_is_one_change_and_flaps_are_counted(
    engine: Engine, config: Config, t0: datetime
) -> None:
    """Fire, resolve, auto-resolve, fire again within reopen_within: reopened, nothing else."""
    from sqlalchemy import select

    from autoticket.lifecycle import fire_due
    from autoticket.store.tables import alerts, incidents

    pipeline = _round(engine, config)

    def step(i: int, minute: int, status: str, overrides: dict[str, str]) -> dict[str, int]:
        t = t0 + timedelta(minutes=minute)
        with engine.begin() as conn:
            fire_due(conn, t, config)
            return pipeline.process(conn, [_delivery(i, t, status, overrides)], t).changes

    assert step(0, 0, "firing", A) == {"opened": 1}
    assert step(1, 1, "resolved", A) == {"alert_resolved": 1}
    assert step(2, 20, "firing", _episode(19)) == {"reopened": 1}
    assert step(3, 21, "resolved", {**_episode(19), "ends_at": "2026-01-05T10:20:30Z"}) == {
        "alert_resolved": 1
    }
    assert step(4, 22, "firing", _episode(22)) == {"alert_refired": 1}  # before the timer
    with engine.connect() as conn:
        [incident] = conn.execute(select(incidents)).all()
        assert (incident.status, incident.alert_count, incident.firing) == ("open", 1, 1)
        assert conn.execute(select(alerts.c.flap_count)).scalar_one() == 2


def test_an_alert_firing_into_a_new_incident_is_counted_there(
    engine: Engine, config: Config, t0: datetime
) -> None:
    """Past reopen_within a new incident opens; a known alert that fires again joins it."""
    from sqlalchemy import select

    from autoticket.lifecycle import fire_due
    from autoticket.store.tables import incidents

    pipeline = _round(engine, config)
    later = 2 * 60 + 30  # minutes: well past resolve_after + reopen_within
    steps = [
        (0, "firing", A),
        (1, "resolved", A),
        (later, "firing", {**A2, "starts_at": "2026-01-05T12:29:00Z"}),
        (later + 1, "firing", {**A, "starts_at": "2026-01-05T12:30:00Z"}),
    ]
    changes = []
    for i, (minute, status, overrides) in enumerate(steps):
        t = t0 + timedelta(minutes=minute)
        with engine.begin() as conn:
            fire_due(conn, t, config)
            changes.append(pipeline.process(conn, [_delivery(i, t, status, overrides)], t).changes)
    assert changes[2:] == [{"opened": 1}, {"alert_refired": 1}]
    with engine.connect() as conn:
        rows = conn.execute(
            select(incidents.c.status, incidents.c.alert_count).order_by(incidents.c.id)
        ).all()
    assert [tuple(r) for r in rows] == [("resolved", 1), ("open", 2)]


def test_counts_timer_and_resolved_since_as_alerts_resolve(
    engine: Engine, config: Config, t0: datetime
) -> None:
    """Two alerts fire; one resolves (twice, the repeat later), then the other."""
    from sqlalchemy import select

    from autoticket.store.tables import alerts, events, incidents, timeline

    pipeline = _round(engine, config)
    steps = [
        (0, "firing", A, {}),
        (0, "firing", A2, {}),
        (1, "resolved", A2, {"ends_at": "2026-01-05T10:00:30Z"}),
        (2, "resolved", A2, {"ends_at": "2026-01-05T10:01:30Z"}),  # a repeat, ended later
    ]
    for i, (minute, status, overrides, extra) in enumerate(steps):
        t = t0 + timedelta(minutes=minute)
        with engine.begin() as conn:
            pipeline.process(conn, [_delivery(i, t, status, {**overrides, **extra})], t)
    with engine.connect() as conn:
        incident = conn.execute(select(incidents)).one()
        assert (incident.firing, incident.event_count, incident.resolve_due_at) == (1, 4, None)
        resolved_since = conn.execute(
            select(alerts.c.resolved_since).where(alerts.c.status == "resolved")
        ).scalar_one()
        assert resolved_since.replace(tzinfo=t0.tzinfo) == datetime.fromisoformat(
            "2026-01-05T10:00:30+00:00"
        )
    t = t0 + timedelta(minutes=3)
    with engine.begin() as conn:
        pipeline.process(conn, [_delivery(9, t, "resolved", A)], t)
    due = t + config.timers.resolve_after
    with engine.connect() as conn:
        incident = conn.execute(select(incidents)).one()
        assert (incident.firing, incident.event_count) == (0, 5)
        assert incident.resolve_due_at.replace(tzinfo=t0.tzinfo) == due
        [timer] = conn.execute(
            select(timeline.c.message, timeline.c.data).where(timeline.c.kind == "timer_set")
        ).all()
        assert timer.message == f"all alerts resolved; auto-resolve at {due.isoformat()}"
        assert timer.data == {"timer": "resolve_after", "due": due.isoformat()}
        assert conn.execute(select(events.c.incident_id).distinct()).scalars().all() == [
            incident.id
        ]


def test_a_resolve_without_a_firing_is_explained(
    engine: Engine, config: Config, t0: datetime
) -> None:
    from sqlalchemy import select

    from autoticket.store.tables import events

    with engine.begin() as conn:
        _round(engine, config).process(conn, [_delivery(0, t0, "resolved", A)], t0)
    with engine.connect() as conn:
        event = conn.execute(select(events)).one()
    assert event.incident_id is None
    correlate = [d for d in event.decisions if d["stage"] == "correlate"]
    assert [d["outcome"] for d in correlate] == ["resolved without incident"]


def test_a_resolved_alert_firing_under_a_new_route_leaves_its_old_incident_alone(
    engine: Engine, t0: datetime
) -> None:
    """Only a *firing* alert that moves stops firing in its old incident."""
    from sqlalchemy import select

    from autoticket.config import parse_config_text
    from autoticket.store.tables import incidents

    before = parse_config_text("routes: [{name: old}]")
    after = parse_config_text("routes: [{name: new}]")
    steps = [
        (before, 0, "firing", A),
        (before, 0, "firing", A2),
        (before, 1, "resolved", A),
        (after, 5, "firing", {**A, "starts_at": "2026-01-05T10:04:00Z"}),
    ]
    for i, (config, minute, status, overrides) in enumerate(steps):
        t = t0 + timedelta(minutes=minute)
        with engine.begin() as conn:
            _round(engine, config).process(conn, [_delivery(i, t, status, overrides)], t)
    with engine.connect() as conn:
        rows = conn.execute(
            select(incidents.c.route, incidents.c.firing, incidents.c.resolve_due_at)
        ).all()
    assert sorted(tuple(r) for r in rows) == [("new", 1, None), ("old", 1, None)]


def test_an_alert_firing_again_beside_another_counts_two_firing(
    engine: Engine, config: Config, t0: datetime
) -> None:
    from sqlalchemy import select

    from autoticket.store.tables import incidents

    pipeline = _round(engine, config)
    steps = [
        (0, "firing", A),
        (0, "firing", A2),
        (1, "resolved", A),
        (2, "firing", {**A, "starts_at": "2026-01-05T10:01:45Z"}),
    ]
    for i, (minute, status, overrides) in enumerate(steps):
        t = t0 + timedelta(minutes=minute)
        with engine.begin() as conn:
            pipeline.process(conn, [_delivery(i, t, status, overrides)], t)
    with engine.connect() as conn:
        assert conn.execute(select(incidents.c.firing, incidents.c.alert_count)).one() == (2, 2)


def _correlate_decisions(engine: Engine, delivery_id: str) -> list[dict]:
    from sqlalchemy import select

    from autoticket.store.tables import events

    with engine.connect() as conn:
        query = select(events.c.decisions).where(events.c.delivery_id == delivery_id)
        decisions = conn.execute(query).scalar_one()
    return [d for d in decisions if d["stage"] == "correlate"]


def test_stale_copies_are_explained_and_the_boundary_is_not_stale(
    engine: Engine, config: Config, t0: datetime
) -> None:
    """Older than the known resolution (or episode) is stale; the same instant is not."""
    pipeline = _round(engine, config)
    steps = [
        (0, "firing", A),  # starts 09:59:00
        (1, "resolved", A),  # ends 10:00:30
        (2, "firing", A),  # a lagging copy of the first episode
        (3, "firing", {**A, "starts_at": "2026-01-05T10:00:30Z"}),  # starts as it ended
        (4, "resolved", {**A, "ends_at": "2026-01-05T10:00:29Z"}),  # ended before that
        (5, "resolved", {**A, "ends_at": "2026-01-05T10:00:30Z"}),  # ended as it started
    ]
    outcomes = []
    for i, (minute, status, overrides) in enumerate(steps):
        t = t0 + timedelta(minutes=minute)
        with engine.begin() as conn:
            outcomes.append(pipeline.process(conn, [_delivery(i, t, status, overrides)], t).changes)
    assert outcomes[2:] == [{}, {"alert_refired": 1}, {}, {"alert_resolved": 1}]
    key = "payments-prod|alertname=A,environment=prod,service=checkout"
    [firing] = _correlate_decisions(engine, "d2")
    assert firing == {
        **firing,
        "stage": "correlate",
        "outcome": "stale copy ignored",
        "rule": key,
        "inputs": {
            "why": "firing that started before the alert's known resolution",
            "occurred_at": "2026-01-05T09:59:00+00:00",
        },
    }
    [resolve] = _correlate_decisions(engine, "d4")
    assert resolve["outcome"] == "stale copy ignored"
    assert resolve["inputs"] == {
        "why": "resolve that ended before the current firing episode started",
        "occurred_at": "2026-01-05T10:00:29+00:00",
    }


def test_opening_and_reopening_are_explained_and_versioned(
    engine: Engine, config: Config, t0: datetime
) -> None:
    from sqlalchemy import select

    from autoticket.lifecycle import fire_due
    from autoticket.store.tables import incidents, outbox

    pipeline = _round(engine, config)
    steps = [(0, "firing", A), (1, "resolved", A), (20, "firing", _episode(19))]
    for i, (minute, status, overrides) in enumerate(steps):
        t = t0 + timedelta(minutes=minute)
        with engine.begin() as conn:
            fire_due(conn, t, config)
            pipeline.process(conn, [_delivery(i, t, status, overrides)], t)
    opened = _correlate_decisions(engine, "d0")
    assert [d["outcome"] for d in opened] == ["opened", "new alert joined"]
    [reopened, *_] = _correlate_decisions(engine, "d2")
    with engine.connect() as conn:
        incident = conn.execute(select(incidents)).one()
        keys = conn.execute(select(outbox.c.action, outbox.c.idempotency_key)).all()
    grouped = {"incident": incident.id, "grouped_by": ["alertname", "environment", "service"]}
    assert opened[0]["inputs"] == grouped
    assert reopened["outcome"] == "reopened"
    assert reopened["inputs"] == grouped
    assert incident.correlation_key == "payments-prod|alertname=A,environment=prod,service=checkout"
    assert incident.group_labels == {
        "alertname": "A",
        "environment": "prod",
        "service": "checkout",
    }
    assert incident.context == {
        **incident.context,
        "service": "checkout",
        "tier": "1",
        "runbook": "https://runbooks.example.com/checkout",
        "first_event": incident.context["first_event"],
        "first_received_at": t0.isoformat(),
    }
    # open v1, alert resolved v2, auto-resolve v3, reopen v4
    assert [(a, k.split(":")[2]) for a, k in keys] == [
        ("open", "v1"),
        ("update", "v2"),
        ("resolve", "v3"),
        ("reopen", "v4"),
    ]
    assert incident.version == 4


def test_one_batch_bumps_an_incident_version_once(
    engine: Engine, config: Config, t0: datetime
) -> None:
    from sqlalchemy import select

    from autoticket.store.tables import outbox

    pipeline = _round(engine, config)
    with engine.begin() as conn:
        pipeline.process(conn, [_delivery(0, t0, "firing", A)], t0)
    t = t0 + timedelta(minutes=1)
    batch = [
        _delivery(1, t, "firing", A2),
        _delivery(2, t, "firing", {**A, "instance": "3"}),
    ]
    with engine.begin() as conn:
        assert pipeline.process(conn, batch, t).changes == {"alert_added": 1}
        keys = conn.execute(select(outbox.c.idempotency_key).order_by(outbox.c.id)).scalars()
        assert [k.split(":")[2] for k in keys] == ["v1", "v2"]


def test_a_resolve_older_than_a_new_alerts_start_is_stale(
    engine: Engine, config: Config, t0: datetime
) -> None:
    pipeline = _round(engine, config)
    steps = [
        (0, "firing", {**A, "starts_at": "2026-01-05T10:01:00Z"}),
        (1, "resolved", {**A, "ends_at": "2026-01-05T10:00:30Z"}),  # of an older episode
    ]
    changes = []
    for i, (minute, status, overrides) in enumerate(steps):
        t = t0 + timedelta(minutes=minute)
        with engine.begin() as conn:
            changes.append(pipeline.process(conn, [_delivery(i, t, status, overrides)], t).changes)
    assert changes == [{"opened": 1}, {}]
    assert [d["outcome"] for d in _correlate_decisions(engine, "d1")] == ["stale copy ignored"]
