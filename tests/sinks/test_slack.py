"""The Slack sink against a fake incoming webhook: one message per state change."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import yaml
from fakes.pipeline import PLANTED, deliver
from fakes.slack import HOOK_URL, FakeSlack
from sqlalchemy import Engine, select

from autoticket.clock import FixedClock
from autoticket.config import ConfigError, parse_config_text
from autoticket.model import TicketAction
from autoticket.sinks import OutboxItem, build_sinks
from autoticket.sinks.external import Lane
from autoticket.sinks.slack import SlackSink, escape
from autoticket.store import outbox as outbox_store
from autoticket.store.tables import outbox

ENV = {"SLACK_HOOK": HOOK_URL}
REF = "3f2a9c0d1e2b3c4d5e6f"
KEY = f"autoticket-{REF}"


def config(**settings: Any) -> str:
    slack = {"type": "slack", "url_env": "SLACK_HOOK", **settings}
    return yaml.safe_dump({"sinks": {"chat": slack}, "routes": [{"name": "d", "sinks": ["chat"]}]})


def make_sink(fake: FakeSlack, env: dict[str, str] = ENV, **settings: Any) -> SlackSink:
    client = httpx.Client(transport=fake.transport)
    sink = build_sinks(parse_config_text(config(**settings)), client, env=env)["chat"]
    assert isinstance(sink, SlackSink)
    return sink


def item(action: str = "open", version: int = 1, **over: Any) -> OutboxItem:
    payload = {
        "title": "HighErrorRate on checkout",
        "team": "payments",
        "priority": "P1",
        "severity": "critical",
        "status": "open",
        "reasons": ["new incident"],
        **over,
    }
    return OutboxItem(1, f"incident:{REF}:v{version}:{action}:chat", 7, "chat", action, payload)


def test_open_posts_one_concise_message_linking_the_incident() -> None:
    fake = FakeSlack()
    result = make_sink(fake, public_url="https://autoticket.example/").apply(item())
    assert (result.outcome, result.external_ref, result.url) == (
        "ok",
        f"slack:{KEY}",
        "https://autoticket.example/incidents/7",
    )
    (message,) = fake.messages
    assert message["text"] == "Opened: [P1] HighErrorRate on checkout (autoticket #7)"
    section = message["blocks"][0]["text"]
    assert section == {
        "type": "mrkdwn",
        "text": ":rotating_light: *Opened* [P1] "
        "<https://autoticket.example/incidents/7|HighErrorRate on checkout>",
    }
    context = message["blocks"][1]["elements"][0]["text"]
    assert context.startswith("autoticket #7 · team payments · severity critical · ref ")
    assert fake.tickets[KEY]["state"] == "open"


def test_mrkdwn_control_characters_are_escaped() -> None:
    assert (
        escape("a & b <!channel> <http://x|y>") == "a &amp; b &lt;!channel&gt; &lt;http://x|y&gt;"
    )
    fake = FakeSlack()
    make_sink(fake).apply(item(title="<!channel> 5xx & <https://evil.example|click>"))
    sent = fake.requests[0].content.decode()
    assert "<!channel>" not in sent and "<https://evil" not in sent
    shown = fake.messages[0]["blocks"][0]["text"]["text"]
    assert shown.endswith("&lt;!channel&gt; 5xx &amp; &lt;https://evil.example¦click&gt;")


def test_each_state_change_is_a_message_and_plain_updates_are_skipped() -> None:
    fake = FakeSlack()
    sink = make_sink(fake)
    assert sink.apply(item()).outcome == "ok"
    plain = sink.apply(item("update", 2, reasons=["3 alerts"]))
    assert (plain.outcome, plain.reason, plain.external_ref) == (
        "ok",
        "plain update not posted",
        f"slack:{KEY}",
    )
    sink.apply(item("update", 3, priority="P0", reasons=["priority P1 -> P0"]))
    sink.apply(item("update", 4, status="acknowledged", reasons=["acknowledged"]))
    sink.apply(item("resolve", 5, status="resolved"))
    sink.apply(item("reopen", 6))
    headings = [m["text"].split(":")[0] for m in fake.messages]
    assert headings == ["Opened", "Changed", "Acknowledged", "Resolved", "Reopened"]
    assert "priority P1 -&gt; P0" in fake.messages[1]["blocks"][0]["text"]["text"]
    assert fake.tickets[KEY]["state"] == "open"
    assert len({c["marker"] for c in fake.tickets[KEY]["comments"]}) == 5


def test_plain_updates_are_posted_when_asked() -> None:
    fake = FakeSlack()
    make_sink(fake, updates=True).apply(item("update", 2, reasons=["3 alerts"]))
    assert len(fake.messages) == 1


def test_a_retried_post_after_a_lost_answer_duplicates_visibly() -> None:
    """Slack has no dedup: the duplicate carries the same marker, so it shows."""
    fake = FakeSlack()
    sink = make_sink(fake)
    fake.failures.queue.append("timeout_after")
    assert sink.apply(item()).outcome == "retry"
    assert sink.apply(item()).outcome == "ok"
    markers = [c["marker"] for c in fake.tickets[KEY]["comments"]]
    assert len(markers) == 2 and markers[0] == markers[1]
    assert list(fake.tickets) == [KEY], "still one incident, one synthetic ref"


def test_an_archived_channel_parks_the_post() -> None:
    fake = FakeSlack()
    sink = make_sink(fake)
    sink.apply(item())
    fake.human_close(KEY)
    result = sink.apply(item("resolve", 2, status="resolved"))
    assert (result.outcome, result.reason) == ("permanent", "HTTP 410 Gone: channel_is_archived")


@pytest.mark.parametrize(
    ("setup", "outcome", "reason"),
    [
        ("revoked", "permanent", "HTTP 403 Forbidden: invalid_token"),
        ("unknown url", "permanent", "HTTP 404 Not Found: no_service"),
        ("archived", "permanent", "HTTP 410 Gone: channel_is_archived"),
        (401, "permanent", "HTTP 401 Unauthorized: internal_error"),
        (429, "retry", "HTTP 429 Too Many Requests: rate_limited"),
        (500, "retry", "HTTP 500 Internal Server Error: internal_error"),
        (503, "retry", "HTTP 503 Service Unavailable: internal_error"),
        ("timeout", "retry", "timeout (ReadTimeout)"),
        ("reset", "retry", "connection failed (ReadError)"),
    ],
)
def test_each_failure_gets_its_outcome(setup: int | str, outcome: str, reason: str) -> None:
    fake = FakeSlack()
    env = ENV
    if setup == "revoked":
        fake.revoked = True
    elif setup == "archived":
        fake.archived = True
    elif setup == "unknown url":
        env = {"SLACK_HOOK": HOOK_URL.replace("XXXX", "YYYY", 1)}
    else:
        fake.failures.queue.append(setup)
    result = make_sink(fake, env=env).apply(item())
    assert (result.outcome, result.reason) == (outcome, reason)
    assert fake.messages == []
    assert "hooks.slack.com" not in result.reason


def test_429_retry_after_and_invalid_payload() -> None:
    sink = make_sink(FakeSlack())
    result = sink.apply(item())  # a baseline post works
    assert result.outcome == "ok"
    fake = FakeSlack()
    fake.failures.queue.append(429)
    result = make_sink(fake).apply(item())
    assert (result.outcome, result.retry_after) == ("retry", timedelta(seconds=1))
    refused = fake.post(httpx.Request("POST", HOOK_URL, content=b"not json"))
    assert (refused.status_code, refused.text) == (400, "invalid_payload")


def test_a_body_that_is_not_an_error_code_is_not_quoted() -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, text=f"bad request to {request.url}")

    sink = make_sink(FakeSlack())
    sink.client = httpx.Client(transport=httpx.MockTransport(echo))
    result = sink.apply(item())
    assert (result.outcome, result.reason) == ("permanent", "HTTP 400 Bad Request")


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="SLACK_HOOK is not set"):
        build_sinks(parse_config_text(config()), httpx.Client(), env={})
    with pytest.raises(ConfigError, match=r"sinks\.chat\.channel"):
        build_sinks(parse_config_text(config(channel="#ops")), httpx.Client(), env=ENV)
    result = make_sink(FakeSlack(), env={"SLACK_HOOK": "hooks.slack.com/x"}).apply(item())
    assert (result.outcome, result.reason) == ("permanent", "SLACK_HOOK is not an http(s) URL")


def test_through_the_lane_state_changes_arrive_in_order(engine: Engine, t0: datetime) -> None:
    fake = FakeSlack()
    fake.failures.queue.extend([500, "reset"])
    steps = [("open", 1), ("update", 2), ("resolve", 3), ("reopen", 4)]
    payload = {"title": "t", "priority": "P2", "severity": "high", "reasons": ["x"]}
    actions = [
        TicketAction(7, action, f"incident:{REF}:v{v}:{action}", ["chat"], payload)
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
    assert [(r.status, r.external_ref) for r in rows] == [("done", f"slack:{KEY}")] * 4
    assert [m["text"].split(":")[0] for m in fake.messages] == ["Opened", "Resolved", "Reopened"]


def test_a_planted_secret_never_reaches_slack(
    engine: Engine, t0: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_HOOK", HOOK_URL)
    fake = FakeSlack()
    sinks = "sinks:\n  chat: {type: slack, url_env: SLACK_HOOK}"
    deliver(engine, t0, sinks, "chat", httpx.Client(transport=fake.transport))
    sent = b"".join(r.content for r in fake.requests)
    assert fake.messages, "the alert did arrive"
    assert PLANTED.encode() not in sent
