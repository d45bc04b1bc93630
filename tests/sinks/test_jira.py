"""The Jira sink against a fake Jira (Cloud REST v3 / Data Center REST v2)."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta

import httpx
import pytest
from fakes.jira import FakeJira
from fakes.lane import config_with, deliver
from fakes.pipeline import PLANTED, planted_alert
from sqlalchemy import Engine

from autoticket.config import parse_config_text
from autoticket.sinks import OutboxItem, build_sinks
from autoticket.sinks.jira import JiraSink
from autoticket.sinks.jira_text import adf, adf_text, wiki

TOKEN = "jira-token"
ENV = {"JIRA_TOKEN": TOKEN}
SETTINGS = {
    "cloud": "{type: jira, url: 'https://jira.example.com', project: OPS,"
    " email: bot@example.com, token_env: JIRA_TOKEN, labels: [prod]}",
    "datacenter": "{type: jira, flavor: datacenter, url: 'https://jira.example.com',"
    " project: OPS, token_env: JIRA_TOKEN}",
}


def make(
    flavor: str = "cloud", token: str = TOKEN, projects: tuple[str, ...] = ("OPS",)
) -> tuple[JiraSink, FakeJira]:
    fake = FakeJira(flavor=flavor, token=token, projects=projects)
    config = config_with("jira", SETTINGS[flavor])
    sink = build_sinks(config, httpx.Client(transport=fake.transport), env=ENV)["jira"]
    assert isinstance(sink, JiraSink)
    return sink, fake


def item(action: str, ref: str | None = None, *, incident: int = 7, **extra: object) -> OutboxItem:
    payload: dict[str, object] = {
        "title": "HighErrorRate on checkout",
        "team": "payments",
        "priority": "P1",
        "severity": "critical",
        "status": "resolved" if action == "resolve" else "open",
        "reasons": [f"{action} reason"],
        **extra,
    }
    key = f"incident:{incident}:v1:{action}:jira"
    return OutboxItem(1, key, incident, "jira", action, payload, 0, ref)


def opened(sink: JiraSink, fake: FakeJira) -> str:
    result = sink.apply(item("open"))
    assert result.outcome == "ok", result.reason
    assert result.external_ref is not None
    return result.external_ref


@pytest.mark.parametrize("flavor", ["cloud", "datacenter"])
def test_open_creates_one_labelled_issue(flavor: str) -> None:
    sink, fake = make(flavor)
    body = "Error rate 12%\nrunbook https://runbooks.example/err.\n\nsee *bold* [x]"
    result = sink.apply(item("open", body=body))
    assert (result.outcome, result.external_ref) == ("ok", "OPS-1")
    assert result.url == "https://jira.example.com/browse/OPS-1"
    issue = fake.tickets["OPS-1"]
    labels = {"autoticket", "autoticket-7"} | ({"prod"} if flavor == "cloud" else set())
    assert set(issue["labels"]) == labels
    assert (issue["priority"], issue["issuetype"], issue["status"]) == ("Highest", "Task", "To Do")
    if flavor == "cloud":
        auth = "Basic " + base64.b64encode(f"bot@example.com:{TOKEN}".encode()).decode()
        assert issue["description"] == adf(body)
        assert "/rest/api/3/search/jql" in [r.url.path for r in fake.requests]
    else:
        auth = f"Bearer {TOKEN}"
        assert issue["description"] == wiki(body)
        assert "/rest/api/2/search" in [r.url.path for r in fake.requests]
    assert {r.headers["authorization"] for r in fake.requests} == {auth}


def test_adf_links_only_http_urls_and_keeps_paragraphs() -> None:
    doc = adf("a https://x.example/p?q=1, b\nnext javascript:alert(1)\n\nsecond")
    first, second = doc["content"]
    nodes = first["content"]
    assert nodes[1] == {
        "type": "text",
        "text": "https://x.example/p?q=1",
        "marks": [{"type": "link", "attrs": {"href": "https://x.example/p?q=1"}}],
    }
    assert {"type": "hardBreak"} in nodes
    assert all("marks" not in n for n in nodes if "javascript" in n.get("text", ""))
    assert second["content"] == [{"type": "text", "text": "second"}]
    assert adf_text(doc).startswith("a https://x.example/p?q=1, b")


def test_wiki_markup_is_escaped_but_links_stay_links() -> None:
    text = wiki("*bold* {code} [link|javascript:x] a\\b see https://x.example/a_b")
    assert text == (
        "\\*bold\\* \\{code\\} \\[link\\|javascript:x\\] a&#92;b see [https://x.example/a_b]"
    )


@pytest.mark.parametrize("flavor", ["cloud", "datacenter"])
def test_update_comments_once_even_when_the_attempt_repeats(flavor: str) -> None:
    sink, fake = make(flavor)
    ref = opened(sink, fake)
    update = item("update", ref, priority="P2")
    assert sink.apply(update).outcome == "ok"
    assert sink.apply(update).outcome == "ok"  # the answer was lost: same key again
    comments = fake.tickets[ref]["comments"]
    assert len(comments) == 1
    text = adf_text(comments[0]) if flavor == "cloud" else comments[0]
    assert "priority P2" in text
    assert "incident:7:v1:update:jira" in text


def test_resolve_then_reopen_follow_the_workflow_by_name() -> None:
    sink, fake = make()
    ref = opened(sink, fake)
    assert sink.apply(item("resolve", ref)).outcome == "ok"
    assert (fake.tickets[ref]["status"], fake.tickets[ref]["resolution"]) == ("Done", "Done")
    again = sink.apply(item("resolve", ref))
    assert (again.outcome, again.reason) == ("ok", "already resolved")
    assert sink.apply(item("reopen", ref)).outcome == "ok"
    assert (fake.tickets[ref]["status"], fake.tickets[ref]["resolution"]) == ("To Do", None)
    posted = [json.loads(r.content) for r in fake.requests if r.method == "POST"]
    assert {"transition": {"id": "31"}} in posted and {"transition": {"id": "51"}} in posted


@pytest.mark.parametrize("resolution", ["Won't Do", "won't fix"])
def test_a_person_s_wont_do_is_never_reopened(resolution: str) -> None:
    sink, fake = make()
    ref = opened(sink, fake)
    fake.human_close(ref, resolution)
    result = sink.apply(item("reopen", ref))
    assert result.outcome == "ok"
    assert "left closed" in result.reason and resolution in result.reason
    assert fake.tickets[ref]["status"] == "Done"


def test_a_missing_transition_parks_with_the_names_available() -> None:
    fake = FakeJira(token=TOKEN)
    config = parse_config_text(
        "sinks: {jira: {type: jira, url: 'https://jira.example.com', project: OPS,"
        " email: bot@example.com, token_env: JIRA_TOKEN, resolve_transition: Close}}\n"
        "routes: [{name: default, sinks: [jira]}]\n"
    )
    sink = build_sinks(config, httpx.Client(transport=fake.transport), env=ENV)["jira"]
    ref = sink.apply(item("open")).external_ref
    result = sink.apply(item("resolve", ref))
    assert result.outcome == "permanent"
    assert "no transition named 'Close'" in result.reason and "'Done'" in result.reason


def test_a_crash_between_create_and_record_reuses_the_issue() -> None:
    sink, fake = make()
    # Jira created the issue, the answer never came
    fake.fail_next("timeout_after", when=lambda r: r.url.path == "/rest/api/3/issue")
    lost = sink.apply(item("open"))
    assert lost.outcome == "retry"
    assert len(fake.tickets) == 1
    again = sink.apply(item("open"))
    assert (again.outcome, again.external_ref) == ("ok", "OPS-1")
    assert again.reason == "found by its correlation key"
    assert len(fake.tickets) == 1


def test_an_update_whose_issue_is_nowhere_opens_it() -> None:
    sink, fake = make()
    result = sink.apply(item("update", None, incident=9))
    assert (result.outcome, result.external_ref, result.reason) == ("ok", "OPS-1", "created")
    assert fake.tickets["OPS-1"]["comments"] == []
    resolved = sink.apply(item("resolve", None, incident=10))
    assert resolved.outcome == "ok"
    assert fake.tickets[resolved.external_ref or ""]["status"] == "Done"


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
    fake.fail_next(kind)
    result = sink.apply(item("open"))
    assert result.outcome == outcome
    assert result.reason.startswith("search by label: ")
    if kind == "429":
        assert result.retry_after == timedelta(seconds=7)
    assert fake.tickets == {}
    assert TOKEN not in result.reason


def test_bad_credentials_and_an_unknown_project_park() -> None:
    sink, _ = make(token="other")
    result = sink.apply(item("open"))
    assert (result.outcome, result.reason) == (
        "permanent",
        "search by label: HTTP 401 Unauthorized",
    )
    sink, _ = make(projects=("WEB",))
    assert sink.apply(item("open")).outcome == "permanent"


def test_an_issue_deleted_in_jira_parks_the_update() -> None:
    sink, _ = make()
    result = sink.apply(item("update", "OPS-99"))
    assert (result.outcome, result.reason) == ("permanent", "read comments: HTTP 404 Not Found")


def test_cloud_needs_an_email() -> None:
    config = parse_config_text(
        "sinks: {jira: {type: jira, url: 'https://j.example', project: OPS, token_env: T}}\n"
        "routes: [{name: default, sinks: [jira]}]\n"
    )
    with pytest.raises(Exception, match="email is required"):
        build_sinks(config, httpx.Client(), env={"T": "x"})


def test_through_the_lane_a_planted_secret_never_reaches_jira(engine: Engine, t0: datetime) -> None:
    fake = FakeJira(token=TOKEN)
    alert = planted_alert()
    rows = deliver(
        engine, t0, config_with("jira", SETTINGS["cloud"]), "jira", fake.transport, ENV, [alert]
    )
    assert rows == [("open", "done", "OPS-1")]
    assert len(fake.tickets) == 1
    assert "[REDACTED:" in fake.tickets["OPS-1"]["summary"], "the summary got there, redacted"
    assert all(PLANTED not in r.content.decode() for r in fake.requests)
    assert all(PLANTED not in str(r.url) for r in fake.requests)
