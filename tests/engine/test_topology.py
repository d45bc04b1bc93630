"""Topology: a new incident of a service whose dependency (catalog `depends_on`,
transitively) has an open incident from the last 15 minutes is related to it and
files no ticket; that incident stays open while a related one still fires.
On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Engine, select

from autoticket.config import Config, parse_config_text
from autoticket.lifecycle.timers import fire_due
from autoticket.model import Delivery
from autoticket.store.tables import decisions, events, incidents, outbox, timeline
from conftest import am_alert, am_payload, opened_titles, process

CONFIG = """
timers: {resolve_after: 5m, reopen_within: 1h}
catalog:
  services:
    orders-db: {team: data}
    orders: {team: shop, depends_on: [orders-db]}
    checkout: {team: payments, depends_on: [orders]}
correlation:
  topology: {enabled: true}
routes:
  - name: default
"""


def _send(engine: Engine, config: Config, at: datetime, n: int, status: str, **labels: str) -> None:
    name = labels.pop("alertname", f"A{labels['service']}")
    alert = am_alert(alertname=name, status=status, **labels)
    body = orjson.dumps(am_payload(alert))
    with engine.begin() as conn:
        fire_due(conn, at, config)
        process(conn, config, [Delivery(f"d{n}", "alertmanager", at, body, {})], at)


def _incident(engine: Engine, service: str) -> Any:
    with engine.connect() as conn:
        rows = conn.execute(select(incidents)).all()
    [row] = [r for r in rows if r.group_labels.get("service") == service]
    return row


def test_a_symptom_downstream_is_related_to_its_dependencys_incident(
    engine: Engine, t0: datetime
) -> None:
    config = parse_config_text(CONFIG)
    _send(engine, config, t0, 0, "firing", service="orders-db")
    _send(engine, config, t0 + timedelta(minutes=2), 1, "firing", service="checkout")  # 2 hops
    assert opened_titles(engine) == ["Aorders-db on orders-db"]
    db, checkout = _incident(engine, "orders-db"), _incident(engine, "checkout")
    assert checkout.parent_id == db.id and checkout.held == f"related to {db.id}"
    with engine.connect() as conn:
        kinds = [
            k
            for (k,) in conn.execute(select(timeline.c.kind).where(timeline.c.incident_id == db.id))
        ]
        [decisions] = conn.execute(
            select(events.c.decisions).where(events.c.delivery_id == "d1")
        ).scalars()
    assert "related_attached" in kinds
    [related] = [d for d in decisions if d["inputs"].get("mechanism") == "topology"]
    assert related["inputs"]["depends_on"] == "orders-db"  # via orders, which has none open


def test_late_unrelated_or_upstream_symptoms_file_their_own_tickets(
    engine: Engine, t0: datetime
) -> None:
    config = parse_config_text(CONFIG)
    _send(engine, config, t0, 0, "firing", service="checkout")
    _send(engine, config, t0 + timedelta(minutes=1), 1, "firing", service="orders-db")  # upstream
    _send(engine, config, t0 + timedelta(minutes=30), 2, "firing", service="orders")  # too late
    assert len(opened_titles(engine)) == 3


def test_the_dependency_stays_open_while_a_related_incident_fires(
    engine: Engine, t0: datetime
) -> None:
    """The related alerts count as the upstream incident's: it does not resolve (no
    premature resolution, no late ticket for the symptom) until they resolve too."""
    config = parse_config_text(CONFIG)
    _send(engine, config, t0, 0, "firing", service="orders-db")
    _send(engine, config, t0 + timedelta(minutes=1), 1, "firing", service="orders")
    _send(engine, config, t0 + timedelta(minutes=3), 2, "resolved", service="orders-db")
    with engine.begin() as conn:
        fire_due(conn, t0 + timedelta(minutes=9), config)
    db, orders = _incident(engine, "orders-db"), _incident(engine, "orders")
    assert db.status == "open" and db.resolve_due_at is None
    assert orders.parent_id == db.id and orders.held == f"related to {db.id}"
    with engine.connect() as conn:
        [waits] = conn.execute(
            select(timeline.c.data).where(
                timeline.c.incident_id == db.id, timeline.c.kind == "resolve_waits"
            )
        ).scalars()
    assert waits == {"related_firing": [orders.id]}
    # The symptom resolves: it resolves held, then its dependency with it.
    _send(engine, config, t0 + timedelta(minutes=20), 3, "resolved", service="orders")
    with engine.begin() as conn:
        fire_due(conn, t0 + timedelta(minutes=26), config)
    assert opened_titles(engine) == ["Aorders-db on orders-db"]
    db, orders = _incident(engine, "orders-db"), _incident(engine, "orders")
    assert (db.status, orders.status) == ("resolved", "resolved")
    assert db.resolved_at == orders.resolved_at == t0 + timedelta(minutes=25)
    with engine.connect() as conn:
        resolves = (
            conn.execute(
                select(outbox.c.incident_id).where(
                    outbox.c.action == "resolve", outbox.c.sink == "builtin"
                )
            )
            .scalars()
            .all()
        )
    assert resolves == [db.id]


def test_the_dependency_firing_again_resolves_on_its_own_timer(
    engine: Engine, t0: datetime
) -> None:
    config = parse_config_text(CONFIG)
    _send(engine, config, t0, 0, "firing", service="orders-db")
    _send(engine, config, t0 + timedelta(minutes=1), 1, "firing", service="orders")
    _send(engine, config, t0 + timedelta(minutes=2), 2, "resolved", service="orders")
    _send(engine, config, t0 + timedelta(minutes=3), 3, "resolved", service="orders-db")
    with engine.begin() as conn:
        fire_due(conn, t0 + timedelta(minutes=9), config)
    db, orders = _incident(engine, "orders-db"), _incident(engine, "orders")
    assert (db.status, orders.status) == ("resolved", "resolved")
    assert db.resolved_at == t0 + timedelta(minutes=8)


def test_topology_is_on_by_default_and_can_be_turned_off(engine: Engine, t0: datetime) -> None:
    default = parse_config_text(CONFIG.replace("topology: {enabled: true}", "topology: {}"))
    assert default.correlation.topology.enabled
    config = parse_config_text(
        CONFIG.replace("topology: {enabled: true}", "topology: {enabled: false}")
    )
    _send(engine, config, t0, 0, "firing", service="orders-db")
    _send(engine, config, t0 + timedelta(minutes=2), 1, "firing", service="checkout")
    assert len(opened_titles(engine)) == 2


def test_a_symptom_does_not_hang_on_a_release_verdicts_own_incident(
    engine: Engine, t0: datetime
) -> None:
    config = parse_config_text(CONFIG)
    _send(engine, config, t0, 0, "firing", service="orders-db", alertname="ReleaseRegression")
    _send(engine, config, t0 + timedelta(minutes=2), 1, "firing", service="orders")
    assert _incident(engine, "orders").parent_id is None
    assert len(opened_titles(engine)) == 2


def test_a_dependencys_incident_in_another_cluster_is_not_the_cause(
    engine: Engine, t0: datetime
) -> None:
    config = parse_config_text(CONFIG)
    _send(engine, config, t0, 0, "firing", service="orders-db", cluster="eu-1")
    later = t0 + timedelta(minutes=2)
    _send(engine, config, later, 1, "firing", service="orders", cluster="us-1")  # elsewhere
    _send(engine, config, later, 2, "firing", service="checkout", cluster="eu-1")  # same place
    assert sorted(opened_titles(engine)) == ["Aorders on orders", "Aorders-db on orders-db"]
    with engine.connect() as conn:
        rows = conn.execute(select(incidents.c.group_labels, incidents.c.parent_id)).all()
    parents = {r.group_labels["service"]: r.parent_id for r in rows}
    db = _incident(engine, "orders-db")
    assert parents == {"orders-db": None, "orders": None, "checkout": db.id}


PAUSED = CONFIG.replace("  - name: default\n", "  - name: default\n    pause: {warning: 2m}\n")


def test_a_paused_symptom_is_related_only_if_it_still_fires_when_its_pause_ends(
    engine: Engine, t0: datetime
) -> None:
    config = parse_config_text(PAUSED)
    _send(engine, config, t0, 0, "firing", service="orders-db")  # critical: filed at once
    # A warning transient downstream: it resolves within its pause, outside the incident.
    _send(
        engine, config, t0 + timedelta(minutes=1), 1, "firing", service="orders", severity="warning"
    )
    assert _incident(engine, "orders").parent_id is None, "not before its pause ends"
    _send(
        engine,
        config,
        t0 + timedelta(minutes=2),
        2,
        "resolved",
        service="orders",
        severity="warning",
    )
    # A warning symptom that keeps firing: related when its pause ends.
    _send(
        engine,
        config,
        t0 + timedelta(minutes=2),
        3,
        "firing",
        service="checkout",
        severity="warning",
    )
    with engine.begin() as conn:
        fire_due(conn, t0 + timedelta(minutes=5), config)
    db, orders, checkout = (_incident(engine, s) for s in ("orders-db", "orders", "checkout"))
    assert orders.parent_id is None and orders.held == "resolved within its pause"
    assert checkout.parent_id == db.id and checkout.held == f"related to {db.id}"
    assert opened_titles(engine) == ["Aorders-db on orders-db"]
    with engine.connect() as conn:
        messages = (
            conn.execute(
                select(timeline.c.message).where(
                    timeline.c.incident_id == checkout.id, timeline.c.kind == "related"
                )
            )
            .scalars()
            .all()
        )
    assert messages == [
        f"related to incident {db.id}: orders-db is a dependency; it still fired when its "
        "pause ended; no ticket of its own"
    ]


def test_a_symptom_does_not_hang_on_a_dependency_whose_ticket_still_waits(
    engine: Engine, t0: datetime
) -> None:
    config = parse_config_text(PAUSED)
    _send(engine, config, t0, 0, "firing", service="orders-db", severity="warning")  # paused
    _send(engine, config, t0 + timedelta(minutes=1), 1, "firing", service="checkout")  # critical
    assert _incident(engine, "checkout").parent_id is None
    assert opened_titles(engine) == ["Acheckout on checkout"]
    # Once the dependency's pause ended with its ticket filed, a new symptom hangs on it.
    with engine.begin() as conn:
        fire_due(conn, t0 + timedelta(minutes=3), config)
    _send(engine, config, t0 + timedelta(minutes=4), 2, "firing", service="orders")
    db = _incident(engine, "orders-db")
    assert _incident(engine, "orders").parent_id == db.id
    assert sorted(opened_titles(engine)) == ["Acheckout on checkout", "Aorders-db on orders-db"]


def test_a_pause_end_relation_is_on_both_timelines_and_in_explain(
    engine: Engine, t0: datetime
) -> None:
    config = parse_config_text(PAUSED)
    _send(engine, config, t0, 0, "firing", service="orders-db", severity="warning")
    with engine.begin() as conn:  # the dependency's pause ends: its ticket is filed
        fire_due(conn, t0 + timedelta(minutes=3), config)
    at = t0 + timedelta(minutes=4)
    _send(engine, config, at, 1, "firing", service="orders", severity="warning")
    with engine.begin() as conn:
        fire_due(conn, at + timedelta(minutes=3), config)
    db, orders = _incident(engine, "orders-db"), _incident(engine, "orders")
    assert orders.parent_id == db.id
    inputs = {"mechanism": "topology", "depends_on": "orders-db", "window": "0:15:00"}
    with engine.connect() as conn:
        entries = {
            (r.incident_id, r.kind): r.data
            for r in conn.execute(select(timeline)).all()
            if r.kind in ("related", "related_attached")
        }
        [explained] = conn.execute(
            select(decisions.c.stage, decisions.c.rule, decisions.c.inputs).where(
                decisions.c.outcome == "related to a dependency's incident"
            )
        ).all()
    assert entries == {
        (db.id, "related_attached"): {"incident": orders.id, **inputs},
        (orders.id, "related"): {"parent": db.id, **inputs},
    }
    assert explained.stage == "lifecycle" and explained.rule == db.correlation_key
    assert explained.inputs == {"incident": orders.id, "parent": db.id, **inputs}


def test_a_symptom_is_related_on_both_timelines_and_in_explain(
    engine: Engine, t0: datetime
) -> None:
    config = parse_config_text(CONFIG)
    _send(engine, config, t0, 0, "firing", service="orders-db")
    _send(engine, config, t0 + timedelta(minutes=1), 1, "firing", service="orders")
    db, orders = _incident(engine, "orders-db"), _incident(engine, "orders")
    inputs = {"mechanism": "topology", "depends_on": "orders-db", "window": "0:15:00"}
    with engine.connect() as conn:
        entries = {
            (r.incident_id, r.kind): (r.message, r.data)
            for r in conn.execute(select(timeline)).all()
            if r.kind in ("related", "related_attached")
        }
        [decided] = conn.execute(
            select(events.c.decisions).where(events.c.delivery_id == "d1")
        ).scalars()
    assert entries == {
        (db.id, "related_attached"): (
            f"related: incident {orders.id} (Aorders on orders): orders-db is a dependency",
            {"incident": orders.id, **inputs},
        ),
        (orders.id, "related"): (
            f"related to incident {db.id}: orders-db is a dependency; no ticket of its own",
            {"parent": db.id, **inputs},
        ),
    }
    [related] = [d for d in decided if d["outcome"] == "related to a dependency's incident"]
    assert related["rule"] == db.correlation_key
    assert related["inputs"] == {"incident": orders.id, "parent": db.id, **inputs}


def test_a_symptom_of_a_storms_member_hangs_on_the_storm(engine: Engine, t0: datetime) -> None:
    config = parse_config_text(CONFIG)
    for n, service in enumerate(["x", "y", "orders-db"]):
        _send(
            engine, config, t0 + timedelta(seconds=n), n, "firing", service=service, cluster="eu-1"
        )
    _send(engine, config, t0 + timedelta(minutes=1), 9, "firing", service="orders", cluster="eu-1")
    with engine.connect() as conn:
        rows = {r.correlation_key: r for r in conn.execute(select(incidents)).all()}
    storm = rows["storm|cluster=eu-1,environment=prod"]
    db = rows["default|cluster=eu-1,environment=prod,service=orders-db"]
    orders = rows["default|cluster=eu-1,environment=prod,service=orders"]
    assert db.parent_id == storm.id
    assert orders.parent_id == storm.id and orders.held == f"related to {storm.id}"
