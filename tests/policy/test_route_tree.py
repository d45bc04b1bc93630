"""Per-team route subtrees (a route's `routes`, as in Alertmanager): the first
matching child of a matching route decides, the route itself when none does;
`continue` goes on among siblings and, through a parent that continues, past
the subtree; a child inherits every setting it does not write, and its matchers
add to its parent's. check-config reports a child's errors at its own place."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Engine, select

from autoticket.checks import check_config_text
from autoticket.config import parse_config_text
from autoticket.model import AlertStatus, Delivery, Event, EventKind, Severity
from autoticket.policy import RouteTable
from autoticket.store.tables import events, incidents, outbox
from conftest import am_alert, am_payload, process

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)

TREE = """
routes:
  - name: payments
    matchers: ['service=~"checkout|billing"']
    team: payments
    pause: {warning: 2m}
    priorities: {critical: P1}
    routes:
      - name: payments-db
        matchers: ['alertname=~"Postgres.*"']
        team: data
      - name: payments-page
        matchers: ['severity="critical"']
        continue: true
      - name: payments-page-copy
        matchers: ['alertname="HighErrorRate"']
  - name: search
    matchers: ['service="search"']
    team: discovery
    continue: true
    routes:
      - name: search-critical
        matchers: ['severity="critical"']
  - name: audit
    matchers: ['severity="critical"']
    team: sre
  - name: default
"""


def _event(severity: str = "warning", **labels: str) -> Event:
    return Event(
        "e",
        "alertmanager",
        EventKind.ALERT,
        AlertStatus.FIRING,
        T0,
        T0,
        "x",
        Severity.parse(severity),
        "fp",
        "raw",
        labels={"severity": severity, **labels},
    )


def _pick(table: RouteTable, **labels: str) -> tuple[str | None, list[str]]:
    found = table.match(_event(**labels))
    return (None, []) if found is None else (found.route.name, [r.name for r in found.also])


def test_the_first_matching_child_decides_and_the_parent_when_none_does() -> None:
    table = RouteTable.from_config(parse_config_text(TREE))
    assert _pick(table, service="checkout", alertname="PostgresDown") == ("payments-db", [])
    assert _pick(table, service="billing", alertname="DiskSlow") == ("payments", [])
    # Not under payments: its children are never tried.
    assert _pick(table, service="orders", alertname="PostgresDown") == ("default", [])


def test_continue_goes_on_among_siblings_then_past_a_parent_that_continues() -> None:
    table = RouteTable.from_config(parse_config_text(TREE))
    # payments-page continues to its sibling; payments does not continue: audit is not reached.
    picked = _pick(table, severity="critical", service="checkout", alertname="HighErrorRate")
    assert picked == ("payments-page", ["payments-page-copy"])
    picked = _pick(table, severity="critical", service="checkout", alertname="Other")
    assert picked == ("payments-page", [])
    # search continues: after its child decided, the next top-level route is tried.
    assert _pick(table, severity="critical", service="search") == ("search-critical", ["audit"])
    assert _pick(table, service="search") == ("search", ["default"])


def test_a_child_inherits_what_it_does_not_write() -> None:
    config = parse_config_text(TREE)
    db, page = config.route("payments-db"), config.route("payments-page")
    assert db is not None and page is not None
    assert db.team == "data" and page.team == "payments"
    parent = config.route("payments")
    assert parent is not None and db.pause == page.pause == parent.pause
    assert page.priorities == {"critical": "P1"}
    assert db.matchers == ['service=~"checkout|billing"', 'alertname=~"Postgres.*"']
    assert not page.routes and [r.name for r in config.route_tree[0].routes] == [
        "payments-db",
        "payments-page",
        "payments-page-copy",
    ]
    assert [e.loc for e in config.route_entries][:3] == [
        ("routes", 0),
        ("routes", 0, "routes", 0),
        ("routes", 0, "routes", 1),
    ]


def test_conditions_of_parent_and_child_must_both_hold() -> None:
    config = parse_config_text(
        """
routes:
  - name: prod
    condition: 'labels["environment"] == "prod"'
    routes:
      - name: prod-severe
        condition: 'severity_level >= 3'
  - name: default
"""
    )
    child = config.route("prod-severe")
    assert child is not None
    assert child.condition == '(labels["environment"] == "prod") && (severity_level >= 3)'
    table = RouteTable.from_config(config)
    assert _pick(table, severity="critical", environment="prod") == ("prod-severe", [])
    assert _pick(table, severity="warning", environment="prod") == ("prod", [])
    assert _pick(table, severity="critical", environment="staging") == ("default", [])


def test_explain_names_the_child_and_every_matcher_it_passed(engine: Engine) -> None:
    config = parse_config_text(TREE)
    alert = am_alert(alertname="PostgresDown", service="checkout", severity="critical")
    body = orjson.dumps(am_payload(alert))
    with engine.begin() as conn:
        process(conn, config, [Delivery("d1", "alertmanager", T0, body, {})], T0)
    with engine.connect() as conn:
        decisions: list[dict[str, Any]] = conn.execute(select(events.c.decisions)).scalar_one()
        team = conn.execute(select(incidents.c.team)).scalar_one()
        [payload] = conn.execute(select(outbox.c.payload)).scalars().all()
    [route] = [d for d in decisions if d["stage"] == "route"]
    assert route["rule"] == "payments-db"
    assert 'service=~"checkout|billing"' in route["inputs"]["reason"]
    assert 'alertname=~"Postgres.*"' in route["inputs"]["reason"]
    assert team == "data" and payload["priority"] == "P1"


def test_check_config_reports_a_child_at_its_own_place() -> None:
    text = """catalog:
  services:
    checkout: {team: payments}
routes:
  - name: payments
    matchers: ['service="checkout"']
    team: payments
    routes:
      - name: payments-db
        matchers: ['alertname=~"(unclosed"']
      - name: payments
        team: paymnts
  - name: default
"""
    report = check_config_text(text, "c.yaml")
    found = {(p.path, p.line) for p in report.errors}
    assert ("routes.0.routes.0.matchers.0", 10) in found
    assert ("routes.0.routes.1.name", 11) in found  # a name used twice in the tree
    assert any(
        p.path == "routes.0.routes.1.team" and p.line == 12 for p in report.errors + report.warnings
    )


def test_the_last_child_continuing_under_a_parent_that_does_not_is_a_warning() -> None:
    text = """routes:
  - name: payments
    matchers: ['service="checkout"']
    routes:
      - name: payments-page
        continue: true
  - name: default
"""
    report = check_config_text(text, "c.yaml")
    assert report.errors == []
    [warning] = report.warnings
    assert warning.path == "routes.0.routes.0.continue" and warning.line == 6


def test_a_flat_table_still_takes_the_first_match() -> None:
    flat = """
routes:
  - name: payments
    matchers: ['service=~"checkout|billing"']
  - name: payments-db
    matchers: ['alertname=~"Postgres.*"']
  - name: default
"""
    table = RouteTable.from_config(parse_config_text(flat))
    assert table.children == {}
    assert _pick(table, service="checkout", alertname="PostgresDown") == ("payments", [])
    assert _pick(table, service="orders", alertname="PostgresDown") == ("payments-db", [])
