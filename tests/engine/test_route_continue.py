"""Routes with `continue` (Alertmanager's): the first matching route decides the
incident; later matching routes, while each continues, add their sinks; every
later action of the ticket, a timer's resolve included, reaches every sink that
got it. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy import Engine, select

from autoticket.config import Config, parse_config_text
from autoticket.lifecycle.timers import fire_due
from autoticket.model import AlertStatus, Delivery, Event, EventKind, Severity
from autoticket.policy import RouteTable
from autoticket.store.tables import events, outbox
from conftest import am_alert, am_payload, process

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
CONFIG = """
timers: {resolve_after: 5m}
sinks:
  audit-hook: {type: webhook, url: "https://audit.example/x", secret_env: AUDIT_SECRET}
  all-hook: {type: webhook, url: "https://all.example/x", secret_env: ALL_SECRET}
routes:
  - name: shop
    matchers: ['service="checkout"']
    continue: true
  - name: audit
    matchers: ['severity="critical"']
    sinks: [audit-hook]
  - name: everything
    sinks: [all-hook]
"""


def _send(engine: Engine, config: Config, at: datetime, name: str, **labels: str) -> None:
    body = orjson.dumps(am_payload(am_alert(**labels)))
    with engine.begin() as conn:
        fire_due(conn, at, config)
        process(conn, config, [Delivery(name, "alertmanager", at, body, {})], at)


def _sent(engine: Engine) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(outbox.c.action, outbox.c.sink, outbox.c.payload).order_by(outbox.c.id)
        ).all()
    return sorted((action, sink, payload["title"]) for action, sink, payload in rows)


def test_route_selection_with_continue() -> None:
    table = RouteTable.from_config(parse_config_text(CONFIG))

    def event(**labels: str) -> Event:
        severity = Severity.parse(labels.get("severity", "warning"))
        return Event(
            "e", "alertmanager", EventKind.ALERT, AlertStatus.FIRING, T0, T0, "x",
            severity, "fp", "raw", labels=labels,
        )  # fmt: skip

    found = table.match(event(service="checkout", severity="critical"))
    assert found is not None and found.route.name == "shop"
    assert [r.name for r in found.also] == ["audit"]  # audit does not continue: it stops
    found = table.match(event(service="checkout", severity="warning"))
    assert found is not None and [r.name for r in found.also] == ["everything"]
    found = table.match(event(service="search", severity="critical"))
    assert found is not None and found.route.name == "audit" and found.also == []


T0 = datetime(2026, 1, 5, 10, 0, tzinfo=datetime.now().astimezone().tzinfo).replace(tzinfo=None)


def test_a_continued_route_gets_the_ticket_and_all_its_later_actions(
    engine: Engine, t0: datetime
) -> None:
    config = parse_config_text(CONFIG)
    _send(engine, config, t0, "d1", service="checkout", severity="critical")
    _send(engine, config, t0, "d2", service="search", severity="critical")
    resolved = {"status": "resolved", "service": "checkout", "severity": "critical"}
    _send(engine, config, t0 + timedelta(minutes=1), "d3", **resolved)
    with engine.begin() as conn:
        fire_due(conn, t0 + timedelta(minutes=7), config)
    assert _sent(engine) == [
        ("open", "audit-hook", "HighErrorRate on checkout"),
        ("open", "audit-hook", "HighErrorRate on search"),
        ("open", "builtin", "HighErrorRate on checkout"),
        ("resolve", "audit-hook", "HighErrorRate on checkout"),
        ("resolve", "builtin", "HighErrorRate on checkout"),  # the timer's: both sinks
    ]
    with engine.connect() as conn:
        [decisions] = conn.execute(
            select(events.c.decisions).where(events.c.delivery_id == "d1")
        ).scalars()
    [route] = [d for d in decisions if d["stage"] == "route"]
    assert route["rule"] == "shop" and route["inputs"]["continued"] == ["audit"]


def test_check_config_warns_of_continue_on_the_last_route() -> None:
    from autoticket.checks import check_config_text

    text = CONFIG + "    continue: true\n"
    env = {"AUDIT_SECRET": "a", "ALL_SECRET": "b"}
    report = check_config_text(text, "c.yaml", env)
    assert report.errors == []
    [warning] = report.warnings
    assert warning.path == "routes.2.continue" and warning.line == 15
    assert check_config_text(CONFIG, "c.yaml", env).warnings == []
