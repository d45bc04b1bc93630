"""The email sink against a real SMTP server (aiosmtpd on 127.0.0.1, one per session)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import yaml
from fakes.pipeline import PLANTED, deliver
from fakes.smtp import PASSWORD, Inbox, free_port
from sqlalchemy import Engine, select

from autoticket.clock import FixedClock
from autoticket.config import ConfigError, parse_config_text
from autoticket.model import TicketAction
from autoticket.sinks import OutboxItem, build_sinks, check_sinks
from autoticket.sinks.email import EmailSink
from autoticket.sinks.external import Lane
from autoticket.store import outbox as outbox_store
from autoticket.store.tables import outbox

REF = "3f2a9c0d1e2b3c4d5e6f"
ROOT = f"<autoticket-{REF}@autoticket.example>"


@pytest.fixture
def smtp(smtp_server: tuple[Inbox, int]) -> Iterator[tuple[Inbox, int]]:
    smtp_server[0].reset()
    yield smtp_server
    smtp_server[0].reset()


def config(port: int, **settings: Any) -> str:
    mail: dict[str, Any] = {
        "type": "email",
        "host": "127.0.0.1",
        "port": port,
        "starttls": False,
        "from": "autoticket@autoticket.example",
        "to": ["oncall@example.com"],
        **settings,
    }
    return yaml.safe_dump(
        {
            "sinks": {"mail": mail},
            "routes": [{"name": "d", "sinks": ["mail"]}],
            "catalog": {
                "teams": {"payments": {"email": "payments@example.com"}, "web": {"name": "Web"}}
            },
        }
    )


def make_sink(port: int, env: dict[str, str] | None = None, **settings: Any) -> EmailSink:
    text = config(port, **settings)
    sink = build_sinks(parse_config_text(text), httpx.Client(), env=env or {})["mail"]
    assert isinstance(sink, EmailSink)
    return sink


def item(action: str = "open", version: int = 1, **over: Any) -> OutboxItem:
    payload = {
        "title": "HighErrorRate on checkout",
        "team": "payments",
        "priority": "P1",
        "severity": "critical",
        "status": "open",
        "reasons": ["new incident"],
        "body": "checkout 5xx above 5%\n\nOwner: payments",
        **over,
    }
    return OutboxItem(1, f"incident:{REF}:v{version}:{action}:mail", 7, "mail", action, payload)


def test_open_sends_one_message_with_the_documented_headers(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    result = make_sink(port, public_url="https://autoticket.example").apply(item())
    assert (result.outcome, result.external_ref, result.url) == (
        "ok",
        ROOT,
        "https://autoticket.example/incidents/7",
    )
    ((sender, rcpts, msg),) = inbox.messages
    assert (sender, rcpts) == ("autoticket@autoticket.example", ["oncall@example.com"])
    assert msg["Subject"] == "[P1] HighErrorRate on checkout (autoticket #7)"
    assert msg["Message-ID"] == ROOT
    assert msg["In-Reply-To"] is None
    assert msg["Auto-Submitted"] == "auto-generated"
    text = msg.get_content()
    assert text.startswith("Opened. (new incident)\n\ncheckout 5xx above 5%\n")
    assert "Incident: https://autoticket.example/incidents/7" in text


def test_later_messages_thread_to_the_open(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    sink = make_sink(port)
    for action, version, over in [
        ("open", 1, {}),
        ("update", 2, {"status": "acknowledged", "reasons": ["acknowledged"]}),
        ("resolve", 3, {"status": "resolved", "reasons": ["all alerts resolved"]}),
        ("reopen", 4, {"reasons": ["alert refired"]}),
    ]:
        assert sink.apply(item(action, version, **over)).outcome == "ok"
    msgs = [m for _, _, m in inbox.messages]
    ids = [m["Message-ID"] for m in msgs]
    assert ids[0] == ROOT and len(set(ids)) == 4
    assert all(i.startswith(f"<autoticket-{REF}.") for i in ids[1:])
    assert [m["In-Reply-To"] for m in msgs[1:]] == [ROOT] * 3
    assert [m["References"] for m in msgs[1:]] == [ROOT] * 3
    assert [m.get_content().split("\n")[0] for m in msgs] == [
        "Opened. (new incident)",
        "Acknowledged. (acknowledged)",
        "Resolved. (all alerts resolved)",
        "Reopened. (alert refired)",
    ]
    assert msgs[2]["Subject"] == "Re: [P1] HighErrorRate on checkout (autoticket #7)"


def test_without_to_the_teams_catalog_email_is_used(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    sink = make_sink(port, to=None)
    assert sink.apply(item()).outcome == "ok"
    assert inbox.messages[0][1] == ["payments@example.com"]
    result = sink.apply(item(team="web"))
    assert result.outcome == "permanent"
    assert result.reason == "no recipient: `to` is not set and team 'web' has no catalog email"


def test_a_title_cannot_inject_headers(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    make_sink(port).apply(item(title="boom\r\nBcc: victim@example.com"))
    msg = inbox.messages[0][2]
    assert msg["Bcc"] is None
    assert msg["Subject"] == "[P1] boom  Bcc: victim@example.com (autoticket #7)"
    assert inbox.messages[0][1] == ["oncall@example.com"]


def test_a_4xx_reply_is_retried_and_the_next_attempt_delivers(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    inbox.data_replies.append("451 4.3.0 Mail server temporarily rejected message")
    sink = make_sink(port)
    first = sink.apply(item())
    assert (first.outcome, first.reason) == ("retry", "SMTP 451 (SMTPDataError)")
    assert inbox.messages == []
    assert sink.apply(item()).outcome == "ok"
    assert [m["Message-ID"] for _, _, m in inbox.messages] == [ROOT]


@pytest.mark.parametrize(
    ("reply", "outcome"),
    [("552 5.3.4 Message too big", "permanent"), ("554 5.7.1 Rejected", "permanent")],
)
def test_a_5xx_reply_is_permanent(smtp: tuple[Inbox, int], reply: str, outcome: str) -> None:
    inbox, port = smtp
    inbox.data_replies.append(reply)
    result = make_sink(port).apply(item())
    assert (result.outcome, result.reason) == (outcome, f"SMTP {reply[:3]} (SMTPDataError)")


def test_refused_recipients(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    inbox.refuse["oncall@example.com"] = "550 5.1.1 No such user"
    result = make_sink(port).apply(item())
    assert (result.outcome, result.reason) == (
        "permanent",
        "SMTP [550] recipients refused (SMTPRecipientsRefused)",
    )
    inbox.refuse["oncall@example.com"] = "450 4.2.1 Mailbox busy"
    assert make_sink(port).apply(item()).outcome == "retry"
    inbox.refuse["oncall@example.com"] = "550 5.1.1 No such user"
    partial = make_sink(port, to=["oncall@example.com", "sre@example.com"]).apply(item())
    assert (partial.outcome, partial.reason) == ("ok", "1 of 2 recipients refused")
    assert inbox.messages[0][1] == ["sre@example.com"]


def test_login_with_the_password_from_the_environment(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    env = {"SMTP_PASSWORD": PASSWORD}
    sink = make_sink(port, env=env, username="mailer", password_env="SMTP_PASSWORD")
    assert sink.apply(item()).outcome == "ok"
    assert inbox.logins == ["mailer"]
    wrong = make_sink(
        port, env={"SMTP_PASSWORD": "nope"}, username="m", password_env="SMTP_PASSWORD"
    )
    result = wrong.apply(item())
    assert (result.outcome, result.reason) == ("permanent", "SMTP 535 (SMTPAuthenticationError)")
    assert "nope" not in result.reason


def test_starttls_required_but_not_offered_is_permanent(smtp: tuple[Inbox, int]) -> None:
    _, port = smtp
    result = make_sink(port, starttls=True).apply(item())
    assert (result.outcome, result.reason) == (
        "permanent",
        "server does not offer it (SMTPNotSupportedError)",
    )


def test_no_server_is_a_retry() -> None:
    result = make_sink(free_port()).apply(item())
    assert (result.outcome, result.reason) == (
        "retry",
        "connection failed (ConnectionRefusedError)",
    )


def test_settings_are_checked() -> None:
    def problems(**settings: Any) -> set[str]:
        found = check_sinks(parse_config_text(config(25, **settings)), env={})
        return {f"{p.path}: {p.message}" for p in found}

    assert problems(ssl=True, starttls=True) == {
        "sinks.mail: Value error, ssl and starttls exclude each other (set starttls: false)"
    }
    assert problems(username="u") == {
        "sinks.mail: Value error, username and password_env go together"
    }
    (bad,) = problems(to=["not an address"])
    assert bad.startswith("sinks.mail.to.0: Value error, 'not an address' is not a plain")
    (unset,) = problems(username="u", password_env="SMTP_PW")
    assert unset.endswith("environment variable SMTP_PW is not set")
    with pytest.raises(ConfigError, match=r"sinks\.mail\.port"):
        build_sinks(parse_config_text(config(0)), httpx.Client(), env={})


def test_through_the_lane_a_4xx_then_delivery_in_order(
    smtp: tuple[Inbox, int], engine: Engine, t0: datetime
) -> None:
    inbox, port = smtp
    inbox.data_replies.append("421 4.7.0 Try again later")
    steps = [("open", 1), ("resolve", 2), ("reopen", 3)]
    payload = {"title": "t", "priority": "P2", "team": "payments", "reasons": []}
    actions = [
        TicketAction(7, action, f"incident:{REF}:v{v}:{action}", ["mail"], payload)
        for action, v in steps
    ]
    with engine.begin() as conn:
        outbox_store.enqueue(conn, actions, t0)
    clock = FixedClock(t0)
    lane = Lane(engine, make_sink(port), clock)
    for _ in range(5):
        lane.run_once()
        clock.set(clock.now() + timedelta(minutes=1))
    with engine.connect() as conn:
        rows = conn.execute(select(outbox).order_by(outbox.c.id)).all()
    assert [(r.status, r.external_ref) for r in rows] == [("done", ROOT)] * 3
    assert rows[0].attempts == 2
    msgs = [m for _, _, m in inbox.messages]
    assert [m["Message-ID"] == ROOT for m in msgs] == [True, False, False]
    assert [m["In-Reply-To"] for m in msgs] == [None, ROOT, ROOT]


def test_a_planted_secret_never_reaches_the_mailbox(
    smtp: tuple[Inbox, int], engine: Engine, t0: datetime
) -> None:
    inbox, port = smtp
    sinks = (
        f"sinks:\n  mail: {{type: email, host: 127.0.0.1, port: {port}, starttls: false, "
        "from: autoticket@autoticket.example, to: [oncall@example.com]}"
    )
    deliver(engine, t0, sinks, "mail")
    ((_, _, msg),) = inbox.messages
    seen = [msg.get_content(), msg.as_string(), *(str(v) for v in msg.values())]
    assert any("checkout errors" in part for part in seen), "the alert did arrive"
    assert not any(PLANTED in part for part in seen)
