"""autoticket behind a real Alertmanager HA pair (and a real Prometheus).

Alerts are posted to both Alertmanagers through their API v2, as Prometheus
does in an HA setup; the Alertmanagers (unclustered, so both notify) deliver
their own webhook payloads to every autoticket server of the session. Each
test uses its own alertname, so tests share the session's processes without
seeing each other's incidents. Waits are bounded polls, never fixed sleeps.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import pytest

from .conftest import AlertmanagerPair, Autoticket, Prometheus

# Real services start, crash and converge here: more than the default 120 s per test.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

T = TypeVar("T")

WAIT = 30.0  # seconds: upper bound of every wait
POLL = 0.2
SERVICE = "checkout"  # catalog: team payments; route payments-prod (warning -> P2)
RESOLVE_AFTER = timedelta(seconds=2)  # the test config's timers.resolve_after


# -- helpers -------------------------------------------------------------------


def eventually(check: Callable[[], T], what: str, timeout: float = WAIT) -> T:
    """Call `check` until it returns without an AssertionError; return its result.

    `check` signals "not yet" with `assert`; an invariant broken on the way
    (see `always`) fails at once instead of being waited out.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except (AssertionError, httpx.HTTPError) as exc:
            if time.monotonic() >= deadline:
                raise AssertionError(f"not within {timeout:.0f}s: {what}; last: {exc}") from exc
        time.sleep(POLL)


def always(condition: bool, message: str) -> None:
    """An invariant: fail the test now (not retried by `eventually`)."""
    if not condition:
        pytest.fail(message)


def rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now() -> datetime:
    return datetime.now(UTC)


def alert(
    alertname: str,
    instance: str = "10.0.0.1:9100",
    severity: str = "critical",
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
) -> dict[str, Any]:
    """One alert as Prometheus posts it to Alertmanager's API v2."""
    body: dict[str, Any] = {
        "labels": {
            "alertname": alertname,
            "service": SERVICE,
            "environment": "prod",
            "severity": severity,
            "instance": instance,
            "job": "checkout",
        },
        "annotations": {
            "summary": f"{alertname}: checkout error rate above 5%",
            "description": f"5xx ratio on {instance} is 7.3%",
        },
        "startsAt": rfc3339(starts_at or now()),
        "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=rate%28http_errors%5B5m%5D%29",
    }
    if ends_at is not None:
        body["endsAt"] = rfc3339(ends_at)
    return body


def resolved(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same alerts with endsAt in the past, as Prometheus sends a resolution."""
    ended = now() - timedelta(seconds=1)
    out = []
    for a in alerts:
        starts = datetime.fromisoformat(a["startsAt"].replace("Z", "+00:00"))
        out.append({**a, "endsAt": rfc3339(max(ended, starts))})
    return out


def one_ticket(server: Autoticket, alertname: str) -> dict[str, Any]:
    """The ticket of `alertname`; asserts (not yet) there is one, fails if more."""
    tickets = server.tickets(alertname)
    always(len(tickets) <= 1, f"[{server.name}] {alertname}: more than one ticket: {tickets}")
    incidents = server.incidents(alertname)
    always(len(incidents) <= 1, f"[{server.name}] {alertname}: several incidents: {incidents}")
    assert tickets, f"[{server.name}] {alertname}: no ticket yet"
    return tickets[0]


def counts(server: Autoticket, incident_id: int) -> dict[str, int]:
    """instance label -> how many events the incident's alert of that instance got."""
    detail = server.incident(incident_id)
    return {a["labels"]["instance"]: a["count"] for a in detail["alerts"]}


def fire_and_wait(
    servers: list[Autoticket],
    alertmanagers: AlertmanagerPair,
    alerts: list[dict[str, Any]],
    alertname: str,
) -> dict[str, dict[str, Any]]:
    """Post `alerts` to both Alertmanagers; wait for one ticket per server."""
    alertmanagers.post(alerts)
    return {
        s.name: eventually(lambda s=s: one_ticket(s, alertname), f"[{s.name}] a ticket")
        for s in servers
    }


def resolve_and_wait(
    servers: list[Autoticket],
    alertmanagers: AlertmanagerPair,
    alerts: list[dict[str, Any]],
    alertname: str,
) -> dict[str, dict[str, Any]]:
    """Post the resolution of `alerts` to both Alertmanagers; wait for resolved tickets."""
    alertmanagers.post(resolved(alerts))

    def ticket_resolved(server: Autoticket) -> dict[str, Any]:
        ticket = one_ticket(server, alertname)
        assert ticket["status"] == "resolved", f"[{server.name}] ticket is {ticket['status']}"
        return ticket

    return {
        s.name: eventually(lambda s=s: ticket_resolved(s), f"[{s.name}] the ticket resolved")
        for s in servers
    }


# -- tests ---------------------------------------------------------------------


def test_ha_pair_yields_one_ticket_over_repeats(
    servers: list[Autoticket], alertmanagers: AlertmanagerPair
) -> None:
    name = "E2EDedupHA"
    fire_and_wait(servers, alertmanagers, [alert(name)], name)

    for server in servers:
        ticket = one_ticket(server, name)
        assert ticket["title"] == f"{name}: checkout error rate above 5%"
        assert ticket["team"] == "payments"  # catalog: checkout -> payments
        assert ticket["priority"] == "P1"  # severity critical
        assert ticket["severity"] == "critical"
        assert ticket["status"] == "open"

        # Each Alertmanager sends the group once, then again every repeat_interval:
        # 6 deliveries of the one alert span at least two repeat intervals.
        def repeated(server: Autoticket = server) -> int:
            ticket = one_ticket(server, name)
            always(
                ticket["update_count"] == 0,
                f"[{server.name}] a repeat updated the ticket: {ticket}",
            )
            always(ticket["status"] == "open", f"[{server.name}] ticket changed: {ticket}")
            count = counts(server, ticket["incident_id"])["10.0.0.1:9100"]
            assert count >= 6, f"[{server.name}] alert count {count}"
            return count

        eventually(repeated, f"[{server.name}] repeats from both Alertmanagers")
        detail = server.incident(ticket["incident_id"])
        assert detail["alert_count"] == 1
        assert detail["status"] == "open"

    # Both Alertmanagers really hold (and re-send) the alert.
    for member in (0, 1):
        assert len(alertmanagers.alerts(member, name)) == 1


def test_second_alert_in_group_updates_the_ticket(
    servers: list[Autoticket], alertmanagers: AlertmanagerPair
) -> None:
    name = "E2EGroupUpdate"
    first = alert(name, instance="10.0.0.1:9100", severity="warning")
    opened = fire_and_wait(servers, alertmanagers, [first], name)
    for server in servers:
        ticket = opened[server.name]
        assert ticket["priority"] == "P2"  # route payments-prod: warning -> P2
        assert ticket["update_count"] == 0

    # Same alertname and service, other instance: Alertmanager's group changes,
    # both members notify with the two alerts.
    second = alert(name, instance="10.0.0.2:9100", severity="warning")
    alertmanagers.post([second])
    for server in servers:
        incident_id = opened[server.name]["incident_id"]

        def joined(server: Autoticket = server, incident_id: int = incident_id) -> dict[str, Any]:
            ticket = one_ticket(server, name)
            always(ticket["incident_id"] == incident_id, f"[{server.name}] new incident")
            always(ticket["update_count"] <= 1, f"[{server.name}] updated twice: {ticket}")
            seen = counts(server, incident_id)
            # both Alertmanagers delivered the new alert (and re-sent the first)
            assert seen.get("10.0.0.2:9100", 0) >= 2, f"[{server.name}] counts {seen}"
            assert ticket["update_count"] == 1, f"[{server.name}] {ticket}"
            return ticket

        ticket = eventually(joined, f"[{server.name}] the second alert joins the incident")
        assert ticket["id"] == opened[server.name]["id"]
        assert ticket["status"] == "open"
        detail = server.incident(incident_id)
        assert detail["alert_count"] == 2
        assert detail["firing"] == 2
        kinds = [t["kind"] for t in detail["timeline"]]
        assert "alert_added" in kinds


def test_resolution_resolves_ticket_after_resolve_after(
    servers: list[Autoticket], alertmanagers: AlertmanagerPair
) -> None:
    name = "E2EResolve"
    started = now() - timedelta(minutes=1)
    alerts = [
        alert(name, instance="10.0.0.1:9100", starts_at=started),
        alert(name, instance="10.0.0.2:9100", starts_at=started),
    ]
    fire_and_wait(servers, alertmanagers, alerts, name)

    posted = now()
    tickets = resolve_and_wait(servers, alertmanagers, alerts, name)
    for server in servers:
        ticket = tickets[server.name]
        detail = server.incident(ticket["incident_id"])
        assert detail["status"] == "resolved"
        assert {a["status"] for a in detail["alerts"]} == {"resolved"}
        timeline = detail["timeline"]
        kinds = [t["kind"] for t in timeline]
        assert "timer_set" in kinds and "resolved" in kinds, kinds
        timer = next(t for t in timeline if t["kind"] == "timer_set")
        done = next(t for t in timeline if t["kind"] == "resolved")
        assert kinds.index("timer_set") < kinds.index("resolved")
        set_at = datetime.fromisoformat(timer["at"])
        resolved_at = datetime.fromisoformat(done["at"])
        # resolved exactly resolve_after after the last alert's resolution arrived
        assert resolved_at - set_at == RESOLVE_AFTER, (set_at, resolved_at)
        assert datetime.fromisoformat(timer["data"]["due"]) == resolved_at
        assert set_at >= posted - timedelta(seconds=1)
        assert datetime.fromisoformat(ticket["resolved_at"]) == resolved_at
        assert detail["explain"]["timers"]["state"] == "fired"
        assert ticket["reopen_count"] == 0


def test_firing_again_reopens_the_same_ticket(
    servers: list[Autoticket], alertmanagers: AlertmanagerPair
) -> None:
    name = "E2EReopen"
    first = [alert(name, starts_at=now() - timedelta(minutes=1))]
    opened = fire_and_wait(servers, alertmanagers, first, name)
    resolve_and_wait(servers, alertmanagers, first, name)

    # Fires again well within reopen_within (1h): a new occurrence of the same alert.
    alertmanagers.post([alert(name, starts_at=now())])
    for server in servers:

        def reopened(server: Autoticket = server) -> dict[str, Any]:
            ticket = one_ticket(server, name)
            assert ticket["status"] == "open", f"[{server.name}] ticket is {ticket['status']}"
            return ticket

        ticket = eventually(reopened, f"[{server.name}] the ticket reopened")
        assert ticket["id"] == opened[server.name]["id"]
        assert ticket["incident_id"] == opened[server.name]["incident_id"]
        assert ticket["reopen_count"] == 1
        assert ticket["resolved_at"] is None
        detail = server.incident(ticket["incident_id"])
        assert detail["status"] == "open"
        assert "reopened" in [t["kind"] for t in detail["timeline"]]
        assert detail["alerts"][0]["flap_count"] == 1


def test_prometheus_rule_to_one_ticket(
    servers: list[Autoticket],
    alertmanagers: AlertmanagerPair,
    prometheus_factory: Callable[[dict[str, Any]], Prometheus],
) -> None:
    name = "E2EPrometheusRule"
    prometheus_factory(
        {
            "groups": [
                {
                    "name": "e2e",
                    "interval": "1s",
                    "rules": [
                        {
                            "alert": name,
                            "expr": "vector(1) > 0",
                            "labels": {
                                "severity": "critical",
                                "service": SERVICE,
                                "environment": "prod",
                            },
                            "annotations": {"summary": "checkout is on fire (e2e rule)"},
                        }
                    ],
                }
            ]
        }
    )
    for server in servers:
        ticket = eventually(
            lambda s=server: one_ticket(s, name), f"[{server.name}] a ticket from the rule"
        )
        assert ticket["title"] == "checkout is on fire (e2e rule)"
        assert ticket["team"] == "payments"
        assert ticket["priority"] == "P1"
        detail = server.incident(ticket["incident_id"])
        assert detail["alerts"][0]["labels"]["alertname"] == name
        # the rule's own link made it through Prometheus and Alertmanager
        event = detail["explain"]["events"][0]
        assert event["source"] == "alertmanager"
    for member in (0, 1):
        assert len(alertmanagers.alerts(member, name)) == 1


def _sample(metrics: str, name: str, **labels: str) -> float:
    """The value of one sample of Prometheus text exposition (0 if absent)."""
    total = 0.0
    for line in metrics.splitlines():
        m = re.match(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$", line)
        if not m or m.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(m.group(3))
    return total


def test_every_alertmanager_payload_parsed(
    servers: list[Autoticket], alertmanagers: AlertmanagerPair
) -> None:
    name = "E2EMetrics"
    fire_and_wait(servers, alertmanagers, [alert(name)], name)
    for server in servers:
        metrics = server.metrics()
        received = _sample(metrics, "autoticket_events_received_total", source="alertmanager")
        assert received > 0, f"[{server.name}] no alertmanager events counted"
        accepted = _sample(
            metrics, "autoticket_deliveries_total", source="alertmanager", code="202"
        )
        assert accepted > 0, f"[{server.name}] no accepted deliveries counted"
        assert _sample(metrics, "autoticket_dead_letters_total") == 0, metrics
        dead = server.get("/api/v1/dead-letters")["items"]
        assert dead == [], f"[{server.name}] Alertmanager payloads were rejected: {dead}"
    # Seen from the other side: both Alertmanagers notified (unclustered, each on
    # its own) and every notification was answered 2xx.
    for member in (0, 1):
        am_metrics = alertmanagers.metrics(member)
        sent = _sample(am_metrics, "alertmanager_notifications_total", integration="webhook")
        failed = _sample(
            am_metrics, "alertmanager_notifications_failed_total", integration="webhook"
        )
        assert sent > 0, f"alertmanager-{member + 1} sent nothing"
        assert failed == 0, f"alertmanager-{member + 1}: {failed} failed notifications"


def test_postgresql_backend_in_use(servers: list[Autoticket]) -> None:
    """Say so when the PostgreSQL half of the session did not run."""
    names = [s.name for s in servers]
    if "postgresql" not in names:
        pytest.skip("PostgreSQL not reachable (AUTOTICKET_TEST_PG_URL): ran on SQLite only")
    assert names == ["sqlite", "postgresql"]
