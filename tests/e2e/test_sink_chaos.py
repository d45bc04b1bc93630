"""Chaos at the sink: 20 incidents x 10 alerts through a real `autoticket serve`
whose webhook sink's remote fails 30% of calls (5xx, 429, timeouts, resets),
with the server SIGKILLed twice and restarted. Every incident must end with
exactly one remote ticket, resolved, its actions applied in order."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from autoticket.store import make_engine
from autoticket.store.tables import outbox
from conftest import am_alert, am_payload

from .chaos_remote import ChaosRemote, HttpBridge

# The in-process fakes of tests/sinks/fakes (their module imports `fakes.…`).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sinks"))
from fakes.pagerduty import ROUTING_KEY, FakePagerDuty

from .conftest import Autoticket, start_autoticket, write_test_config

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

INCIDENTS = 20
ALERTS = 10


DISPATCH = {
    "max_backoff": "2s",
    "batch": 2,  # lease (1s + 5s) x 2: a killed server's claims free in 12s
    "max_attempts": 1000,  # never park here: every action must get through
    "breaker_failures": 8,
    "breaker_cooldown": "1s",
}


def _config(directory: Path, remote: ChaosRemote, pagerduty: HttpBridge) -> Path:
    path = write_test_config(directory)
    data = yaml.safe_load(path.read_text())
    data["sinks"] = {
        "chaos": {
            "type": "webhook",
            "url": remote.url,
            "secret_env": "CHAOS_HOOK_SECRET",
            "timeout": "1s",
            **DISPATCH,
        },
        "pager": {
            "type": "pagerduty",
            "url": f"{pagerduty.base}/v2/enqueue",
            "routing_key_env": "CHAOS_PD_KEY",
            "timeout": "1s",
            **DISPATCH,
        },
    }
    for route in data["routes"]:
        if route.get("action") != "ignore":
            route["sinks"] = ["builtin", "chaos", "pager"]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _alert(incident: int, alert: int, status: str = "firing") -> dict[str, object]:
    body = am_alert(
        alertname=f"Chaos{incident}",
        service=f"svc{incident}",
        status=status,
        instance=f"i{alert}",
    )
    body["fingerprint"] = f"fp-{incident}-{alert}"
    return body


def _post(server: Autoticket, payload: dict[str, object]) -> None:
    response = server.client.post("/api/v1/ingest/alertmanager", json=payload)
    assert response.status_code == 202, response.text


def _wait(what: str, done: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if done():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def _kill(server: Autoticket) -> None:
    server.proc.popen.kill()  # SIGKILL: no shutdown hook runs
    server.proc.popen.wait(10)
    server.proc.stopped = True
    server.client.close()


def test_every_incident_gets_one_remote_ticket_whatever_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAOS_HOOK_SECRET", "chaos-secret")
    monkeypatch.setenv("CHAOS_PD_KEY", ROUTING_KEY)
    pd = FakePagerDuty(fail_rate=0.3, seed=14)
    database = f"sqlite:///{tmp_path / 'chaos.db'}"
    started = time.monotonic()
    with ChaosRemote(fail_rate=0.3, seed=14) as remote, HttpBridge(pd) as pagerduty:
        config = _config(tmp_path, remote, pagerduty)
        server = start_autoticket("chaos-1", database, config, tmp_path)
        firing = [(i, a) for a in range(ALERTS) for i in range(INCIDENTS)]
        half = len(firing) // 2
        for i, a in firing[:half]:
            _post(server, am_payload(_alert(i, a)))
        _wait("some remote calls", lambda: remote.calls >= 10, 30)
        _kill(server)  # 1: mid-ingest, mid-dispatch
        calls_at_first_kill = remote.calls

        server = start_autoticket("chaos-2", database, config, tmp_path)
        for i, a in firing[half:]:
            _post(server, am_payload(_alert(i, a)))
        _wait("more remote calls", lambda: remote.calls >= calls_at_first_kill + 20, 30)
        _kill(server)  # 2: mid-dispatch

        server = start_autoticket("chaos-3", database, config, tmp_path)
        try:
            for i in range(INCIDENTS):
                resolved = [_alert(i, a, status="resolved") for a in range(ALERTS)]
                _post(server, am_payload(*resolved))

            def all_resolved() -> bool:
                with remote.lock:
                    tickets = list(remote.tickets.values())
                with pagerduty.lock:
                    alerts = [a["state"] for a in pd.tickets.values()]
                return (
                    len(tickets) == INCIDENTS
                    and all(t.state == "resolved" for t in tickets)
                    and len(alerts) == INCIDENTS
                    and all(state == "resolved" for state in alerts)
                )

            engine = make_engine(database)

            def undelivered() -> list[tuple[str, str, int]]:
                with engine.connect() as conn:
                    rows = conn.execute(
                        select(outbox.c.sink, outbox.c.status, func.count())
                        .where(outbox.c.sink != "builtin", outbox.c.status != "done")
                        .group_by(outbox.c.sink, outbox.c.status)
                    ).all()
                return [(sink, status, count) for sink, status, count in rows]

            try:
                # A remote may have applied an action whose answer was lost: the
                # ticket looks final while its row waits for the retry that records it.
                _wait(
                    "every remote ticket resolved and every action recorded",
                    lambda: all_resolved() and not undelivered(),
                    60,
                )
                left = undelivered()
                with engine.connect() as conn:
                    delivered = conn.execute(
                        select(func.count())
                        .select_from(outbox)
                        .where(outbox.c.sink == "chaos", outbox.c.status == "done")
                    ).scalar_one()
            finally:
                engine.dispose()
            metrics = server.metrics()
        finally:
            server.client.close()
            server.proc.stop()

    with remote.lock:
        tickets = dict(remote.tickets)
        calls, injected, repeats = remote.calls, dict(remote.injected), remote.repeats
    duplicates = sum(len(t.opens) - 1 for t in tickets.values())
    pd_duplicates = sum(a["alerts"] - 1 for a in pd.tickets.values())
    print(
        f"\nsink chaos: {INCIDENTS} incidents x {ALERTS} alerts, 2 SIGKILLs, "
        f"{time.monotonic() - started:.1f}s\n"
        f"  remote calls {calls}, failures injected {sum(injected.values())} {injected}\n"
        f"  retries {calls - len(remote.answers)} (repeats of an applied key {repeats})\n"
        f"  actions delivered {delivered}, remote tickets {len(tickets)}, duplicates {duplicates}\n"
        f"  pagerduty: calls {pagerduty.calls}, failures injected {len(pd.failures.injected)}, "
        f"alerts {len(pd.tickets)}, duplicates {pd_duplicates}"
    )
    assert left == [], f"actions not delivered: {left}"
    assert 'autoticket_sink_actions{sink="chaos",state="parked"} 0.0' in metrics
    assert 'autoticket_sink_actions{sink="pager",state="parked"} 0.0' in metrics
    assert pd_duplicates == 0 and len(pd.tickets) == INCIDENTS
    for alert in pd.tickets.values():
        actions = [e.get("event_action") for e in alert["events"]]
        assert actions[0] == "trigger" and actions[-1] == "resolve", actions
        assert alert["state"] == "resolved"
    assert sum(injected.values()) > 0 and {"timeout", "reset", "429"} <= set(injected)
    assert duplicates == 0
    titles = sorted(t.title for t in tickets.values())
    assert len(set(titles)) == INCIDENTS, "one ticket per incident"
    for ticket in tickets.values():
        actions = [action for _, action in ticket.history]
        versions = [version for version, _ in ticket.history]
        assert actions[0] == "open" and actions.count("open") == 1, ticket
        assert actions[-1] == "resolve" and ticket.state == "resolved", ticket
        assert versions == sorted(versions), f"out of order: {ticket}"
