"""The PagerDuty sink against a fake Events API v2: one alert per incident, by dedup_key."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import yaml
from fakes.pagerduty import ROUTING_KEY, FakePagerDuty
from fakes.pipeline import PLANTED, deliver
from sqlalchemy import Engine, select

from autoticket.clock import FixedClock
from autoticket.config import ConfigError, parse_config_text
from autoticket.model import TicketAction
from autoticket.sinks import OutboxItem, build_sinks, check_sinks
from autoticket.sinks.external import Lane
from autoticket.sinks.pagerduty import PagerDutySink
from autoticket.store import outbox as outbox_store
from autoticket.store.tables import outbox

ENV = {"PD_KEY": ROUTING_KEY}
REF = "3f2a9c0d1e2b3c4d5e6f"
DEDUP = f"autoticket-{REF}"


def config(**settings: Any) -> str:
    pd = {"type": "pagerduty", "routing_key_env": "PD_KEY", **settings}
    return yaml.safe_dump({"sinks": {"pd": pd}, "routes": [{"name": "d", "sinks": ["pd"]}]})


def make_sink(fake: FakePagerDuty, **settings: Any) -> PagerDutySink:
    client = httpx.Client(transport=fake.transport)
    sink = build_sinks(parse_config_text(config(**settings)), client, env=ENV)["pd"]
    assert isinstance(sink, PagerDutySink)
    return sink


def payload(**over: Any) -> dict[str, Any]:
    return {
        "title": "HighErrorRate on checkout",
        "team": "payments",
        "priority": "P1",
        "severity": "critical",
        "status": "open",
        "at": "2026-01-05T10:00:00+00:00",
        "opened_at": "2026-01-05T10:00:00+00:00",
        "reasons": ["new incident"],
        "body": "checkout 5xx above 5%\n\nOwner: payments",
        **over,
    }


def item(
    action: str = "open", version: int = 1, remote_ref: str | None = None, **over: Any
) -> OutboxItem:
    key = f"incident:{REF}:v{version}:{action}:pd"
    return OutboxItem(1, key, 7, "pd", action, payload(**over), remote_ref=remote_ref)


def test_open_triggers_an_alert_keyed_by_the_incident() -> None:
    fake = FakePagerDuty()
    sink = make_sink(fake, public_url="https://autoticket.example", component="api", group="web")
    result = sink.apply(item())
    assert (result.outcome, result.external_ref) == ("ok", DEDUP)
    (event,) = fake.received()
    assert event["routing_key"] == ROUTING_KEY
    assert (event["event_action"], event["dedup_key"]) == ("trigger", DEDUP)
    body = event["payload"]
    assert body["summary"] == "[P1] HighErrorRate on checkout"
    assert (body["source"], body["severity"], body["component"], body["group"]) == (
        "autoticket",
        "critical",
        "api",
        "web",
    )
    assert body["timestamp"] == "2026-01-05T10:00:00+00:00"
    assert body["custom_details"]["incident_id"] == 7
    assert body["custom_details"]["body"].startswith("checkout 5xx")
    assert event["links"] == [
        {"href": "https://autoticket.example/incidents/7", "text": "autoticket incident #7"}
    ]
    assert fake.tickets[DEDUP]["state"] == "triggered"


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [("critical", "critical"), ("high", "error"), ("warning", "warning"), ("info", "info")],
)
def test_severity_maps_onto_pagerdutys_four(ours: str, theirs: str) -> None:
    fake = FakePagerDuty()
    assert make_sink(fake).apply(item(severity=ours)).outcome == "ok"
    assert fake.received()[0]["payload"]["severity"] == theirs


def test_a_long_title_is_cut_to_pagerdutys_summary_limit_and_team_is_the_group() -> None:
    fake = FakePagerDuty()
    assert make_sink(fake).apply(item(title="x" * 3000)).outcome == "ok"
    body = fake.received()[0]["payload"]
    assert len(body["summary"]) == 1024 and body["summary"].endswith("…")
    assert body["group"] == "payments"
    assert "links" not in fake.received()[0], "no public_url, no link"


def test_updates_fold_into_the_one_alert_and_an_acknowledgement_acknowledges() -> None:
    fake = FakePagerDuty()
    sink = make_sink(fake)
    assert sink.apply(item()).outcome == "ok"
    assert sink.apply(item("update", 2, DEDUP, priority="P2", severity="warning")).outcome == "ok"
    assert sink.apply(item("update", 3, DEDUP, status="acknowledged")).outcome == "ok"
    alert = fake.tickets[DEDUP]
    assert [e["event_action"] for e in alert["events"]] == ["trigger", "trigger", "acknowledge"]
    assert alert["events"][1]["payload"]["summary"].startswith("[P2]")
    assert (alert["state"], alert["alerts"]) == ("acknowledged", 1)
    assert "payload" not in alert["events"][2]


def test_resolve_resolves_and_a_reopen_pages_again_on_the_same_key() -> None:
    fake = FakePagerDuty()
    sink = make_sink(fake)
    sink.apply(item())
    assert sink.apply(item("resolve", 2, DEDUP, status="resolved")).outcome == "ok"
    assert fake.tickets[DEDUP]["state"] == "resolved"
    result = sink.apply(item("reopen", 3, DEDUP))
    assert (result.outcome, result.external_ref) == ("ok", DEDUP)
    assert (fake.tickets[DEDUP]["state"], fake.tickets[DEDUP]["alerts"]) == ("triggered", 2)
    assert len(fake.tickets) == 1


def test_a_human_resolve_in_pagerduty_is_left_as_is_by_our_resolve() -> None:
    fake = FakePagerDuty()
    sink = make_sink(fake)
    sink.apply(item())
    fake.human_close(DEDUP, "resolved")
    assert sink.apply(item("resolve", 2, DEDUP, status="resolved")).outcome == "ok"
    alert = fake.tickets[DEDUP]
    assert (alert["state"], alert["alerts"]) == ("resolved", 1), "no new alert, no page"


def test_a_lost_answer_after_pagerduty_took_the_open_does_not_page_twice() -> None:
    fake = FakePagerDuty()
    sink = make_sink(fake)
    fake.failures.queue.append("timeout_after")  # PagerDuty has it; the 202 is lost
    assert sink.apply(item()).outcome == "retry"
    assert sink.apply(item()).outcome == "ok"  # the retry, remote_ref still unknown
    assert list(fake.tickets) == [DEDUP]
    assert fake.tickets[DEDUP]["alerts"] == 1 and len(fake.tickets[DEDUP]["events"]) == 2


def test_an_update_whose_alert_is_unknown_opens_it() -> None:
    """Never recorded (e.g. the open was parked): the update's trigger creates it."""
    fake = FakePagerDuty()
    assert make_sink(fake).apply(item("update", 2)).outcome == "ok"
    assert fake.tickets[DEDUP]["state"] == "triggered"


def test_a_refused_event_is_permanent_and_names_pagerdutys_errors() -> None:
    fake = FakePagerDuty(routing_key="another-key")
    result = make_sink(fake).apply(item())
    assert result.outcome == "permanent"
    assert result.reason == "HTTP 400 Bad Request: PagerDuty refused the event: Invalid routing key"
    assert ROUTING_KEY not in result.reason


def test_errors_never_echo_the_routing_key() -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        sent = json.loads(request.content)["routing_key"]
        return httpx.Response(400, json={"status": "invalid event", "errors": [f"bad {sent}"]})

    sink = make_sink(FakePagerDuty())
    sink.client = httpx.Client(transport=httpx.MockTransport(echo))
    result = sink.apply(item())
    assert result.outcome == "permanent" and ROUTING_KEY not in result.reason
    assert result.reason.endswith("bad ***")


@pytest.mark.parametrize(
    ("failure", "outcome", "reason"),
    [
        (401, "permanent", "HTTP 401 Unauthorized"),
        (403, "permanent", "HTTP 403 Forbidden"),
        (404, "permanent", "HTTP 404 Not Found"),
        (410, "permanent", "HTTP 410 Gone"),
        (429, "retry", "HTTP 429 Too Many Requests"),
        (500, "retry", "HTTP 500 Internal Server Error"),
        (503, "retry", "HTTP 503 Service Unavailable"),
        ("timeout", "retry", "timeout (ReadTimeout)"),
        ("reset", "retry", "connection failed (ReadError)"),
    ],
)
def test_each_failure_gets_its_outcome(failure: int | str, outcome: str, reason: str) -> None:
    fake = FakePagerDuty()
    fake.failures.queue.append(failure)
    result = make_sink(fake).apply(item())
    assert (result.outcome, result.reason) == (outcome, reason)
    assert fake.tickets == {}, "nothing was created by a failed call"


def test_429_with_retry_after_is_honoured() -> None:
    def throttled(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "30"})

    sink = make_sink(FakePagerDuty())
    sink.client = httpx.Client(transport=httpx.MockTransport(throttled))
    result = sink.apply(item())
    assert (result.outcome, result.retry_after) == ("retry", timedelta(seconds=30))


def test_settings_are_checked() -> None:
    eu = "https://events.eu.pagerduty.com/v2/enqueue"
    fake = FakePagerDuty()
    sink = make_sink(fake, url=eu, **{"class": "latency"})
    sink.client = httpx.Client(transport=fake.transport)
    sink.apply(item())
    assert str(fake.requests[0].url) == eu
    assert fake.received()[0]["payload"]["class"] == "latency"
    problems = check_sinks(parse_config_text(config(url="ftp://x", colour="red")), env=ENV)
    assert {p.path for p in problems} == {"sinks.pd.url", "sinks.pd.colour"}
    with pytest.raises(ConfigError, match="PD_KEY is not set"):
        build_sinks(parse_config_text(config()), httpx.Client(), env={})


def test_through_the_lane_every_action_reaches_one_alert_in_order(
    engine: Engine, t0: datetime
) -> None:
    fake = FakePagerDuty()
    fake.failures.queue.extend([503, "reset"])
    steps = [("open", 1), ("update", 2), ("resolve", 3), ("reopen", 4)]
    actions = [
        TicketAction(7, action, f"incident:{REF}:v{v}:{action}", ["pd"], payload())
        for action, v in steps
    ]
    with engine.begin() as conn:
        outbox_store.enqueue(conn, actions, t0)
    clock = FixedClock(t0)
    lane = Lane(engine, make_sink(fake), clock)
    for _ in range(10):
        lane.run_once()
        clock.set(clock.now() + timedelta(minutes=1))
    with engine.connect() as conn:
        rows = conn.execute(select(outbox).order_by(outbox.c.id)).all()
    assert [(r.status, r.external_ref) for r in rows] == [("done", DEDUP)] * 4
    actions_seen = [e["event_action"] for e in fake.tickets[DEDUP]["events"]]
    assert actions_seen == ["trigger", "trigger", "resolve", "trigger"]
    assert list(fake.tickets) == [DEDUP]


def test_a_planted_secret_never_reaches_pagerduty(
    engine: Engine, t0: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PD_KEY", ROUTING_KEY)
    fake = FakePagerDuty()
    sinks = "sinks:\n  pd: {type: pagerduty, routing_key_env: PD_KEY}"
    deliver(engine, t0, sinks, "pd", httpx.Client(transport=fake.transport))
    sent = b"".join(r.content for r in fake.requests)
    assert b"checkout errors" in sent, "the alert did arrive"
    assert PLANTED.encode() not in sent


def test_a_crash_after_pagerduty_took_the_open_leaves_one_alert_through_the_lane(
    engine: Engine, t0: datetime
) -> None:
    """The lease runs out with the row unrecorded; the next claim sends it again."""
    fake = FakePagerDuty()
    action = TicketAction(7, "open", f"incident:{REF}:v1:open", ["pd"], payload())
    with engine.begin() as conn:
        outbox_store.enqueue(conn, [action], t0)
    clock = FixedClock(t0)
    lane = Lane(engine, make_sink(fake), clock)

    class Crashed(Exception):
        pass

    def crash(*args: Any, **kwargs: Any) -> bool:
        raise Crashed  # the process dies before recording PagerDuty's 202

    lane._record = crash  # type: ignore[method-assign]
    with pytest.raises(Crashed):
        lane.run_once()
    assert fake.tickets[DEDUP]["alerts"] == 1
    lane = Lane(engine, make_sink(fake), clock)
    clock.set(t0 + lane.lease + timedelta(seconds=1))
    assert lane.run_once() == 1
    with engine.connect() as conn:
        row = conn.execute(select(outbox)).one()
    assert (row.status, row.external_ref) == ("done", DEDUP)
    assert (fake.tickets[DEDUP]["alerts"], len(fake.tickets[DEDUP]["events"])) == (1, 2)


def test_with_30_percent_failures_each_incident_ends_as_one_alert_in_its_state(
    engine: Engine, t0: datetime
) -> None:
    fake = FakePagerDuty(fail_rate=0.3, seed=7)
    refs = [f"{i:020x}" for i in range(1, 6)]
    plan = [("open", 1), ("update", 2), ("resolve", 3)]
    actions = [
        TicketAction(n, action, f"incident:{ref}:v{v}:{action}", ["pd"], payload())
        for n, ref in enumerate(refs, start=1)
        for action, v in plan
    ]
    with engine.begin() as conn:
        outbox_store.enqueue(conn, actions, t0)
    clock = FixedClock(t0)
    lane = Lane(engine, make_sink(fake), clock)
    for _ in range(40):
        lane.run_once()
        clock.set(clock.now() + timedelta(minutes=11))  # past the longest backoff
    with engine.connect() as conn:
        statuses = {r.status for r in conn.execute(select(outbox))}
    assert statuses == {"done"}
    assert fake.failures.injected, "failures were injected"
    assert sorted(fake.tickets) == sorted(f"autoticket-{ref}" for ref in refs)
    for alert in fake.tickets.values():
        assert (alert["state"], alert["alerts"]) == ("resolved", 1)
        actions_seen = [e["event_action"] for e in alert["events"]]
        assert actions_seen[-1] == "resolve" and "resolve" not in actions_seen[:-1]
