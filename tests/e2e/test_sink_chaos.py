"""Chaos at the sinks: 20 incidents x 10 alerts through a real `autoticket serve`
filing to a webhook remote, PagerDuty, Jira, ServiceNow, GitHub and Redmine, each failing
30% of calls (5xx, 429, timeouts, resets, answers lost after the remote acted),
with the server SIGKILLed twice and restarted. Every incident must end with
exactly one remote ticket per sink, resolved, its updates applied in order."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
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
from fakes.base import FakeService
from fakes.github import FakeGitHub
from fakes.jira import FakeJira
from fakes.pagerduty import ROUTING_KEY, FakePagerDuty
from fakes.redmine import KEY as REDMINE_KEY
from fakes.redmine import FakeRedmine
from fakes.servicenow import FakeServiceNow
from fakes.slack import HOOK_PATH, FakeSlack

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


def _trackers() -> dict[str, FakeService]:
    """The tracker fakes, failing 30% of calls each; their waits cut to a second."""
    fakes: dict[str, FakeService] = {
        "jira": FakeJira(0.3, seed=21, token="jira-token"),
        "servicenow": FakeServiceNow(0.3, seed=22, password="snow-password"),
        "github": FakeGitHub(0.3, seed=23, token="gh-token"),
        "redmine": FakeRedmine(0.3, seed=24),  # type: ignore[dict-item]
    }
    for fake in fakes.values():
        fake.retry_after = "1"
    fakes["github"].reset_in = 1  # type: ignore[attr-defined]
    return fakes


TRACKER_ENV = {"CHAOS_JIRA_TOKEN": "jira-token", "CHAOS_SNOW_PASSWORD": "snow-password"}
TRACKER_ENV["CHAOS_GH_TOKEN"] = "gh-token"
TRACKER_ENV["CHAOS_REDMINE_KEY"] = REDMINE_KEY


def _tracker_sinks(bridges: dict[str, HttpBridge]) -> dict[str, dict[str, object]]:
    return {
        "jira": {
            "type": "jira",
            "url": bridges["jira"].base,
            "project": "OPS",
            "email": "bot@example.com",
            "token_env": "CHAOS_JIRA_TOKEN",
        },
        "servicenow": {
            "type": "servicenow",
            "url": bridges["servicenow"].base,
            "user": "autoticket",
            "password_env": "CHAOS_SNOW_PASSWORD",
        },
        "github": {
            "type": "github",
            "repo": "acme/ops",
            "api_url": bridges["github"].base,
            "token_env": "CHAOS_GH_TOKEN",
        },
        "redmine": {
            "type": "redmine",
            "url": bridges["redmine"].base,
            "project": "ops",
            "key_env": "CHAOS_REDMINE_KEY",
        },
    }


def _config(
    directory: Path,
    remote: ChaosRemote,
    pagerduty: HttpBridge,
    bridges: dict[str, HttpBridge],
) -> Path:
    path = write_test_config(directory)
    data = yaml.safe_load(path.read_text())
    trackers = {
        name: {**settings, "timeout": "1s", **DISPATCH}
        for name, settings in _tracker_sinks(bridges).items()
    }
    # Every third alert joining an incident is an update (comment) on each ticket,
    # so the order of updates is checked on every sink, not only open and resolve.
    data["tickets"] = {"update_interval": "1s", "update_every_alerts": 3}
    data["sinks"] = {
        **trackers,
        # Slack's incoming webhook: no ticket, no idempotency key, nothing to search.
        "slack": {"type": "slack", "url_env": "CHAOS_SLACK_HOOK", "updates": True, **DISPATCH},
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
            route["sinks"] = ["builtin", "chaos", "pager", "slack", *trackers]
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
    for name, value in TRACKER_ENV.items():
        monkeypatch.setenv(name, value)
    pd = FakePagerDuty(fail_rate=0.3, seed=14)
    trackers = _trackers()
    bridges = {name: HttpBridge(fake) for name, fake in trackers.items()}
    slack = FakeSlack(fail_rate=0.3, seed=25)
    bridges["slack"] = HttpBridge(slack)
    monkeypatch.setenv("CHAOS_SLACK_HOOK", bridges["slack"].base + HOOK_PATH)
    database = f"sqlite:///{tmp_path / 'chaos.db'}"
    started = time.monotonic()
    with ExitStack() as stack:
        remote = stack.enter_context(ChaosRemote(fail_rate=0.3, seed=14))
        pagerduty = stack.enter_context(HttpBridge(pd))
        for bridge in bridges.values():
            stack.enter_context(bridge)
        config = _config(tmp_path, remote, pagerduty, bridges)
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
                    and all(_all_closed(bridges[name], fake) for name, fake in trackers.items())
                    and _slack_resolved(bridges["slack"], slack)
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
                    120,
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
    markers = [c["marker"] for t in slack.tickets.values() for c in t["comments"]]
    slack_repeats = len(markers) - len(set(markers))
    print(
        f"  slack: calls {bridges['slack'].calls}, failures injected "
        f"{len(slack.failures.injected)}, threads {len(slack.tickets)}, messages "
        f"{len(markers)}, repeated messages {slack_repeats} (no idempotency key: allowed)"
    )
    for name, fake in trackers.items():
        issues = _issues(fake)
        print(
            f"  {name}: calls {bridges[name].calls}, failures injected "
            f"{sum(fake.failures.values())} {dict(sorted(fake.failures.items()))}, "
            f"tickets {len(issues)}, duplicates {len(issues) - INCIDENTS}"
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
    assert slack.failures.injected and len(slack.tickets) == INCIDENTS
    for thread in slack.tickets.values():
        texts = [c["text"] for c in thread["comments"]]
        assert texts[0].startswith("Opened:") and texts[-1].startswith("Resolved:"), texts
        assert thread["state"] == "resolved"
    for name, fake in trackers.items():
        assert sum(fake.failures.values()) > 0, name
        issues = _issues(fake)
        assert len(issues) == INCIDENTS, f"{name}: {len(issues)} tickets for {INCIDENTS} incidents"
        written = 0
        for ref in issues:
            assert fake.state_of(ref) == "closed", (name, ref)
            found = [m for c in fake.comments_of(ref) for m in _KEY.finditer(c)]
            keys = [m.group(0) for m in found]
            assert len(keys) == len(set(keys)), f"{name} {ref}: a comment written twice {keys}"
            versions = [int(m.group(1)) for m in found]
            assert versions == sorted(versions), f"{name} {ref}: updates out of order {versions}"
            written += len(keys)
        assert written >= INCIDENTS, f"{name}: the resolves left no comment to check"


_KEY = re.compile(r"incident:[^:\s]+:v(\d+):\w+:[\w-]+")


def _issues(fake: FakeService) -> list[str]:
    """The refs of the tickets a tracker fake holds (GitHub's pull requests left out)."""
    tickets: dict[str, dict[str, object]] = fake.tickets  # type: ignore[attr-defined]
    return [ref for ref, ticket in tickets.items() if "pull_request" not in ticket]


def _all_closed(bridge: HttpBridge, fake: FakeService) -> bool:
    with bridge.lock:
        issues = _issues(fake)
        return len(issues) == INCIDENTS and all(fake.state_of(r) == "closed" for r in issues)


def _slack_resolved(bridge: HttpBridge, slack: FakeSlack) -> bool:
    """One thread per incident, each ending on its Resolved message."""
    with bridge.lock:
        threads = list(slack.tickets.values())
        return len(threads) == INCIDENTS and all(t["state"] == "resolved" for t in threads)
