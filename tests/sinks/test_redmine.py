"""The Redmine sink against a fake Redmine: one issue per incident, notes, close, reopen,
a person's Rejected left alone, every error classified, and through a real lane."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fakes.redmine import KEY, FakeRedmine
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from autoticket.api.app import create_app
from autoticket.clock import FixedClock
from autoticket.config import parse_config_text
from autoticket.model import TicketAction
from autoticket.service.runtime import Runtime
from autoticket.sinks import BuiltinSink, OutboxItem, build_sinks
from autoticket.sinks.external import Lane
from autoticket.sinks.redmine import RedmineSink
from autoticket.store import outbox as outbox_store
from autoticket.store.tables import outbox
from conftest import am_alert, am_payload

PLANTED = "AK" + "IA" + "IOSFODNN7EXAMPLE"  # split: not a secret to scanners
INGEST = "/api/v1/ingest/alertmanager"


def config_text(**extra: Any) -> str:
    settings = {
        "type": "redmine",
        "url": "http://redmine.example",
        "project": "ops",
        "key_env": "REDMINE_KEY",
        **extra,
    }
    return json.dumps({"sinks": {"redmine": settings}, "routes": [{"name": "d", "sinks": []}]})


def make_sink(fake: FakeRedmine, key: str = KEY, **extra: Any) -> RedmineSink:
    client = httpx.Client(transport=fake.transport)
    sink = build_sinks(parse_config_text(config_text(**extra)), client, env={"REDMINE_KEY": key})
    built = sink["redmine"]
    assert isinstance(built, RedmineSink)
    return built


def item(
    action: str = "open",
    incident: int = 7,
    version: int = 1,
    ref: str | None = None,
    attempts: int = 0,
    **payload: Any,
) -> OutboxItem:
    fields = {
        "title": "HighErrorRate on checkout",
        "team": "payments",
        "priority": "P1",
        "severity": "critical",
        "status": "open",
        "at": "2026-01-05T10:00:00+00:00",
        "opened_at": "2026-01-05T10:00:00+00:00",
        "reasons": ["new incident"],
        "body": "Checkout 5xx above 5% for 10 minutes.",
        **payload,
    }
    key = f"incident:abc{incident}:v{version}:{action}:redmine"
    return OutboxItem(11, key, incident, "redmine", action, fields, attempts, ref)


def only_issue(fake: FakeRedmine) -> dict[str, Any]:
    assert len(fake.tickets) == 1, fake.tickets
    return next(iter(fake.tickets.values()))


def test_open_creates_one_tagged_issue_with_priority_and_body() -> None:
    fake = FakeRedmine()
    result = make_sink(fake).apply(item())
    issue = only_issue(fake)
    assert (result.outcome, result.external_ref) == ("ok", "1")
    assert result.url == "http://redmine.example/issues/1"
    assert issue["subject"] == "HighErrorRate on checkout [autoticket-7]"
    assert (issue["status"], issue["priority"]) == ("New", "Urgent")
    assert issue["description"] == "Checkout 5xx above 5% for 10 minutes."
    assert all(r.headers["X-Redmine-API-Key"] == KEY for r in fake.requests)


def test_update_resolve_reopen_in_order_as_notes_and_statuses() -> None:
    fake = FakeRedmine()
    sink = make_sink(fake)
    ref = sink.apply(item()).external_ref
    update = item("update", version=2, ref=ref, priority="P2", reasons=["3 alerts"], body="new")
    assert sink.apply(update).outcome == "ok"
    issue = only_issue(fake)
    assert (issue["priority"], issue["description"]) == ("High", "new")
    assert sink.apply(item("resolve", version=3, ref=ref, status="resolved")).outcome == "ok"
    assert (issue["status"], issue["state"]) == ("Closed", "closed")
    assert sink.apply(item("reopen", version=4, ref=ref)).outcome == "ok"
    assert (issue["status"], issue["state"]) == ("New", "open")
    assert [c.splitlines()[0] for c in issue["comments"]] == [
        "autoticket: incident updated — 3 alerts",
        "autoticket: incident resolved — new incident",
        "autoticket: incident fired again — new incident",
    ]
    assert issue["comments"][0].endswith("key: incident:abc7:v2:update:redmine")


def test_a_person_rejecting_the_issue_is_not_reopened_but_told() -> None:
    fake = FakeRedmine()
    sink = make_sink(fake)
    ref = sink.apply(item()).external_ref
    assert ref is not None
    fake.human_close(ref, "Rejected")
    result = sink.apply(item("reopen", version=2, ref=ref))
    assert (result.outcome, result.reason) == ("ok", "left Rejected: a person closed it so")
    issue = only_issue(fake)
    assert issue["status"] == "Rejected"
    assert issue["comments"][-1].startswith("autoticket: incident fired again")


def test_a_person_closing_it_first_is_not_closed_again_on_resolve() -> None:
    fake = FakeRedmine()
    sink = make_sink(fake)
    ref = sink.apply(item()).external_ref
    assert ref is not None
    fake.human_close(ref, "Rejected")
    assert sink.apply(item("resolve", version=2, ref=ref)).outcome == "ok"
    assert only_issue(fake)["status"] == "Rejected"


def test_a_crash_between_create_and_record_finds_the_issue_instead_of_a_second() -> None:
    fake = FakeRedmine()
    sink = make_sink(fake)
    sink.names()
    fake.fail_next("ok", "timeout_after")  # the search passes; the create lands, its answer is lost
    assert sink.apply(item()).outcome == "retry"
    assert len(fake.tickets) == 1
    again = sink.apply(item(attempts=1))
    assert (again.outcome, again.external_ref) == ("ok", "1")
    assert len(fake.tickets) == 1


def test_an_issue_made_by_an_earlier_attempt_is_reused() -> None:
    fake = FakeRedmine()
    ref = fake.create_issue("HighErrorRate on checkout [autoticket-7]")
    fake.create_issue("Other [autoticket-70]")
    result = make_sink(fake).apply(item())
    assert (result.outcome, result.external_ref) == ("ok", ref)
    assert len(fake.tickets) == 2


def test_an_update_without_a_recorded_ref_finds_the_issue_by_its_tag() -> None:
    fake = FakeRedmine()
    ref = fake.create_issue("HighErrorRate on checkout [autoticket-7]")
    result = make_sink(fake).apply(item("update", version=2))
    assert (result.outcome, result.external_ref) == ("ok", ref)
    assert len(fake.tickets[ref]["comments"]) == 1


def test_a_resolve_whose_issue_never_got_created_opens_then_closes_it() -> None:
    fake = FakeRedmine()
    result = make_sink(fake).apply(item("resolve", version=2, status="resolved"))
    assert result.outcome == "ok"
    assert only_issue(fake)["status"] == "Closed"


def test_a_retried_update_whose_note_landed_is_not_noted_twice() -> None:
    fake = FakeRedmine()
    sink = make_sink(fake)
    ref = sink.apply(item()).external_ref
    fake.fail_next("reset_after")
    assert sink.apply(item("update", version=2, ref=ref)).outcome == "retry"
    assert sink.apply(item("update", version=2, ref=ref, attempts=1)).outcome == "ok"
    assert len(only_issue(fake)["comments"]) == 1


def _fail_first_call(kind: str) -> tuple[FakeRedmine, RedmineSink]:
    fake = FakeRedmine()
    sink = make_sink(fake)
    sink.names()  # the lookups are done; the failure hits the action's own call
    fake.fail_next(kind)
    return fake, sink


@pytest.mark.parametrize(
    ("kind", "outcome", "reason"),
    [
        ("401", "permanent", "HTTP 401 Unauthorized (the API key in REDMINE_KEY was refused)"),
        ("403", "permanent", "HTTP 403 Forbidden (the key's user may not do this"),
        ("404", "permanent", "HTTP 404 Not Found (searching the issue not found"),
        ("410", "permanent", "HTTP 410 Gone"),
        ("422", "permanent", "Redmine refused it: Tracker is not included in the list"),
        ("429", "retry", "HTTP 429 Too Many Requests"),
        ("500", "retry", "HTTP 500 Internal Server Error"),
        ("503", "retry", "HTTP 503 Service Unavailable"),
        ("timeout", "retry", "timeout (ReadTimeout)"),
        ("reset", "retry", "connection failed (ReadError)"),
    ],
)
def test_errors_are_classified_with_a_reason(kind: str, outcome: str, reason: str) -> None:
    fake, sink = _fail_first_call(kind)
    result = sink.apply(item())
    assert result.outcome == outcome
    assert reason in result.reason
    assert KEY not in result.reason
    assert not fake.tickets


def test_429_passes_on_retry_after() -> None:
    _, sink = _fail_first_call("429")
    assert sink.apply(item()).retry_after == timedelta(seconds=7)


def test_a_wrong_key_is_permanent_and_names_the_variable_not_the_key() -> None:
    result = make_sink(FakeRedmine(), key="wrong-key").apply(item())
    assert result.outcome == "permanent"
    assert "REDMINE_KEY was refused" in result.reason
    assert "wrong-key" not in result.reason


def test_an_unknown_project_is_permanent() -> None:
    result = make_sink(FakeRedmine(project="other")).apply(item())
    assert result.outcome == "permanent"
    assert "project 'ops'" in result.reason and "404" in result.reason


def test_a_priority_redmine_does_not_have_is_permanent_naming_both() -> None:
    sink = make_sink(FakeRedmine(), priorities={"P1": "Blocker"})
    result = sink.apply(item())
    assert result.outcome == "permanent"
    assert "Blocker" in result.reason and "Immediate" in result.reason


def test_a_422_from_redmine_names_its_errors() -> None:
    fake = FakeRedmine()
    result = make_sink(fake).apply(item(title="x" * 300))  # trimmed: fits
    assert result.outcome == "ok"
    assert len(only_issue(fake)["subject"]) <= 255
    sink = make_sink(fake, tracker="Bug")
    sink.names().tracker_id = 99  # a tracker removed in Redmine after start-up
    refused = sink.apply(item(incident=8))
    assert refused.outcome == "permanent"
    assert "Tracker is not included in the list" in refused.reason


def test_the_tracker_is_looked_up_by_name() -> None:
    fake = FakeRedmine()
    make_sink(fake, tracker="Support").apply(item())
    assert only_issue(fake)["tracker"] == "Support"


def test_a_planted_secret_in_an_alert_never_reaches_redmine(engine: Engine, t0: datetime) -> None:
    fake = FakeRedmine()
    sink = make_sink(fake)
    config = parse_config_text(
        config_text().replace(
            '"sinks": []', '"group_by": ["alertname"], "sinks": ["builtin", "redmine"]'
        )
    )
    runtime = Runtime(
        config, engine, clock=FixedClock(t0), sinks={"builtin": BuiltinSink(), "redmine": sink}
    )
    alert = am_alert(token=f"aws {PLANTED}")
    alert["annotations"] = {"summary": f"key {PLANTED} leaked", "description": PLANTED}
    with TestClient(create_app(runtime), base_url="http://localhost") as client:
        assert client.post(INGEST, json=am_payload(alert)).status_code == 202
        deadline = time.monotonic() + 60
        while not fake.tickets and time.monotonic() < deadline:
            time.sleep(0.02)
    issue = only_issue(fake)
    sent = b"".join(r.content for r in fake.requests) + str(fake.tickets).encode()
    assert issue["subject"] == "key [REDACTED:aws_access_key_id] leaked [autoticket-1]"
    assert PLANTED.encode() not in sent


def test_poll_reports_what_people_did_not_what_autoticket_did() -> None:
    fake = FakeRedmine()
    sink = make_sink(fake)
    ref = sink.apply(item()).external_ref
    assert ref is not None
    since = fake.now
    sink.apply(item("update", version=2, ref=ref))
    fake.human_close(ref, "Rejected")
    changes = sink.poll(since)
    assert [(c.remote_ref, c.incident_id, c.kind, c.by, c.detail) for c in changes] == [
        (ref, 7, "closed", "Alice Human", "Rejected")
    ]
    assert changes[0].at == fake.now
    later_that_second = fake.now + timedelta(microseconds=500_000)  # Redmine counts seconds
    assert sink.poll(later_that_second) == changes
    assert sink.poll(fake.now + timedelta(seconds=1)) == []


def test_through_a_real_lane_one_issue_and_the_ref_recorded(engine: Engine, t0: datetime) -> None:
    fake = FakeRedmine()
    fake.fail_next("500")
    sink = make_sink(fake)
    payload = item().payload
    actions = [
        TicketAction(3, action, f"incident:r3:v{v}:{action}", ["redmine"], payload)
        for v, action in enumerate(["open", "update", "resolve"], start=1)
    ]
    with engine.begin() as conn:
        outbox_store.enqueue(conn, actions, t0)
    clock = FixedClock(t0)
    lane = Lane(engine, sink, clock)
    for step in range(5):
        clock.set(t0 + timedelta(seconds=2 * step))
        lane.run_once()
    with engine.connect() as conn:
        done = conn.execute(select(outbox.c.status, outbox.c.external_ref)).all()
    assert sorted(done) == [("done", "1")] * 3
    issue = only_issue(fake)
    assert issue["status"] == "Closed"
    assert len(issue["comments"]) == 2


def test_the_documented_example_is_valid() -> None:
    docs = Path(__file__).parents[2] / "docs" / "sinks.md"
    section = docs.read_text().split("\n## redmine\n", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    text = example + "routes: [{name: d, sinks: [redmine]}]\n"
    sink = build_sinks(parse_config_text(text), httpx.Client(), env={"REDMINE_KEY": "k"})
    assert isinstance(sink["redmine"], RedmineSink)
    assert sink["redmine"].cfg.priorities == {
        "P1": "Urgent",
        "P2": "High",
        "P3": "Normal",
        "P4": "Low",
    }
