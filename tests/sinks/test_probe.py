"""`check-config --probe`: each sink's harmless read against its fake (or a real SMTP
server), the reason when it fails, and the command's exit code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fakes.github import FakeGitHub
from fakes.jira import FakeJira
from fakes.redmine import KEY as REDMINE_KEY
from fakes.redmine import FakeRedmine
from fakes.servicenow import FakeServiceNow
from fakes.slack import HOOK_URL, FakeSlack
from fakes.smtp import PASSWORD, Inbox, free_port
from typer.testing import CliRunner

from autoticket.cli import app
from autoticket.config import parse_config_text
from autoticket.sinks.probe import ProbeOutcome, probe_sinks


def _probe(settings: dict[str, Any], fake: Any, env: dict[str, str]) -> ProbeOutcome:
    text = yaml.safe_dump({"sinks": {"s": settings}, "routes": [{"name": "d", "sinks": ["s"]}]})
    client = httpx.Client(transport=fake.transport) if fake is not None else None
    outcomes = probe_sinks(parse_config_text(text), client, env)
    [outcome] = [o for o in outcomes if o.sink == "s"]
    return outcome


JIRA = {"type": "jira", "url": "https://j.example", "project": "OPS"}


@pytest.mark.parametrize("flavor", ["cloud", "datacenter"])
def test_jira_names_the_token_user_and_checks_the_project(flavor: str) -> None:
    settings = JIRA | {"flavor": flavor, "token_env": "T"}
    if flavor == "cloud":
        settings["email"] = "bot@example.com"
    outcome = _probe(settings, FakeJira(flavor=flavor, token="t"), {"T": "t"})
    assert outcome.outcome == "ok", outcome
    who = "bot@example.com" if flavor == "cloud" else "autoticket"
    assert outcome.detail == f"authenticated as {who}; project OPS visible"


def test_jira_bad_token_or_unknown_project_fails_with_the_reason() -> None:
    settings = JIRA | {"email": "bot@example.com", "token_env": "T"}
    bad = _probe(settings, FakeJira(token="right"), {"T": "wrong"})
    assert bad.outcome == "failed"
    assert bad.detail.startswith("read the token's own user: ") and "401" in bad.detail
    other = _probe(settings | {"project": "NOPE"}, FakeJira(token="t"), {"T": "t"})
    assert other.outcome == "failed"
    assert other.detail.startswith("read project NOPE: ") and "404" in other.detail


def test_github_needs_a_reachable_repo_with_issues_and_write_access() -> None:
    settings = {"type": "github", "repo": "acme/ops", "token_env": "T"}
    fake = FakeGitHub(token="t")
    assert _probe(settings, fake, {"T": "t"}).detail == "repository acme/ops reachable, issues on"
    fake.push = False
    refused = _probe(settings, fake, {"T": "t"})
    assert refused.outcome == "failed"
    assert refused.detail == "the token may read acme/ops but not write its issues"
    fake.push, fake.issues_enabled = True, False
    assert _probe(settings, fake, {"T": "t"}).detail == "repository acme/ops has issues turned off"
    wrong = _probe(settings, FakeGitHub(token="t"), {"T": "x"})
    assert wrong.outcome == "failed" and "read repository acme/ops" in wrong.detail


def test_servicenow_reads_one_row_of_its_table() -> None:
    settings = {
        "type": "servicenow",
        "url": "https://x.service-now.com",
        "user": "autoticket",
        "password_env": "P",
    }
    fake = FakeServiceNow(password="p")
    ok = _probe(settings, fake, {"P": "p"})
    assert ok == ProbeOutcome("s", "servicenow", "ok", "table incident readable as autoticket")
    assert [r.method for r in fake.requests] == ["GET"]  # a read, nothing written
    bad = _probe(settings, FakeServiceNow(password="p"), {"P": "nope"})
    assert bad.outcome == "failed" and "read table incident" in bad.detail and "401" in bad.detail


def test_redmine_checks_project_statuses_and_the_keys_user() -> None:
    settings = {"type": "redmine", "url": "http://127.0.0.1:3000", "project": "ops", "key_env": "K"}
    ok = _probe(settings, FakeRedmine(), {"K": REDMINE_KEY})
    assert ok.outcome == "ok", ok
    assert ok.detail.startswith("project 'ops' visible;") and "(id 1)" in ok.detail
    bad = _probe(settings, FakeRedmine(), {"K": "not-the-key"})
    assert bad.outcome == "failed" and "was refused" in bad.detail
    missing = _probe(settings | {"project": "gone"}, FakeRedmine(), {"K": REDMINE_KEY})
    assert missing.outcome == "failed" and "project 'gone'" in missing.detail


def test_slack_is_probed_by_an_empty_post_that_slack_refuses() -> None:
    settings = {"type": "slack", "url_env": "HOOK"}
    fake = FakeSlack()
    ok = _probe(settings, fake, {"HOOK": HOOK_URL})
    assert ok.outcome == "ok" and "nothing posted" in ok.detail
    assert fake.messages == []
    fake.revoked = True
    revoked = _probe(settings, fake, {"HOOK": HOOK_URL})
    assert revoked == ProbeOutcome(
        "s", "slack", "failed", "the webhook answered HTTP 403 invalid_token"
    )
    unknown = _probe(settings, FakeSlack(), {"HOOK": HOOK_URL + "-other"})
    assert unknown.detail == "the webhook answered HTTP 404 no_service"


def test_pagerduty_and_webhook_say_why_they_are_not_probed() -> None:
    pd = _probe({"type": "pagerduty", "routing_key_env": "K"}, None, {"K": "short"})
    assert pd.outcome == "skipped"
    assert "Events API v2 has no read" in pd.detail and "5 characters, not 32" in pd.detail
    hook = _probe(
        {"type": "webhook", "url": "https://h.example", "secret_env": "S"}, None, {"S": "s"}
    )
    assert hook.outcome == "skipped" and "no harmless call" in hook.detail


MAIL = {"type": "email", "host": "127.0.0.1", "starttls": False, "from": "at@example.com"}


def test_email_logs_in_and_sends_nothing(smtp_server: tuple[Inbox, int]) -> None:
    inbox, port = smtp_server
    inbox.reset()
    settings = MAIL | {"port": port, "username": "autoticket", "password_env": "P"}
    ok = _probe(settings, None, {"P": PASSWORD})
    assert ok.detail == f"SMTP 127.0.0.1:{port} answered, logged in as autoticket"
    assert inbox.logins == ["autoticket"] and inbox.messages == []
    wrong = _probe(settings, None, {"P": "wrong"})
    assert wrong.outcome == "failed" and "SMTP 535" in wrong.detail
    closed = _probe(MAIL | {"port": free_port()}, None, {})
    assert closed.outcome == "failed" and "connection failed" in closed.detail


def test_check_config_probe_prints_a_line_per_sink_and_exits_3_on_a_failure(
    tmp_path: Path, smtp_server: tuple[Inbox, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROBE_JIRA_TOKEN", "t")
    sinks = {
        "mail": MAIL | {"port": smtp_server[1], "to": ["oncall@example.com"]},
        "jira": JIRA
        | {
            "url": f"http://127.0.0.1:{free_port()}",  # nothing listens there
            "email": "bot@example.com",
            "token_env": "PROBE_JIRA_TOKEN",
            "timeout": "2s",
        },
    }
    path = tmp_path / "c.yaml"
    routes = [{"name": "d", "sinks": ["builtin", "mail", "jira"]}]
    path.write_text(yaml.safe_dump({"sinks": sinks, "routes": routes}))
    result = CliRunner().invoke(app, ["check-config", str(path), "--probe"])
    assert result.exit_code == 3, result.output
    assert "sink builtin (builtin): ok" in result.output
    assert f"sink mail (email): ok: SMTP 127.0.0.1:{smtp_server[1]} answered" in result.output
    assert "sink jira (jira): failed: read the token's own user:" in result.output
    assert "probe failed for: jira" in result.output
    del sinks["jira"]
    routes[0]["sinks"] = ["builtin", "mail"]
    path.write_text(yaml.safe_dump({"sinks": sinks, "routes": routes}))
    result = CliRunner().invoke(app, ["check-config", str(path), "--probe"])
    assert result.exit_code == 0, result.output
    assert "sink mail (email): ok" in result.output
