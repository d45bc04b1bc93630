"""Every tracker sink, against its fake failing 30% of calls (5xx, 429, timeouts,
resets, answers lost after the remote acted) and forgetting the recorded
reference now and then (a crash before the record): each incident ends with
exactly one remote ticket, in the right final state, each update written once
and in order."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fakes.github import FakeGitHub
from fakes.jira import FakeJira
from fakes.lane import config_with
from fakes.servicenow import FakeServiceNow

from autoticket.sinks import OutboxItem, Sink, build_sinks

STEPS = ["open", "update", "resolve", "reopen", "update", "resolve"]
INCIDENTS = 12

Fakes: dict[str, tuple[Callable[[], Any], str, dict[str, str]]] = {
    "jira": (
        lambda: FakeJira(0.3, seed=5, token="t"),
        "{type: jira, url: 'https://j.example', project: OPS, email: bot@example.com,"
        " token_env: T}",
        {"T": "t"},
    ),
    "servicenow": (
        lambda: FakeServiceNow(0.3, seed=5, password="p"),
        "{type: servicenow, url: 'https://x.service-now.com', user: autoticket, password_env: P}",
        {"P": "p"},
    ),
    "github": (
        lambda: FakeGitHub(0.3, seed=5, token="t"),
        "{type: github, repo: acme/ops, token_env: T}",
        {"T": "t"},
    ),
}


@pytest.mark.parametrize("kind", sorted(Fakes))
def test_one_ticket_per_incident_whatever_fails(kind: str) -> None:
    make_fake, settings, env = Fakes[kind]
    fake = make_fake()
    fake.retry_after = "0"
    fake.reset_in = 0
    sink = build_sinks(config_with("t", settings), httpx.Client(transport=fake.transport), env=env)[
        "t"
    ]
    assert isinstance(sink, Sink)
    rng = random.Random(11)
    refs: dict[int, str | None] = {}
    attempts = 0
    for step_no, action in enumerate(STEPS):
        for incident in range(1, INCIDENTS + 1):
            payload = {
                "title": f"incident {incident}",
                "priority": "P2",
                "status": action,
                "reasons": [f"step {step_no}"],
            }
            key = f"incident:{incident}:v{step_no}:{action}:t"
            while True:
                attempts += 1
                assert attempts < 5000, "no progress"
                ref = refs.get(incident) if rng.random() > 0.2 else None  # a crash forgot it
                item = OutboxItem(step_no, key, incident, "t", action, payload, 0, ref)
                result = sink.apply(item)
                assert result.outcome in ("ok", "retry"), result.reason
                if result.outcome == "ok":
                    refs[incident] = result.external_ref
                    break
    tickets = list(fake.tickets.values())
    issues = [t for t in tickets if "pull_request" not in t]
    print(f"{kind}: {attempts} attempts for {INCIDENTS * len(STEPS)} actions, {fake.failures}")
    assert len(issues) == INCIDENTS
    assert sum(fake.failures.values()) > 0
    assert len(set(refs.values())) == INCIDENTS
    for incident, ref in refs.items():
        assert fake.state_of(str(ref)) == "closed"
        written = [c for c in fake.comments_of(str(ref)) if ":update:" in c]
        assert [c.split(f"incident:{incident}:v")[1][0] for c in written] == ["1", "4"]
