"""The GitHub Issues sink against a fake GitHub REST API."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest
from fakes.github import FakeGitHub
from fakes.lane import config_with, deliver
from fakes.pipeline import PLANTED, planted_alert
from sqlalchemy import Engine

from autoticket.sinks import OutboxItem, build_sinks
from autoticket.sinks.github import GitHubSink

TOKEN = "gh-token"
ENV = {"GH_TOKEN": TOKEN}
SETTINGS = (
    "{type: github, repo: acme/ops, token_env: GH_TOKEN, labels: [ops],"
    " priority_labels: {P1: 'priority: P1'}}"
)
GHE = (
    "{type: github, repo: acme/ops, token_env: GH_TOKEN, api_url: 'https://ghe.example.com/api/v3'}"
)


def make(settings: str = SETTINGS, **fake_args: object) -> tuple[GitHubSink, FakeGitHub]:
    fake = FakeGitHub(**fake_args)  # type: ignore[arg-type]
    client = httpx.Client(transport=fake.transport)
    sink = build_sinks(config_with("gh", settings), client, env=ENV)["gh"]
    assert isinstance(sink, GitHubSink)
    return sink, fake


def item(action: str, ref: str | None = None, *, incident: int = 7, **extra: object) -> OutboxItem:
    payload: dict[str, object] = {
        "title": "HighErrorRate on checkout",
        "team": "payments",
        "priority": "P1",
        "severity": "critical",
        "status": "open",
        "reasons": [f"{action} reason"],
        **extra,
    }
    return OutboxItem(
        1, f"incident:{incident}:v1:{action}:gh", incident, "gh", action, payload, 0, ref
    )


def labels(issue: dict[str, object]) -> set[str]:
    return {label["name"] for label in issue["labels"]}  # type: ignore[attr-defined, index]


def test_open_creates_one_labelled_marked_issue() -> None:
    sink, fake = make()
    result = sink.apply(item("open", body="Error rate 12%"))
    assert (result.outcome, result.external_ref) == ("ok", "1")
    assert result.url == "https://github.com/acme/ops/issues/1"
    issue = fake.tickets["1"]
    assert labels(issue) == {"autoticket", "autoticket-7", "ops", "priority: P1"}
    assert issue["body"] == "Error rate 12%\n\n<!-- autoticket:incident=7 -->"
    for request in fake.requests:
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        assert request.headers["accept"] == "application/vnd.github+json"
        assert request.headers["x-github-api-version"] == "2022-11-28"
    assert fake.requests[0].url.params["labels"] == "autoticket-7"


def test_enterprise_server_uses_its_api_url() -> None:
    sink, fake = make(GHE, prefix="/api/v3", html="https://ghe.example.com")
    result = sink.apply(item("open"))
    assert result.outcome == "ok"
    assert {r.url.host for r in fake.requests} == {"ghe.example.com"}
    assert sink.ticket_of("1").url == "https://ghe.example.com/acme/ops/issues/1"


def test_update_comments_once_even_when_repeated() -> None:
    sink, fake = make()
    ref = sink.apply(item("open")).external_ref
    update = item("update", ref, priority="P2")
    assert sink.apply(update).outcome == "ok"
    assert sink.apply(update).outcome == "ok"
    comments = fake.tickets["1"]["comments"]
    assert len(comments) == 1
    assert "priority P2" in comments[0]
    assert "<!-- autoticket:incident:7:v1:update:gh -->" in comments[0]


def test_close_as_completed_then_reopen_as_reopened() -> None:
    sink, fake = make()
    ref = sink.apply(item("open")).external_ref
    assert sink.apply(item("resolve", ref)).outcome == "ok"
    assert (fake.tickets["1"]["state"], fake.tickets["1"]["state_reason"]) == (
        "closed",
        "completed",
    )
    assert sink.apply(item("resolve", ref)).reason == "already closed"
    assert sink.apply(item("reopen", ref)).outcome == "ok"
    assert (fake.tickets["1"]["state"], fake.tickets["1"]["state_reason"]) == ("open", "reopened")


@pytest.mark.parametrize("reason", ["not_planned", "duplicate"])
def test_a_person_s_not_planned_is_never_reopened(reason: str) -> None:
    sink, fake = make()
    ref = sink.apply(item("open")).external_ref or ""
    fake.human_close(ref, reason)
    result = sink.apply(item("reopen", ref))
    assert (result.outcome, result.reason) == ("ok", f"left closed: closed as {reason} by a person")
    assert fake.tickets[ref]["state"] == "closed"


def test_a_crash_between_create_and_record_reuses_the_issue() -> None:
    sink, fake = make()
    fake.add_pull_request(["autoticket-7"], "a pull request with the label is not the ticket")
    fake.fail_next("timeout_after", when=lambda r: r.method == "POST")
    assert sink.apply(item("open")).outcome == "retry"
    assert [n for n, i in fake.tickets.items() if "pull_request" not in i] == ["2"]
    again = sink.apply(item("open"))
    assert (again.outcome, again.external_ref, again.reason) == (
        "ok",
        "2",
        "found by its correlation key",
    )


def test_a_reopen_whose_issue_is_nowhere_opens_it() -> None:
    sink, fake = make()
    result = sink.apply(item("reopen", None, incident=4))
    assert (result.outcome, result.reason) == ("ok", "created")
    assert fake.tickets[result.external_ref or ""]["state"] == "open"


@pytest.mark.parametrize(
    ("kind", "outcome"),
    [
        ("401", "permanent"),
        ("404", "permanent"),
        ("410", "permanent"),
        ("500", "retry"),
        ("503", "retry"),
        ("timeout", "retry"),
        ("reset", "retry"),
    ],
)
def test_each_error_has_its_outcome(kind: str, outcome: str) -> None:
    sink, fake = make()
    fake.fail_next(kind)
    result = sink.apply(item("open"))
    assert result.outcome == outcome
    assert result.reason.startswith("list by label: ")
    assert fake.tickets == {}
    assert TOKEN not in result.reason


@pytest.mark.parametrize(
    ("style", "low", "high"),
    [("primary", 100, 121), ("secondary", 7, 7), ("retry-after", 7, 7)],
)
def test_rate_limits_retry_when_github_says(style: str, low: int, high: int) -> None:
    sink, fake = make()
    fake.rate_limit_style, fake.reset_in = style, 120
    fake.fail_next("429")
    result = sink.apply(item("open"))
    assert result.outcome == "retry"
    assert result.reason.startswith("list by label: rate limited (HTTP 4")
    assert result.retry_after is not None
    assert timedelta(seconds=low) <= result.retry_after <= timedelta(seconds=high)


def test_a_plain_403_and_disabled_issues_park() -> None:
    sink, fake = make()
    fake.fail_next("403")
    assert sink.apply(item("open")).reason == "list by label: HTTP 403 Forbidden"
    fake.issues_enabled = False
    assert sink.apply(item("open")).reason == "list by label: HTTP 410 Gone"
    sink, _ = make(token="other")
    assert sink.apply(item("open")).reason == "list by label: HTTP 401 Unauthorized"


def test_through_the_lane_a_planted_secret_never_reaches_github(
    engine: Engine, t0: datetime
) -> None:
    fake = FakeGitHub()
    alert = planted_alert()
    rows = deliver(engine, t0, config_with("gh", SETTINGS), "gh", fake.transport, ENV, [alert])
    assert rows == [("open", "done", "1")]
    assert "[REDACTED:" in fake.tickets["1"]["title"]
    assert all(PLANTED not in r.content.decode() for r in fake.requests)
    assert all(PLANTED not in str(r.url) for r in fake.requests)
