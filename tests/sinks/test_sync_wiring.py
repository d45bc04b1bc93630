"""Two-way sync end to end for each tracker: a person's change in the remote
(its webhook for Jira, GitHub and PagerDuty; polling for ServiceNow) reaches
`POST /api/v1/sinks/{name}/webhook` or the sink's lane, lands on the incident's
timeline, and a person's close is never fought by an automatic reopen.
On SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import yaml
from fakes.github import FakeGitHub
from fakes.jira import FakeJira
from fakes.pagerduty import ROUTING_KEY, FakePagerDuty
from fakes.servicenow import FakeServiceNow
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from autoticket.api.app import create_app
from autoticket.clock import FixedClock
from autoticket.config import parse_config_text
from autoticket.model import TicketAction
from autoticket.service.runtime import Runtime
from autoticket.sinks import build_sinks
from autoticket.store import outbox as outbox_store
from autoticket.store.tables import outbox, timeline
from conftest import token_headers

HOOK_SECRET = "hook-s3cret"
REF = "3f2a9c0d1e2b"  # the incident's reference in its idempotency keys


def _runtime(
    engine: Engine, clock: FixedClock, settings: dict[str, Any], fake: Any, env: dict[str, str]
) -> Runtime:
    text = yaml.safe_dump(
        {"sinks": {"trk": settings}, "routes": [{"name": "default", "sinks": ["builtin", "trk"]}]}
    )
    config = parse_config_text(text)
    sinks = build_sinks(config, httpx.Client(transport=fake.transport), env)
    return Runtime(config, engine, clock, start_worker=False, sinks=sinks)


def _enqueue(engine: Engine, at: datetime, action: str, version: int) -> None:
    payload = {"title": "Checkout down", "priority": "P2", "status": action, "reasons": [action]}
    key = f"incident:{REF}:v{version}:{action}"
    with engine.begin() as conn:
        outbox_store.enqueue(conn, [TicketAction(1, action, key, ["trk"], payload)], at)


def _timeline(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(select(timeline.c.kind, timeline.c.message).order_by(timeline.c.id))
        return [(kind, message) for kind, message in rows]


def _ref(engine: Engine) -> str:
    with engine.connect() as conn:
        refs = conn.execute(select(outbox.c.external_ref).where(outbox.c.sink == "trk")).scalars()
        [ref] = {r for r in refs if r}
    return str(ref)


@pytest.fixture
def clock(t0: datetime) -> FixedClock:
    return FixedClock(t0)


def _client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime), base_url="http://localhost") as client:
        yield client


def _no_fight(engine: Engine, runtime: Runtime, fake: Any, ref: str, at: datetime) -> None:
    """An automatic reopen after the person's close is skipped, with a timeline note."""
    calls = len(fake.requests)
    _enqueue(engine, at, "reopen", 3)
    runtime.external.run_once()
    with engine.connect() as conn:
        rows = conn.execute(select(outbox.c.idempotency_key, outbox.c.status)).all()
    assert len(fake.requests) == calls, ("no call to reopen what a person closed", rows)
    assert fake.state_of(ref) == "closed"
    assert any(kind == "reopen_skipped" for kind, _ in _timeline(engine)), (_timeline(engine), rows)


def test_jira_webhook_brings_a_persons_close_and_reassign(
    engine: Engine, clock: FixedClock, t0: datetime
) -> None:
    settings = {
        "type": "jira",
        "url": "https://j.example",
        "project": "OPS",
        "email": "bot@example.com",
        "token_env": "T",
        "webhook_secret_env": "HOOK",
    }
    fake = FakeJira(token="t")
    runtime = _runtime(engine, clock, settings, fake, {"T": "t", "HOOK": HOOK_SECRET})
    _enqueue(engine, t0, "open", 1)
    assert runtime.external.run_once() == 1
    ref = _ref(engine)
    fake.human_assign(ref, "Bob")
    fake.human_close(ref, "Won't Do")
    hook = "/api/v1/sinks/trk/webhook"
    for client in _client(runtime):
        unsigned = client.post(hook, content=fake.events[-1])
        assert unsigned.status_code == 401
        assert "the secret is missing" in unsigned.json()["error"]["message"]
        shared = {"x-autoticket-webhook-secret": HOOK_SECRET}
        for body in fake.events:
            answer = client.post(hook, content=body, headers=shared)
            assert answer.status_code == 202, answer.text
        # Jira Cloud's own signature, with the webhook's secret, works as well.
        body = fake.events[-1]
        mac = hmac.new(HOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
        signed = client.post(hook, content=body, headers={"X-Hub-Signature": f"sha256={mac}"})
        assert signed.status_code == 202, signed.text
        assert signed.json()["repeated"] == 1, "the same close delivered again is written once"
        forged = client.post(hook, content=body, headers={"X-Hub-Signature": "sha256=00"})
        assert forged.status_code == 401 and "does not match" in forged.text
        listed = client.get("/api/v1/sinks", headers=token_headers(engine, "root", "admin")).json()[
            "sinks"
        ]
        [trk] = [s for s in listed if s["name"] == "trk"]
        assert trk["two_way_sync"]["webhook"]["path"] == hook
        assert trk["two_way_sync"]["webhook"]["auth"].startswith("X-Hub-Signature")
        kinds = [kind for kind, _ in _timeline(engine)]
        assert "remote_reassigned" in kinds and "remote_closed" in kinds
        closed = [m for k, m in _timeline(engine) if k == "remote_closed"]
        assert closed == [f"trk ticket {ref} closed by Ann (Won't Do)"]
        _no_fight(engine, runtime, fake, ref, t0)  # while the runtime runs


def test_github_webhook_must_be_signed_and_brings_a_persons_close(
    engine: Engine, clock: FixedClock, t0: datetime
) -> None:
    settings = {
        "type": "github",
        "repo": "acme/ops",
        "token_env": "T",
        "webhook_secret_env": "HOOK",
        "self_user": "autoticket-bot",
    }
    fake = FakeGitHub(token="t")
    env = {"T": "t", "HOOK": fake.webhook_secret}
    runtime = _runtime(engine, clock, settings, fake, env)
    _enqueue(engine, t0, "open", 1)
    assert runtime.external.run_once() == 1
    ref = _ref(engine)
    fake.human_close(ref, "not_planned")
    headers, body = fake.events[-1]
    hook = "/api/v1/sinks/trk/webhook"
    for client in _client(runtime):
        plain = {"x-autoticket-webhook-secret": fake.webhook_secret, "X-GitHub-Event": "issues"}
        refused = client.post(hook, content=body, headers=plain)
        assert refused.status_code == 401
        assert "X-Hub-Signature-256: the signature header is missing" in refused.text
        answer = client.post(hook, content=body, headers=headers)
        assert answer.json() == {"recorded": 1, "unknown": 0, "repeated": 0}
        again = client.post(hook, content=body, headers=headers)  # GitHub redelivers
        assert again.json() == {"recorded": 0, "unknown": 0, "repeated": 1}
        fake.human_close(ref, "completed", by="autoticket-bot")  # our own account: an echo
        echo_headers, echo = fake.events[-1]
        assert client.post(hook, content=echo, headers=echo_headers).json()["recorded"] == 0
        assert [m for k, m in _timeline(engine) if k == "remote_closed"] == [
            f"trk ticket {ref} closed by octocat (not_planned)"
        ]
        _no_fight(engine, runtime, fake, ref, t0)


def _pd_event(kind: str, key: str, agent: str, by: str) -> bytes:
    event = {
        "event": {
            "id": f"01{kind}",
            "event_type": kind,
            "resource_type": "incident",
            "occurred_at": "2026-01-05T10:05:00.000Z",
            "agent": {"type": agent, "summary": by},
            "data": {
                "incident_key": key,
                "html_url": "https://acme.pagerduty.com/incidents/Q1",
                "assignees": [{"summary": "Bob"}],
            },
        }
    }
    return json.dumps(event).encode()


def _pd_signed(body: bytes, secret: str = HOOK_SECRET) -> dict[str, str]:
    mac = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-PagerDuty-Signature": f"v1=deadbeef,v1={mac}", "Content-Type": "application/json"}


def test_pagerduty_v3_webhook_brings_a_responders_ack_and_resolve(
    engine: Engine, clock: FixedClock, t0: datetime
) -> None:
    settings = {
        "type": "pagerduty",
        "url": "https://events.pagerduty.com/v2/enqueue",
        "routing_key_env": "K",
        "webhook_secret_env": "HOOK",
    }
    fake = FakePagerDuty()
    runtime = _runtime(engine, clock, settings, fake, {"K": ROUTING_KEY, "HOOK": HOOK_SECRET})
    _enqueue(engine, t0, "open", 1)
    assert runtime.external.run_once() == 1
    key = _ref(engine)
    assert key == f"autoticket-{REF}"
    hook = "/api/v1/sinks/trk/webhook"
    for client in _client(runtime):
        ack = _pd_event("incident.acknowledged", key, "user_reference", "Ann")
        bad = client.post(hook, content=ack, headers=_pd_signed(ack, "other"))
        assert bad.status_code == 401 and "no v1 signature matches" in bad.text
        assert client.post(hook, content=ack, headers=_pd_signed(ack)).json()["recorded"] == 1
        ours = _pd_event("incident.resolved", key, "service_reference", "autoticket")
        assert client.post(hook, content=ours, headers=_pd_signed(ours)).json()["recorded"] == 0
        resolved = _pd_event("incident.resolved", key, "user_reference", "Ann")
        assert client.post(hook, content=resolved, headers=_pd_signed(resolved)).status_code == 202
        junk = b'{"event": {"event_type": "incident.resolved"}}'
        broken = client.post(hook, content=junk, headers=_pd_signed(junk))
        assert broken.status_code == 400 and "event.data: missing" in broken.text
        kinds = [kind for kind, _ in _timeline(engine)]
        assert kinds.count("remote_acknowledged") == 1 and kinds.count("remote_closed") == 1
        fake.human_close(key)
        calls = len(fake.requests)
        _enqueue(engine, t0, "reopen", 3)
        runtime.external.run_once()
        assert len(fake.requests) == calls, "a responder's resolve is not re-triggered"
        assert "reopen_skipped" in [kind for kind, _ in _timeline(engine)]


def test_servicenow_is_polled_for_a_persons_close(
    engine: Engine, clock: FixedClock, t0: datetime
) -> None:
    settings = {
        "type": "servicenow",
        "url": "https://x.service-now.com",
        "user": "autoticket",
        "password_env": "P",
        "poll_interval": "1m",
    }
    fake = FakeServiceNow(password="p")
    runtime = _runtime(engine, clock, settings, fake, {"P": "p"})
    _enqueue(engine, t0, "open", 1)
    runtime.external.run_once()
    ref = _ref(engine)
    assert not [k for k, _ in _timeline(engine) if k.startswith("remote_")]
    fake.human_assign(ref, "bob")
    fake.human_close(ref, "Closed/Resolved by Caller")
    runtime.external.run_once()
    assert not [k for k, _ in _timeline(engine) if k.startswith("remote_")], "poll not due"
    clock.set(t0 + timedelta(minutes=2))
    runtime.external.run_once()
    remote = [(k, m) for k, m in _timeline(engine) if k.startswith("remote_")]
    assert remote == [
        ("remote_closed", f"trk ticket {ref} closed by ann (Closed/Resolved by Caller)"),
        ("remote_reassigned", f"trk ticket {ref} reassigned by ann (bob)"),
    ]
    _no_fight(engine, runtime, fake, ref, t0 + timedelta(minutes=2))
