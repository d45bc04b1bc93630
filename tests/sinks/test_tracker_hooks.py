"""Webhooks of Jira and GitHub read as a person's changes (two-way sync, parsing half)."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

import httpx
import pytest
from fakes.github import FakeGitHub
from fakes.jira import FakeJira
from fakes.lane import config_with

from autoticket.sinks import OutboxItem, Sink, build_sinks
from autoticket.sinks.tracker import Change
from autoticket.sinks.tracker_hooks import github_changes, jira_changes

AT = datetime(2026, 1, 5, 11, 0, tzinfo=UTC)


def opened(kind: str, fake: FakeJira | FakeGitHub, settings: str) -> str:
    client = httpx.Client(transport=fake.transport)
    sink = build_sinks(config_with("t", settings), client, env={"T": "t"})["t"]
    assert isinstance(sink, Sink)
    result = sink.apply(OutboxItem(1, "incident:7:v1:open:t", 7, "t", "open", {"title": "x"}))
    assert result.outcome == "ok" and result.external_ref
    return result.external_ref


def github() -> tuple[FakeGitHub, str]:
    fake = FakeGitHub(token="t")
    return fake, opened("github", fake, "{type: github, repo: acme/ops, token_env: T}")


def jira() -> tuple[FakeJira, str]:
    fake = FakeJira(token="t")
    settings = (
        "{type: jira, url: 'https://j.example', project: OPS, email: bot@example.com, token_env: T}"
    )
    return fake, opened("jira", fake, settings)


def test_github_close_reopen_assign_are_reported() -> None:
    fake, ref = github()
    fake.human_close(ref, "not_planned")
    fake.human_reopen(ref)
    fake.human_assign(ref, "hubot")
    secret = fake.webhook_secret
    got = [c for h, b in fake.events for c in github_changes(h, b, secret, "acme/ops")]
    assert got == [
        Change(ref, "closed", "octocat", AT, "not_planned"),
        Change(ref, "reopened", "octocat", AT),
        Change(ref, "reassigned", "octocat", AT, "hubot"),
    ]


def test_github_refuses_a_bad_signature_and_skips_what_is_not_a_person_s() -> None:
    fake, ref = github()
    fake.human_close(ref, by="autoticket-bot")
    headers, body = fake.events[0]
    with pytest.raises(ValueError, match="does not match"):
        github_changes(headers, body, "another-secret", "acme/ops")
    with pytest.raises(ValueError, match="missing"):
        github_changes({"X-GitHub-Event": "issues"}, body, fake.webhook_secret, "acme/ops")
    secret = fake.webhook_secret
    assert github_changes(headers, body, secret, "acme/ops", self_user="autoticket-bot") == []
    assert github_changes(headers, body, secret, "acme/other") == []
    ping = {**headers, "X-GitHub-Event": "ping"}
    assert github_changes(ping, body, secret, "acme/ops") == []


def test_github_ignores_issues_autoticket_did_not_file() -> None:
    fake, ref = github()
    fake.tickets[ref]["labels"] = [{"name": "bug"}]
    fake.human_close(ref)
    headers, body = fake.events[0]
    assert github_changes(headers, body, fake.webhook_secret, "acme/ops") == []


def test_jira_done_reopen_progress_assign_are_reported() -> None:
    fake, ref = jira()
    fake.human_start(ref)
    fake.human_assign(ref, "Bob")
    fake.human_close(ref, "Won't Do")
    fake.human_reopen(ref)
    got = [c for body in fake.events for c in jira_changes(body, "OPS")]
    assert got == [
        Change(ref, "acknowledged", "Ann", AT, "In Progress"),
        Change(ref, "reassigned", "Ann", AT, "Bob"),
        Change(ref, "closed", "Ann", AT, "Won't Do"),
        Change(ref, "reopened", "Ann", AT),
    ]


def test_jira_skips_its_own_changes_other_projects_and_bad_bodies() -> None:
    fake, ref = jira()
    fake.human_close(ref, by="Bot")
    body = fake.events[0]
    assert jira_changes(body, "OPS", self_user="id-bot") == []
    assert jira_changes(body, "WEB") == []
    other = json.loads(body) | {"webhookEvent": "worklog_updated"}
    assert jira_changes(json.dumps(other).encode(), "OPS") == []
    with pytest.raises(ValueError, match="not JSON"):
        jira_changes(b"{", "OPS")
    with pytest.raises(ValueError, match=r"issue\.key"):
        jira_changes(b'{"webhookEvent": "jira:issue_updated"}', "OPS")


def test_the_sinks_read_their_own_webhooks() -> None:
    fake, ref = github()
    fake.human_close(ref, by="autoticket-bot")
    fake.human_close(ref, "completed", by="octocat")
    settings = "{type: github, repo: acme/ops, token_env: T, self_user: autoticket-bot}"
    sink = build_sinks(config_with("gh", settings), httpx.Client(), env={"T": "t"})["gh"]
    got = [c for h, b in fake.events for c in sink.changes_from_webhook(h, b, fake.webhook_secret)]
    assert [(c.kind, c.by, c.detail) for c in got] == [("closed", "octocat", "completed")]

    jfake, key = jira()
    jfake.human_close(key)
    settings = (
        "{type: jira, url: 'https://j.example', project: OPS, email: bot@example.com, token_env: T}"
    )
    jsink = build_sinks(config_with("j", settings), httpx.Client(), env={"T": "t"})["j"]
    body = jfake.events[0]
    assert [c.kind for c in jsink.changes_from_webhook({}, body)] == ["closed"]
    signed = {"X-Hub-Signature": "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()}
    assert [c.kind for c in jsink.changes_from_webhook(signed, body, "k")] == ["closed"]
    with pytest.raises(ValueError, match="does not match"):
        jsink.changes_from_webhook(signed, body, "other")
