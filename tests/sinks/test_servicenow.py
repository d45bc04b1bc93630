"""The ServiceNow sink against a fake Table API."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fakes.lane import config_with, deliver
from fakes.pipeline import PLANTED, planted_alert
from fakes.servicenow import FakeServiceNow
from sqlalchemy import Engine

from autoticket.config import ConfigError
from autoticket.sinks import OutboxItem, build_sinks
from autoticket.sinks.servicenow import ServiceNowSink

PASSWORD = "sn-password"
ENV = {"SN_PASSWORD": PASSWORD, "SN_TOKEN": "sn-bearer"}
SETTINGS = (
    "{type: servicenow, url: 'https://example.service-now.com', user: autoticket,"
    " password_env: SN_PASSWORD, teams: {payments: Payments L2},"
    " fields: {category: software}}"
)


def make(settings: str = SETTINGS, **fake_args: object) -> tuple[ServiceNowSink, FakeServiceNow]:
    fake = FakeServiceNow(**fake_args)  # type: ignore[arg-type]
    client = httpx.Client(transport=fake.transport)
    sink = build_sinks(config_with("sn", settings), client, env=ENV)["sn"]
    assert isinstance(sink, ServiceNowSink)
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
        1, f"incident:{incident}:v1:{action}:sn", incident, "sn", action, payload, 0, ref
    )


def opened(sink: ServiceNowSink) -> str:
    result = sink.apply(item("open"))
    assert result.outcome == "ok", result.reason
    assert result.external_ref is not None
    return result.external_ref


def test_open_creates_one_correlated_incident() -> None:
    sink, fake = make()
    result = sink.apply(item("open", body="Error rate 12%\nrunbook: https://r.example"))
    assert result.outcome == "ok"
    ref = result.external_ref or ""
    assert result.url == f"https://example.service-now.com/incident.do?sys_id={ref}"
    record = fake.tickets[ref]
    assert record["correlation_id"] == "autoticket-7"
    assert record["short_description"] == "HighErrorRate on checkout"
    assert record["description"] == "Error rate 12%\nrunbook: https://r.example"
    assert (record["urgency"], record["impact"], record["priority"]) == ("1", "1", "1")
    assert (record["assignment_group"], record["category"], record["state"]) == (
        "Payments L2",
        "software",
        "1",
    )
    auth = "Basic " + base64.b64encode(f"autoticket:{PASSWORD}".encode()).decode()
    assert {r.headers["authorization"] for r in fake.requests} == {auth}
    query = fake.requests[0].url.params["sysparm_query"]
    assert query.startswith("correlation_id=autoticket-7")


def test_bearer_auth_and_an_unmapped_team_and_priority() -> None:
    settings = "{type: servicenow, url: 'https://example.service-now.com', token_env: SN_TOKEN}"
    sink, fake = make(settings, token="sn-bearer")
    ref = sink.apply(item("open", team="web", priority="P9")).external_ref or ""
    record = fake.tickets[ref]
    assert "assignment_group" not in record
    assert (record["urgency"], record["impact"]) == ("3", "3")  # the instance's defaults
    assert fake.requests[-1].headers["authorization"] == "Bearer sn-bearer"


def test_update_writes_one_work_note_even_when_repeated() -> None:
    sink, fake = make()
    ref = opened(sink)
    update = item("update", ref, priority="P2")
    assert sink.apply(update).outcome == "ok"
    assert sink.apply(update).outcome == "ok"
    notes = fake.tickets[ref]["work_notes"]
    assert len(notes) == 1
    assert "priority P2" in notes[0] and "incident:7:v1:update:sn" in notes[0]


def test_resolve_then_reopen() -> None:
    sink, fake = make()
    ref = opened(sink)
    assert sink.apply(item("resolve", ref)).outcome == "ok"
    record = fake.tickets[ref]
    assert (record["state"], record["close_code"]) == ("6", "Solution provided")
    assert record["close_notes"] == "Resolved by autoticket: the alerts stopped."
    assert sink.apply(item("resolve", ref)).reason == "already resolved"
    assert sink.apply(item("reopen", ref)).outcome == "ok"
    assert record["state"] == "2"
    assert sink.apply(item("reopen", ref)).reason == "already open"


def test_a_person_s_close_or_own_close_code_is_never_reopened() -> None:
    sink, fake = make()
    closed = opened(sink)
    fake.human_close(closed, "Closed/Resolved by Caller")
    result = sink.apply(item("reopen", closed))
    assert (result.outcome, result.reason) == ("ok", "left closed: state 7 (closed)")
    assert fake.tickets[closed]["state"] == "7"
    other = sink.apply(item("open", incident=8)).external_ref or ""
    fake.human_resolve(other, "User error")
    result = sink.apply(item("reopen", other, incident=8))
    assert result.reason == "left closed: resolved by a person with close code 'User error'"
    assert fake.tickets[other]["state"] == "6"


def test_a_crash_between_create_and_record_reuses_the_record() -> None:
    sink, fake = make()
    fake.fail_next("reset_after", when=lambda r: r.method == "POST")
    assert sink.apply(item("open")).outcome == "retry"
    assert len(fake.tickets) == 1
    again = sink.apply(item("open"))
    assert (again.outcome, again.reason) == ("ok", "found by its correlation key")
    assert again.external_ref in fake.tickets
    assert len(fake.tickets) == 1


def test_a_resolve_whose_record_is_nowhere_creates_and_resolves_it() -> None:
    sink, fake = make()
    result = sink.apply(item("resolve", None, incident=3))
    assert (result.outcome, result.reason) == ("ok", "created")
    assert fake.tickets[result.external_ref or ""]["state"] == "6"


@pytest.mark.parametrize(
    ("kind", "outcome"),
    [
        ("401", "permanent"),
        ("404", "permanent"),
        ("410", "permanent"),
        ("429", "retry"),
        ("500", "retry"),
        ("503", "retry"),
        ("timeout", "retry"),
        ("reset", "retry"),
    ],
)
def test_each_error_has_its_outcome(kind: str, outcome: str) -> None:
    sink, fake = make()
    ref = opened(sink)
    fake.fail_next(kind)
    result = sink.apply(item("update", ref))
    assert result.outcome == outcome
    assert result.reason.startswith("read record: ")
    if kind == "429":
        assert result.retry_after == timedelta(seconds=7)
    assert fake.tickets[ref]["work_notes"] == []
    assert PASSWORD not in result.reason


def test_errors_that_park_name_the_step() -> None:
    sink, _ = make(password="other")
    assert sink.apply(item("open")).reason == "query by correlation_id: HTTP 401 Unauthorized"
    sink, _ = make()
    deleted = sink.apply(item("update", "f" * 32))
    assert (deleted.outcome, deleted.reason) == ("permanent", "read record: HTTP 404 Not Found")
    sink, _ = make(tables=("problem",))
    bad_table = sink.apply(item("open"))
    assert (bad_table.outcome, bad_table.reason) == (
        "permanent",
        "query by correlation_id: HTTP 400 Bad Request",
    )


@pytest.mark.parametrize(
    "settings",
    [
        "{type: servicenow, url: 'https://x.service-now.com'}",
        "{type: servicenow, url: 'https://x.service-now.com', user: u}",
        "{type: servicenow, url: 'https://x.service-now.com', user: u, password_env: P,"
        " token_env: T}",
        "{type: servicenow, url: 'https://x.service-now.com', token_env: T, fields: {state: '6'}}",
    ],
)
def test_settings_need_one_way_to_authenticate_and_keep_own_fields(settings: str) -> None:
    with pytest.raises(ConfigError):
        build_sinks(config_with("sn", settings), httpx.Client(), env={"P": "x", "T": "y"})


def test_through_the_lane_a_planted_secret_never_reaches_servicenow(
    engine: Engine, t0: datetime
) -> None:
    fake = FakeServiceNow()
    alert = planted_alert()
    rows = deliver(engine, t0, config_with("sn", SETTINGS), "sn", fake.transport, ENV, [alert])
    assert [(action, status) for action, status, _ in rows] == [("open", "done")]
    assert rows[0][2] in fake.tickets and len(fake.tickets) == 1
    assert "[REDACTED:" in fake.tickets[rows[0][2]]["short_description"]
    assert all(PLANTED not in r.content.decode() for r in fake.requests)
    assert all(PLANTED not in str(r.url) for r in fake.requests)


def test_polling_reports_a_person_s_changes_but_not_autoticket_s() -> None:
    sink, fake = make()
    ref = opened(sink)
    assert sink.changes_since(None) == []  # autoticket's own create: remembered only
    since = datetime(2026, 1, 5, 10, 0, 1, tzinfo=UTC)
    assert (
        fake.requests[-1]
        .url.params["sysparm_query"]
        .startswith("correlation_idSTARTSWITHautoticket-")
    )
    fake.human_assign(ref, "bob")
    fake.human_close(ref, "Closed/Resolved by Caller")
    got = sink.changes_since(since)
    assert "sys_updated_on>2026-01-05 10:00:01" in fake.requests[-1].url.params["sysparm_query"]
    assert [(c.remote_ref, c.kind, c.by, c.detail) for c in got] == [
        (ref, "closed", "ann", "Closed/Resolved by Caller"),
        (ref, "reassigned", "ann", "bob"),
    ]
    assert got[0].at == datetime(2026, 1, 5, 10, 0, 3, tzinfo=UTC)
    fake.human_reopen(ref)
    assert [c.kind for c in sink.changes_since(since)] == ["reopened"]
    assert sink.apply(item("resolve", ref)).outcome == "ok"
    assert sink.changes_since(since) == []  # autoticket's own resolve


def test_a_failed_poll_raises_with_the_reason_only() -> None:
    sink, fake = make()
    fake.fail_next("503")
    with pytest.raises(RuntimeError, match=r"^poll: HTTP 503 Service Unavailable$"):
        sink.changes_since(None)
