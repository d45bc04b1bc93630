"""Two-way sync webhooks, the parts test_sync_wiring.py leaves out: a person's comment
in GitHub (`issue_comment`) and Jira (`comment_created`) lands on the timeline as
`remote_commented`; autoticket's own comments (its `self_user`) are echoes and
ignored; a redelivery is written once; refusals and unreadable bodies get a 4xx
naming why, and every answer is counted in `autoticket_sink_webhooks_total`.
On SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
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
from autoticket.config import ConfigError, parse_config_text
from autoticket.model import TicketAction
from autoticket.service.runtime import Runtime
from autoticket.sinks import build_sinks
from autoticket.sinks.tracker import Change
from autoticket.sinks.tracker_hooks import excerpt, github_changes, jira_changes
from autoticket.store import outbox as outbox_store
from autoticket.store.tables import outbox, timeline
from conftest import token_headers

HOOK = "/api/v1/sinks/trk/webhook"
AT = datetime(2026, 1, 5, 11, 0, tzinfo=UTC)
JIRA = {
    "type": "jira",
    "url": "https://j.example",
    "project": "OPS",
    "email": "bot@example.com",
    "token_env": "T",
    "webhook_secret_env": "HOOK",
    "self_user": "id-autoticket",
}
GITHUB = {
    "type": "github",
    "repo": "acme/ops",
    "token_env": "T",
    "webhook_secret_env": "HOOK",
    "self_user": "autoticket-bot",
}


def _runtime(
    engine: Engine, t0: datetime, settings: dict[str, Any], fake: Any, hook: str
) -> Runtime:
    text = yaml.safe_dump(
        {"sinks": {"trk": settings}, "routes": [{"name": "default", "sinks": ["builtin", "trk"]}]}
    )
    config = parse_config_text(text)
    sinks = build_sinks(config, httpx.Client(transport=fake.transport), {"T": "t", "HOOK": hook})
    return Runtime(config, engine, FixedClock(t0), start_worker=False, sinks=sinks)


def _opened(engine: Engine, runtime: Runtime, t0: datetime) -> str:
    """One incident's ticket opened in the remote through the sink's lane; its ref."""
    payload = {"title": "Checkout down", "priority": "P2", "status": "open", "reasons": ["open"]}
    with engine.begin() as conn:
        action = TicketAction(1, "open", "incident:3f2a:v1:open", ["trk"], payload)
        outbox_store.enqueue(conn, [action], t0)
    assert runtime.external.run_once() == 1
    with engine.connect() as conn:
        refs = conn.execute(select(outbox.c.external_ref).where(outbox.c.sink == "trk"))
        [ref] = {r for r in refs.scalars() if r}
    return str(ref)


def _comments(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        query = select(timeline.c.message).where(timeline.c.kind == "remote_commented")
        return list(conn.execute(query.order_by(timeline.c.id)).scalars())


def _count(runtime: Runtime, outcome: str) -> float:
    registry = runtime.telemetry.registry
    labels = {"sink": "trk", "outcome": outcome}
    return registry.get_sample_value("autoticket_sink_webhooks_total", labels) or 0.0


def _client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime), base_url="http://localhost") as client:
        yield client


# -- parsing alone ---------------------------------------------------------


def test_github_comment_is_read_with_its_author_time_and_text() -> None:
    fake = FakeGitHub(token="t")
    fake.tickets["5"] = fake._issue("5", "x", "body", ["autoticket"])
    fake.human_comment("5", "Rolled back\n  the deploy, watching.")
    headers, body = fake.events[-1]
    got = github_changes(headers, body, fake.webhook_secret, "acme/ops")
    assert got == [Change("5", "commented", "octocat", AT, "Rolled back the deploy, watching.")]
    fake.human_comment("5", "bot note", by="autoticket-bot")
    headers, body = fake.events[-1]
    assert github_changes(headers, body, fake.webhook_secret, "acme/ops", "autoticket-bot") == []


def test_jira_comment_is_read_without_labels_and_echoes_are_skipped() -> None:
    body = {
        "webhookEvent": "comment_created",
        "issue": {"key": "OPS-7", "fields": {"summary": "x"}},
        "comment": {
            "author": {"accountId": "id-ann", "displayName": "Ann"},
            "body": "Looking into it",
            "created": "2026-01-05T11:00:00.000+0000",
        },
    }
    raw = json.dumps(body).encode()
    assert jira_changes(raw, "OPS") == [Change("OPS-7", "commented", "Ann", AT, "Looking into it")]
    assert jira_changes(raw, "OPS", self_user="id-ann") == []
    assert jira_changes(raw, "DEV") == [], "another project's issue"
    del body["comment"]
    with pytest.raises(ValueError, match="comment is missing"):
        jira_changes(json.dumps(body).encode(), "OPS")


def test_a_long_comment_is_cut_on_one_line() -> None:
    text = excerpt("word " * 100, limit=20)
    assert len(text) == 20 and text.endswith("…") and "\n" not in text


# -- through the API -------------------------------------------------------


def test_github_comment_webhook_lands_once_and_echoes_do_not(engine: Engine, t0: datetime) -> None:
    fake = FakeGitHub(token="t")
    runtime = _runtime(engine, t0, GITHUB, fake, fake.webhook_secret)
    ref = _opened(engine, runtime, t0)
    fake.human_comment(ref, "Rolled back the deploy")
    headers, body = fake.events[-1]
    for client in _client(runtime):
        first = client.post(HOOK, content=body, headers=headers)
        assert first.status_code == 202 and first.json()["recorded"] == 1, first.text
        again = client.post(HOOK, content=body, headers=headers)  # GitHub redelivers
        assert again.json() == {"recorded": 0, "unknown": 0, "repeated": 1}
        fake.human_comment(ref, "autoticket: still firing", by="autoticket-bot")
        echo_headers, echo = fake.events[-1]
        assert client.post(HOOK, content=echo, headers=echo_headers).json()["recorded"] == 0
        forged = client.post(
            HOOK, content=body, headers=headers | {"X-Hub-Signature-256": "sha256=00"}
        )
        assert forged.status_code == 401 and "does not match" in forged.text
    assert _comments(engine) == [f"trk ticket {ref} commented by octocat (Rolled back the deploy)"]
    assert _count(runtime, "accepted") == 3 and _count(runtime, "unauthorized") == 1


def test_github_comment_without_body_is_a_400_naming_the_field(
    engine: Engine, t0: datetime
) -> None:
    fake = FakeGitHub(token="t")
    runtime = _runtime(engine, t0, GITHUB, fake, fake.webhook_secret)
    ref = _opened(engine, runtime, t0)
    fake.human_comment(ref, "x")
    _, body = fake.events[-1]
    doc = json.loads(body)
    del doc["comment"]["body"]
    broken = json.dumps(doc).encode()
    mac = hmac.new(fake.webhook_secret.encode(), broken, hashlib.sha256).hexdigest()
    headers = {"X-GitHub-Event": "issue_comment", "X-Hub-Signature-256": f"sha256={mac}"}
    for client in _client(runtime):
        answer = client.post(HOOK, content=broken, headers=headers)
        assert answer.status_code == 400
        assert "comment.body is missing" in answer.json()["error"]["message"]
    assert _count(runtime, "bad_request") == 1 and _comments(engine) == []


def test_jira_comment_webhook_lands_and_our_own_is_an_echo(engine: Engine, t0: datetime) -> None:
    fake = FakeJira(token="t")
    runtime = _runtime(engine, t0, JIRA, fake, "hook-s3cret")
    ref = _opened(engine, runtime, t0)
    fake.human_comment(ref, "Ann here, on it")
    fake.human_comment(ref, "autoticket update", by="autoticket")
    shared = {"x-autoticket-webhook-secret": "hook-s3cret"}
    for client in _client(runtime):
        answers = [client.post(HOOK, content=b, headers=shared).json() for b in fake.events]
        assert [a["recorded"] for a in answers] == [1, 0]
        bad = client.post(HOOK, content=b"[1, 2]", headers=shared)
        assert bad.status_code == 400 and "not a JSON object" in bad.text
        wrong = client.post(HOOK, content=fake.events[0], headers={"authorization": "Bearer no"})
        assert wrong.status_code == 401 and "does not match" in wrong.text
    assert _comments(engine) == [f"trk ticket {ref} commented by Ann (Ann here, on it)"]
    assert _count(runtime, "bad_request") == 1 and _count(runtime, "unauthorized") == 1


# -- the secret from a file ----------------------------------------------------


def test_webhook_secret_can_come_from_a_file(engine: Engine, t0: datetime, tmp_path: Path) -> None:
    fake = FakeGitHub(token="t")
    secret_file = tmp_path / "hook"
    secret_file.write_text(fake.webhook_secret + "\n", encoding="utf-8")
    settings = {k: v for k, v in GITHUB.items() if k != "webhook_secret_env"}
    settings["webhook_secret_file"] = str(secret_file)
    runtime = _runtime(engine, t0, settings, fake, "unused")
    ref = _opened(engine, runtime, t0)
    fake.human_close(ref)
    headers, body = fake.events[-1]
    for client in _client(runtime):
        assert client.post(HOOK, content=body, headers=headers).json()["recorded"] == 1
        listed = client.get("/api/v1/sinks", headers=token_headers(engine, "v", "viewer"))
        [trk] = [s for s in listed.json()["sinks"] if s["name"] == "trk"]
        assert trk["two_way_sync"]["webhook"] == {
            "path": HOOK,
            "auth": "X-Hub-Signature-256 (the GitHub webhook's secret)",
        }
        assert fake.webhook_secret not in listed.text


def test_a_missing_or_doubled_webhook_secret_is_a_config_problem(tmp_path: Path) -> None:
    missing = {k: v for k, v in GITHUB.items() if k != "webhook_secret_env"}
    missing["webhook_secret_file"] = str(tmp_path / "absent")
    both = GITHUB | {"webhook_secret_file": str(tmp_path / "absent")}
    for settings, words in ((missing, "cannot read"), (both, "not both")):
        config = parse_config_text(yaml.safe_dump({"sinks": {"trk": settings}}))
        with pytest.raises(ConfigError) as caught:
            build_sinks(config, httpx.Client(), {"T": "t", "HOOK": "h"})
        assert words in str(caught.value)
        assert "webhook_secret" in str(caught.value)


# -- PagerDuty: a responder's resolve is not re-triggered by an update -------------


def _pd_resolved(key: str, secret: str) -> tuple[bytes, dict[str, str]]:
    event = {
        "event": {
            "id": "01RESOLVED",
            "event_type": "incident.resolved",
            "resource_type": "incident",
            "occurred_at": "2026-01-05T10:05:00.000Z",
            "agent": {"type": "user_reference", "summary": "Ann"},
            "data": {"incident_key": key},
        }
    }
    body = json.dumps(event).encode()
    mac = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"X-PagerDuty-Signature": f"v1={mac}"}


def _enqueue(engine: Engine, t0: datetime, action: str, version: int, status: str) -> None:
    payload = {"title": "Checkout down", "priority": "P2", "status": status, "reasons": [action]}
    with engine.begin() as conn:
        item = TicketAction(1, action, f"incident:3f2a:v{version}:{action}", ["trk"], payload)
        outbox_store.enqueue(conn, [item], t0)


def test_pagerduty_update_does_not_retrigger_what_a_responder_resolved(
    engine: Engine, t0: datetime
) -> None:
    settings = {"type": "pagerduty", "routing_key_env": "K", "webhook_secret_env": "HOOK"}
    fake = FakePagerDuty()
    text = yaml.safe_dump(
        {"sinks": {"trk": settings}, "routes": [{"name": "default", "sinks": ["builtin", "trk"]}]}
    )
    config = parse_config_text(text)
    env = {"K": ROUTING_KEY, "HOOK": "pd-secret"}
    sinks = build_sinks(config, httpx.Client(transport=fake.transport), env)
    runtime = Runtime(config, engine, FixedClock(t0), start_worker=False, sinks=sinks)
    key = _opened(engine, runtime, t0)
    body, headers = _pd_resolved(key, "pd-secret")
    for client in _client(runtime):  # the lane runs while the app does
        assert client.post(HOOK, content=body, headers=headers).json()["recorded"] == 1
        calls = len(fake.requests)
        _enqueue(engine, t0, "update", 2, "open")  # news of the same incident: a trigger
        runtime.external.run_once()
        assert len(fake.requests) == calls, "no trigger under the dedup_key a responder resolved"
        with engine.connect() as conn:
            query = select(timeline.c.message).where(timeline.c.kind == "reopen_skipped")
            skipped = list(conn.execute(query).scalars())
        assert len(skipped) == 1 and skipped[0].startswith("trk: automatic update skipped")
        _enqueue(engine, t0, "resolve", 3, "resolved")  # a resolve still goes
        runtime.external.run_once()
        assert len(fake.requests) == calls + 1


def test_github_learns_its_own_login_once_when_self_user_is_not_set(
    engine: Engine, t0: datetime
) -> None:
    fake = FakeGitHub(token="t")
    settings = {k: v for k, v in GITHUB.items() if k != "self_user"}
    runtime = _runtime(engine, t0, settings, fake, fake.webhook_secret)
    ref = _opened(engine, runtime, t0)
    fake.human_comment(ref, "autoticket: still firing", by=fake.login)  # our own: an echo
    fake.human_comment(ref, "On it", by="octocat")
    for client in _client(runtime):
        answers = [client.post(HOOK, content=b, headers=h).json() for h, b in fake.events]
    assert [a["recorded"] for a in answers] == [0, 1]
    assert [r.url.path for r in fake.requests].count("/user") == 1
    assert _comments(engine) == [f"trk ticket {ref} commented by octocat (On it)"]


def test_jira_learns_its_own_account_once_when_self_user_is_not_set(
    engine: Engine, t0: datetime
) -> None:
    fake = FakeJira(token="t")
    fake.me["accountId"] = "id-autoticket"  # the account the webhook names as author
    settings = {k: v for k, v in JIRA.items() if k != "self_user"}
    runtime = _runtime(engine, t0, settings, fake, "hook-s3cret")
    ref = _opened(engine, runtime, t0)
    fake.human_comment(ref, "autoticket update", by="autoticket")
    fake.human_comment(ref, "Ann here", by="Ann")
    shared = {"x-autoticket-webhook-secret": "hook-s3cret"}
    for client in _client(runtime):
        answers = [client.post(HOOK, content=b, headers=shared).json() for b in fake.events]
    assert [a["recorded"] for a in answers] == [0, 1]
    assert [r.url.path for r in fake.requests].count("/rest/api/3/myself") == 1
    assert _comments(engine) == [f"trk ticket {ref} commented by Ann (Ann here)"]


# -- ServiceNow: the optional business-rule push ---------------------------------


def test_servicenow_business_rule_push_reads_like_a_poll(engine: Engine, t0: datetime) -> None:
    settings = {
        "type": "servicenow",
        "url": "https://x.service-now.com",
        "user": "autoticket",
        "password_env": "T",
        "webhook_secret_env": "HOOK",
    }
    fake = FakeServiceNow(password="t")
    runtime = _runtime(engine, t0, settings, fake, "sn-secret")
    ref = _opened(engine, runtime, t0)
    bearer = {"Authorization": "Bearer sn-secret"}
    fake.human_close(ref, "Closed/Resolved by Caller")
    record = json.dumps(fake.tickets[ref]).encode()
    fake.human_assign(ref, "bob", by="autoticket")  # our own update: an echo
    echo = json.dumps(fake.tickets[ref]).encode()
    for client in _client(runtime):
        assert client.post(HOOK, content=record, headers=bearer).json()["recorded"] == 1
        again = client.post(HOOK, content=record, headers=bearer)  # the rule fires twice
        assert again.json()["recorded"] == 0, "the same record again is no new change"
        assert client.post(HOOK, content=echo, headers=bearer).json()["recorded"] == 0
        bad = client.post(HOOK, content=b'{"state": "7"}', headers=bearer)
        assert bad.status_code == 400 and "sys_id is missing" in bad.text
        assert client.post(HOOK, content=record).status_code == 401
    with engine.connect() as conn:
        query = select(timeline.c.message).where(timeline.c.kind == "remote_closed")
        closed = list(conn.execute(query).scalars())
    assert closed == [f"trk ticket {ref} closed by ann (Closed/Resolved by Caller)"]
