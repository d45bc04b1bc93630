"""The walking skeleton end to end through the HTTP API, on SQLite and PostgreSQL.

One Alertmanager notification -> one ticket; 30 concurrent copies -> still
one; resolved -> resolved after resolve_after; firing again within
reopen_within -> the same ticket reopened; later -> a new ticket.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from autoticket.api.app import create_app
from autoticket.clock import FixedClock
from autoticket.config import Config
from autoticket.service.runtime import Runtime
from autoticket.service.worker import Worker
from autoticket.store.tables import incidents, outbox, tickets
from conftest import am_alert, am_payload


@pytest.fixture
def config(config: Config) -> Config:
    """One ticket update per change: these tests pin what correlation changes.

    How updates are coalesced is tested in tests/engine/test_coalesce.py.
    """
    tickets = config.tickets.model_copy(update={"coalesce": False})
    return config.model_copy(update={"tickets": tickets})


@pytest.fixture
def clock(t0: datetime) -> FixedClock:
    return FixedClock(t0)


@pytest.fixture
def runtime(engine: Engine, config: Config, clock: FixedClock) -> Iterator[Runtime]:
    rt = Runtime(config, engine, clock=clock, start_worker=False)
    yield rt
    rt.stop()


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime), base_url="http://localhost") as c:
        yield c


def _tickets(client: TestClient) -> list[dict]:
    return client.get("/api/v1/tickets").json()["items"]


def test_one_payload_one_ticket(client: TestClient, runtime: Runtime) -> None:
    r = client.post("/api/v1/ingest/alertmanager", json=am_payload(am_alert()))
    assert r.status_code == 202, r.text
    assert r.json()["accepted"] == 1
    runtime.worker.drain()
    items = _tickets(client)
    assert len(items) == 1
    assert items[0]["status"] == "open"
    assert items[0]["priority"] == "P1"
    assert items[0]["team"] == "payments"  # catalog: checkout -> payments


def test_repeat_notifications_do_not_update_the_ticket(
    client: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    for i in range(5):
        clock.set(clock.now() + timedelta(minutes=i))
        client.post("/api/v1/ingest/alertmanager", json=am_payload(am_alert()))
        runtime.worker.drain()
    [ticket] = _tickets(client)
    assert ticket["update_count"] == 0
    with runtime.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(outbox)).scalar_one() == 1
    incident = client.get(f"/api/v1/incidents/{ticket['incident_id']}").json()
    assert incident["event_count"] == 5
    assert incident["alerts"][0]["count"] == 5


def test_new_alert_and_severity_change_update_the_ticket(
    client: TestClient, runtime: Runtime
) -> None:
    client.post(
        "/api/v1/ingest/alertmanager", json=am_payload(am_alert(severity="warning", instance="a"))
    )
    runtime.worker.drain()
    client.post(
        "/api/v1/ingest/alertmanager",
        json=am_payload(
            am_alert(severity="warning", instance="a"), am_alert(severity="critical", instance="b")
        ),
    )
    runtime.worker.drain()
    [ticket] = _tickets(client)
    assert ticket["update_count"] == 1
    assert ticket["severity"] == "critical"
    assert ticket["priority"] == "P1"
    detail = client.get(f"/api/v1/incidents/{ticket['incident_id']}").json()
    kinds = [t["kind"] for t in detail["timeline"]]
    assert "alert_added" in kinds and "severity_changed" in kinds


async def _post_concurrently(app: object, payload: dict, n: int) -> list[int]:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
        responses = await asyncio.gather(
            *(c.post("/api/v1/ingest/alertmanager", json=payload) for _ in range(n))
        )
    return [r.status_code for r in responses]


def test_thirty_concurrent_copies_with_parallel_workers_yield_one_ticket(
    runtime: Runtime,
) -> None:
    """HA pairs and retries: 30 copies at once, drained by 3 workers racing."""
    app = create_app(runtime)
    runtime.start()
    payload = am_payload(am_alert(), am_alert(alertname="LatencyHigh", severity="warning"))
    codes = asyncio.run(_post_concurrently(app, payload, 30))
    assert codes == [202] * 30
    workers = [
        Worker(runtime.engine, runtime.config, runtime.round, runtime.clock, batch_size=2)
        for _ in range(3)
    ]
    errors: list[BaseException] = []

    def drain(w: Worker) -> None:
        try:
            w.drain()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=drain, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
        assert not t.is_alive(), "a worker never finished draining"
    assert not errors, errors
    runtime.worker.drain()
    with runtime.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(incidents)).scalar_one() == 2
        assert conn.execute(select(func.count()).select_from(tickets)).scalar_one() == 2
        rows = list(
            conn.execute(
                select(incidents.c.firing, incidents.c.alert_count, incidents.c.event_count)
            )
        )
    assert sorted(rows) == [(1, 1, 30), (1, 1, 30)]


def test_resolve_after_then_reopen_within_then_new_ticket(
    client: TestClient, runtime: Runtime, clock: FixedClock, t0: datetime
) -> None:
    resolve_after = runtime.config.timers.resolve_after
    client.post("/api/v1/ingest/alertmanager", json=am_payload(am_alert()))
    runtime.worker.drain()

    clock.set(t0 + timedelta(minutes=1))
    client.post("/api/v1/ingest/alertmanager", json=am_payload(am_alert(status="resolved")))
    runtime.worker.drain()
    [ticket] = _tickets(client)
    assert ticket["status"] == "open"  # not yet: resolve_after has not passed

    clock.set(t0 + timedelta(minutes=1) + resolve_after - timedelta(seconds=1))
    runtime.worker.drain()
    assert _tickets(client)[0]["status"] == "open"

    clock.set(t0 + timedelta(minutes=1) + resolve_after)
    runtime.worker.drain()
    [ticket] = _tickets(client)
    assert ticket["status"] == "resolved"
    assert ticket["resolved_at"].startswith("2026-01-05T10:06:00")

    clock.set(t0 + timedelta(minutes=30))  # within reopen_within (1h) of resolution
    refire = am_alert(starts_at="2026-01-05T10:29:00Z")
    client.post("/api/v1/ingest/alertmanager", json=am_payload(refire))
    runtime.worker.drain()
    [ticket] = _tickets(client)
    assert ticket["status"] == "open"
    assert ticket["reopen_count"] == 1
    detail = client.get(f"/api/v1/incidents/{ticket['incident_id']}").json()
    assert [t["kind"] for t in detail["timeline"]].count("reopened") == 1

    clock.set(t0 + timedelta(minutes=31))
    resolved = am_alert(
        status="resolved", starts_at="2026-01-05T10:29:00Z", ends_at="2026-01-05T10:30:30Z"
    )
    client.post("/api/v1/ingest/alertmanager", json=am_payload(resolved))
    runtime.worker.drain()
    clock.set(t0 + timedelta(minutes=31) + resolve_after)
    runtime.worker.drain()
    clock.set(t0 + timedelta(hours=3))  # beyond reopen_within: a new incident, a new ticket
    late = am_alert(starts_at="2026-01-05T12:59:00Z")
    client.post("/api/v1/ingest/alertmanager", json=am_payload(late))
    runtime.worker.drain()
    items = _tickets(client)
    assert [(t["id"], t["status"]) for t in items] == [(2, "open"), (1, "resolved")]
    assert items[0]["incident_id"] != items[1]["incident_id"]


def test_firing_again_before_resolve_after_cancels_the_timer(
    client: TestClient, runtime: Runtime, clock: FixedClock, t0: datetime
) -> None:
    client.post("/api/v1/ingest/alertmanager", json=am_payload(am_alert()))
    runtime.worker.drain()
    clock.set(t0 + timedelta(minutes=1))
    client.post("/api/v1/ingest/alertmanager", json=am_payload(am_alert(status="resolved")))
    runtime.worker.drain()
    clock.set(t0 + timedelta(minutes=2))
    refire = am_alert(starts_at="2026-01-05T10:01:30Z")
    client.post("/api/v1/ingest/alertmanager", json=am_payload(refire))
    runtime.worker.drain()
    clock.set(t0 + timedelta(hours=1))
    runtime.worker.drain()
    [ticket] = _tickets(client)
    assert ticket["status"] == "open"
    detail = client.get(f"/api/v1/incidents/{ticket['incident_id']}").json()
    kinds = [t["kind"] for t in detail["timeline"]]
    assert "timer_set" in kinds and "timer_cancelled" in kinds
    assert detail["alerts"][0]["flap_count"] == 1


def test_explain_names_events_route_key_owner_decisions_and_timers(
    client: TestClient, runtime: Runtime, clock: FixedClock, t0: datetime
) -> None:
    client.post("/api/v1/ingest/alertmanager", json=am_payload(am_alert()))
    runtime.worker.drain()
    clock.set(t0 + timedelta(minutes=1))
    client.post("/api/v1/ingest/alertmanager", json=am_payload(am_alert(status="resolved")))
    runtime.worker.drain()
    [incident] = client.get("/api/v1/incidents").json()["items"]
    explain = client.get(f"/api/v1/incidents/{incident['id']}").json()["explain"]
    assert explain["route"]["name"] == "payments-prod"
    assert "matched" in explain["route"]["why"]["reason"]
    assert explain["correlation_key"].startswith("payments-prod|")
    assert "environment=prod" in explain["correlation_key"]
    assert explain["owner"] == {
        "team": "payments",
        "lookup": "catalog service 'checkout'",
        "detail": {
            "service": "checkout",
            "tier": "1",
            "runbook": "https://runbooks.example.com/checkout",
            "owner_source": "catalog",
        },
    }
    assert [e["status"] for e in explain["events"]] == ["firing", "resolved"]
    assert any(d["stage"] == "decide" and d["outcome"] == "open" for d in explain["decisions"])
    assert explain["timers"]["state"] == "pending"
    assert explain["timers"]["resolve_due_at"].startswith("2026-01-05T10:06:00")


def test_ack_and_manual_resolve(client: TestClient, runtime: Runtime) -> None:
    client.post("/api/v1/ingest/alertmanager", json=am_payload(am_alert()))
    runtime.worker.drain()
    [incident] = client.get("/api/v1/incidents").json()["items"]
    r = client.post(f"/api/v1/incidents/{incident['id']}/ack", json={"by": "alice"})
    assert r.json() == {"id": incident["id"], "status": "acknowledged", "changed": True}
    runtime.worker.drain()
    assert _tickets(client)[0]["status"] == "acknowledged"
    r = client.post(f"/api/v1/incidents/{incident['id']}/label", json={"label": "useful"})
    assert r.json()["labels"] == ["useful"]
    r = client.post(f"/api/v1/incidents/{incident['id']}/resolve", json={"by": "alice"})
    assert r.json()["status"] == "resolved"
    runtime.worker.drain()
    assert _tickets(client)[0]["status"] == "resolved"
    assert client.post("/api/v1/incidents/999/ack", json={}).status_code == 404


def test_a_lagging_ha_peer_does_not_undo_a_resolution(
    client: TestClient, runtime: Runtime, clock: FixedClock, t0: datetime
) -> None:
    """Peer A sends the resolve, peer B its older firing copy afterwards: still resolving."""
    client.post("/api/v1/ingest/alertmanager", json=am_payload(am_alert()))
    runtime.worker.drain()
    clock.set(t0 + timedelta(minutes=1))
    client.post("/api/v1/ingest/alertmanager", json=am_payload(am_alert(status="resolved")))
    client.post("/api/v1/ingest/alertmanager", json=am_payload(am_alert()))  # stale copy
    runtime.worker.drain()
    clock.set(t0 + timedelta(minutes=1) + runtime.config.timers.resolve_after)
    runtime.worker.drain()
    [ticket] = _tickets(client)
    assert ticket["status"] == "resolved"
    assert ticket["update_count"] == 1  # only the alert_resolved update
    detail = client.get(f"/api/v1/incidents/{ticket['incident_id']}").json()
    assert detail["alerts"][0]["flap_count"] == 0
    outcomes = [d["outcome"] for e in detail["explain"]["events"] for d in e["decisions"]]
    assert "stale copy ignored" in outcomes


def test_a_late_resolve_of_an_old_episode_does_not_resolve_the_new_one(
    client: TestClient, runtime: Runtime, clock: FixedClock, t0: datetime
) -> None:
    client.post("/api/v1/ingest/alertmanager", json=am_payload(am_alert()))
    runtime.worker.drain()
    clock.set(t0 + timedelta(minutes=1))
    client.post("/api/v1/ingest/alertmanager", json=am_payload(am_alert(status="resolved")))
    runtime.worker.drain()
    clock.set(t0 + timedelta(minutes=2))
    client.post(
        "/api/v1/ingest/alertmanager", json=am_payload(am_alert(starts_at="2026-01-05T10:01:45Z"))
    )
    client.post(
        "/api/v1/ingest/alertmanager",  # the old episode's resolve, re-sent late
        json=am_payload(am_alert(status="resolved")),
    )
    runtime.worker.drain()
    clock.set(t0 + timedelta(hours=1))
    runtime.worker.drain()
    [ticket] = _tickets(client)
    assert ticket["status"] == "open"
    [incident] = client.get("/api/v1/incidents").json()["items"]
    assert incident["firing"] == 1


def test_manual_resolve_closes_the_episode_a_new_one_reopens(
    client: TestClient, runtime: Runtime, clock: FixedClock, t0: datetime
) -> None:
    client.post("/api/v1/ingest/alertmanager", json=am_payload(am_alert()))
    runtime.worker.drain()
    [incident] = client.get("/api/v1/incidents").json()["items"]
    clock.set(t0 + timedelta(minutes=2))
    client.post(f"/api/v1/incidents/{incident['id']}/resolve", json={"by": "bob"})
    runtime.worker.drain()
    for minute in (3, 4):  # repeats of the same episode: no reopen
        clock.set(t0 + timedelta(minutes=minute))
        client.post("/api/v1/ingest/alertmanager", json=am_payload(am_alert()))
        runtime.worker.drain()
    [ticket] = _tickets(client)
    assert ticket["status"] == "resolved"
    clock.set(t0 + timedelta(minutes=20))  # a new episode of the alert: the ticket reopens
    client.post(
        "/api/v1/ingest/alertmanager", json=am_payload(am_alert(starts_at="2026-01-05T10:19:00Z"))
    )
    runtime.worker.drain()
    [ticket] = _tickets(client)
    assert ticket["status"] == "open" and ticket["reopen_count"] == 1
    clock.set(t0 + timedelta(minutes=21))
    client.post(
        "/api/v1/ingest/alertmanager",
        json=am_payload(
            am_alert(
                status="resolved", starts_at="2026-01-05T10:19:00Z", ends_at="2026-01-05T10:20:30Z"
            )
        ),
    )
    runtime.worker.drain()
    clock.set(t0 + timedelta(minutes=21) + runtime.config.timers.resolve_after)
    runtime.worker.drain()
    [ticket] = _tickets(client)
    assert ticket["status"] == "resolved"  # the firing count stayed exact


def _fire_resolve_and_auto_resolve(
    client: TestClient, runtime: Runtime, clock: FixedClock, t0: datetime
) -> datetime:
    """Open an incident, resolve its alert, let the timer fire; return resolved_at."""
    client.post("/api/v1/ingest/alertmanager", json=am_payload(am_alert()))
    runtime.worker.drain()
    clock.set(t0 + timedelta(minutes=1))
    client.post("/api/v1/ingest/alertmanager", json=am_payload(am_alert(status="resolved")))
    runtime.worker.drain()
    resolved_at = t0 + timedelta(minutes=1) + runtime.config.timers.resolve_after
    clock.set(resolved_at)
    runtime.worker.drain()
    [ticket] = _tickets(client)
    assert ticket["status"] == "resolved"
    assert datetime.fromisoformat(ticket["resolved_at"].replace("Z", "+00:00")) == resolved_at
    return resolved_at


@pytest.mark.parametrize(
    ("after_window", "reopens"),
    [(timedelta(0), True), (timedelta(seconds=1), False)],
    ids=["exactly-reopen_within-reopens", "one-second-later-is-new"],
)
def test_reopen_window_edge(
    client: TestClient,
    runtime: Runtime,
    clock: FixedClock,
    t0: datetime,
    after_window: timedelta,
    reopens: bool,
) -> None:
    """Firing again at exactly `reopen_within` after the resolution is still within it."""
    resolved_at = _fire_resolve_and_auto_resolve(client, runtime, clock, t0)
    at = resolved_at + runtime.config.timers.reopen_within + after_window
    clock.set(at)
    starts = (at - timedelta(seconds=30)).isoformat().replace("+00:00", "Z")
    client.post("/api/v1/ingest/alertmanager", json=am_payload(am_alert(starts_at=starts)))
    runtime.worker.drain()
    items = _tickets(client)
    if reopens:
        [ticket] = items
        assert (ticket["status"], ticket["reopen_count"]) == ("open", 1)
    else:
        assert [(t["id"], t["status"], t["reopen_count"]) for t in items] == [
            (2, "open", 0),
            (1, "resolved", 0),
        ]


def test_incident_of_several_alerts_auto_resolves_resolve_after_its_last_resolution(
    client: TestClient, runtime: Runtime, clock: FixedClock, t0: datetime
) -> None:
    resolve_after = runtime.config.timers.resolve_after
    a, b = am_alert(instance="a"), am_alert(instance="b")
    client.post("/api/v1/ingest/alertmanager", json=am_payload(a, b))
    runtime.worker.drain()
    [incident] = client.get("/api/v1/incidents").json()["items"]
    assert incident["alert_count"] == 2

    clock.set(t0 + timedelta(minutes=1))
    client.post(
        "/api/v1/ingest/alertmanager", json=am_payload(am_alert(status="resolved", instance="a"))
    )
    runtime.worker.drain()
    clock.set(t0 + timedelta(minutes=1) + resolve_after)
    runtime.worker.drain()
    assert _tickets(client)[0]["status"] == "open"  # b still fires: no timer yet

    last = t0 + timedelta(minutes=3)
    clock.set(last)
    resolved_b = am_alert(status="resolved", instance="b", ends_at="2026-01-05T10:02:30Z")
    client.post("/api/v1/ingest/alertmanager", json=am_payload(resolved_b))
    runtime.worker.drain()
    clock.set(last + resolve_after - timedelta(seconds=1))
    runtime.worker.drain()
    assert _tickets(client)[0]["status"] == "open"
    clock.set(last + resolve_after)
    runtime.worker.drain()
    [ticket] = _tickets(client)
    assert ticket["status"] == "resolved"
    assert datetime.fromisoformat(ticket["resolved_at"].replace("Z", "+00:00")) == (
        last + resolve_after
    )


def test_acking_twice_changes_nothing_the_second_time(client: TestClient, runtime: Runtime) -> None:
    client.post("/api/v1/ingest/alertmanager", json=am_payload(am_alert()))
    runtime.worker.drain()
    [incident] = client.get("/api/v1/incidents").json()["items"]
    first = client.post(f"/api/v1/incidents/{incident['id']}/ack", json={"by": "alice"})
    again = client.post(f"/api/v1/incidents/{incident['id']}/ack", json={"by": "bob"})
    assert first.json()["changed"] is True
    assert again.json() == {"id": incident["id"], "status": "acknowledged", "changed": False}
    runtime.worker.drain()
    detail = client.get(f"/api/v1/incidents/{incident['id']}").json()
    assert [t["kind"] for t in detail["timeline"]].count("acknowledged") == 1
    [ticket] = _tickets(client)
    assert ticket["update_count"] == 1


def test_events_a_route_drops_are_counted_by_outcome(client: TestClient, runtime: Runtime) -> None:
    """Dropped events leave no row behind: the metric is the only trace of them."""
    watchdog = am_alert(alertname="Watchdog", severity="none")
    client.post("/api/v1/ingest/alertmanager", json=am_payload(watchdog, am_alert()))
    runtime.worker.drain()
    counted = {
        line.split("} ")[0]: float(line.split("} ")[1])
        for line in client.get("/metrics").text.splitlines()
        if line.startswith("autoticket_events_received_total{")
    }
    assert counted['autoticket_events_received_total{outcome="accepted",source="alertmanager"'] == 2
    dropped = {k: v for k, v in counted.items() if "accepted" not in k}
    assert sum(dropped.values()) == 1, counted
    assert len(_tickets(client)) == 1
