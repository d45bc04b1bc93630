"""The server-rendered UI against a real app, store and worker."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from autoticket.api.app import create_app
from autoticket.clock import FixedClock
from autoticket.config import load_config
from autoticket.service.runtime import Runtime
from autoticket.web.views import age
from conftest import am_alert, am_payload

T0 = datetime(2024, 5, 14, 9, 30, tzinfo=UTC)
INGEST = "/api/v1/ingest/alertmanager"


def _payload() -> dict[str, Any]:
    path = resources.files("autoticket") / "examples" / "payloads" / "alertmanager.json"
    return json.loads(path.read_text(encoding="utf-8"))


class App:
    def __init__(self, client: TestClient, runtime: Runtime, clock: FixedClock) -> None:
        self.client, self.runtime, self.clock = client, runtime, clock

    def send(self, payload: dict[str, Any]) -> None:
        response = self.client.post(INGEST, json=payload)
        assert response.status_code == 202, response.text
        self.runtime.worker.drain()

    def incidents(self) -> list[dict[str, Any]]:
        return self.client.get("/api/v1/incidents").json()["items"]

    def incident_id(self, title: str) -> int:
        return next(i["id"] for i in self.incidents() if i["title"] == title)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    clock = FixedClock(T0)
    runtime = Runtime.from_url(
        load_config(None), f"sqlite:///{tmp_path}/t.db", start_worker=False, clock=clock
    )
    with TestClient(create_app(runtime), base_url="http://localhost") as client:
        yield App(client, runtime, clock)


def _html(response: Any, status: int = 200) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def test_age_units() -> None:
    assert age(T0, T0 + timedelta(seconds=42)) == "42s"
    assert age(T0, T0 + timedelta(minutes=3, seconds=59)) == "3m"
    assert age(T0, T0 + timedelta(hours=2, minutes=59)) == "2h"
    assert age(T0, T0 + timedelta(days=4, hours=23)) == "4d"
    assert age(T0 + timedelta(seconds=5), T0) == "0s"  # clock skew never shows negative
    assert age(None, T0) == ""


def test_empty_overview_tells_how_to_send_a_first_alert(app: App) -> None:
    page = _html(app.client.get("/"))
    assert "No incidents yet" in page
    assert "curl -X POST -H 'content-type: application/json' --data @payload.json" in page
    assert "http://localhost/api/v1/ingest/alertmanager" in page
    assert "No active tickets" in page
    assert ">0 dead letters</a>" in page


def test_overview_lists_open_incidents_and_tickets(app: App) -> None:
    app.send(_payload())
    app.clock.set(T0 + timedelta(hours=2, minutes=5))
    page = _html(app.client.get("/"))
    assert "No incidents yet" not in page
    incidents = page.split("Active tickets")[0]
    assert "Checkout is failing 7.2% of requests" in incidents
    assert "Checkout p99 latency is 2.4s" in incidents
    assert 'class="badge sev-critical">critical<' in incidents
    assert 'class="badge prio-P1">P1<' in incidents
    first = app.incident_id("Checkout is failing 7.2% of requests")
    assert f'href="/incidents/{first}"' in incidents
    # opened at T0 by the fixed clock, rendered two hours later
    assert re.search(r'<td class="num" title="opened [^"]+">2h</td>', incidents)
    tickets = page.split("Active tickets")[1]
    assert "Checkout is failing 7.2% of requests" in tickets
    assert 'href="/dead-letters"' in page


def test_overview_status_filter(app: App) -> None:
    app.send(_payload())
    first = app.incident_id("Checkout is failing 7.2% of requests")
    assert app.client.post(f"/incidents/{first}/resolve", follow_redirects=False).status_code == 303
    open_page = _html(app.client.get("/")).split("Active tickets")[0]
    assert "Checkout is failing" not in open_page
    assert "Checkout p99 latency is 2.4s" in open_page
    resolved = _html(app.client.get("/?status=resolved")).split("Active tickets")[0]
    assert "Checkout is failing 7.2% of requests" in resolved
    assert "Checkout p99 latency" not in resolved
    _html(app.client.get("/?status=bogus"), 400)


def test_dead_letters_are_counted(app: App) -> None:
    bad = _payload()
    del bad["alerts"]
    response = app.client.post(INGEST, json=bad)
    assert response.status_code >= 400
    page = _html(app.client.get("/"))
    assert ">1 dead letter</a>" in page


def test_incident_page_shows_alerts_timeline_ticket_and_why(app: App) -> None:
    app.send(_payload())
    incident_id = app.incident_id("Checkout is failing 7.2% of requests")
    detail = app.client.get(f"/api/v1/incidents/{incident_id}").json()
    page = _html(app.client.get(f"/incidents/{incident_id}"))

    assert "<h1>Checkout is failing 7.2% of requests</h1>" in page
    assert detail["correlation_key"] in page
    # alerts with labels as chips
    assert '<span class="chip"><b>alertname</b>=CheckoutHighErrorRate</span>' in page
    # the timeline, every entry, in order
    timeline = page.split("<h2>Timeline</h2>")[1].split("<h2>Ticket</h2>")[0]
    positions = [timeline.index(t["message"].replace("'", "&#39;")) for t in detail["timeline"]]
    assert detail["timeline"] and positions == sorted(positions)
    assert "opened" in timeline
    # the ticket
    assert detail["ticket"] is not None
    assert f'href="/api/v1/tickets/{detail["ticket"]["id"]}"' in page
    # the why section: route, owner, grouping, decisions, events with their decisions
    why = page.split("<h2>Why</h2>")[1]
    route = detail["explain"]["route"]["name"]
    assert route and f"<code>{route}</code>" in why
    assert "matched" in why
    assert "Team <b>payments</b>" in why
    assert '<span class="chip"><b>service</b>=checkout</span>' in why
    assert "<details>" in why and "<summary>" in why
    for event in detail["explain"]["events"]:
        assert event["id"] in why
    assert "&#34;idempotency_key&#34;" in why or "idempotency_key" in why
    assert "Nothing masked." in why


def test_ack_form_acknowledges_and_redirects(app: App) -> None:
    app.send(_payload())
    incident_id = app.incident_id("Checkout is failing 7.2% of requests")
    response = app.client.post(
        f"/incidents/{incident_id}/ack", data={"by": "alice"}, follow_redirects=False
    )  # no token exists yet: an anonymous responder; the free-text name is ignored
    assert response.status_code == 303
    assert response.headers["location"] == f"/incidents/{incident_id}"
    assert app.client.get(f"/api/v1/incidents/{incident_id}").json()["status"] == "acknowledged"
    app.runtime.worker.drain()
    page = _html(app.client.get(f"/incidents/{incident_id}"))
    assert 'class="badge status-acknowledged">acknowledged<' in page
    assert "acknowledged by anonymous" in page and "by alice" not in page
    assert "Acknowledge</button>" in page and "disabled>Acknowledge" in page
    ticket = app.client.get("/api/v1/tickets").json()["items"]
    assert {t["incident_id"]: t["status"] for t in ticket}[incident_id] == "acknowledged"


def test_resolve_form_then_ack_shows_why_not(app: App) -> None:
    app.send(_payload())
    incident_id = app.incident_id("Checkout is failing 7.2% of requests")
    response = app.client.post(f"/incidents/{incident_id}/resolve")  # follows the 303
    page = _html(response)
    assert 'class="badge status-resolved">resolved<' in page
    assert app.client.get(f"/api/v1/incidents/{incident_id}").json()["status"] == "resolved"
    refused = _html(app.client.post(f"/incidents/{incident_id}/ack"), 409)
    assert 'role="alert"' in refused and "it reopens when an alert fires" in refused


def test_cross_site_form_post_is_refused(app: App) -> None:
    app.send(_payload())
    incident_id = app.incident_id("Checkout is failing 7.2% of requests")
    response = app.client.post(
        f"/incidents/{incident_id}/ack", headers={"origin": "https://evil.example"}
    )
    _html(response, 403)
    assert app.client.get(f"/api/v1/incidents/{incident_id}").json()["status"] == "open"


@pytest.mark.parametrize("path", ["/incidents/999", "/incidents/abc", "/incidents/-1"])
def test_unknown_incident_is_a_404_page(app: App, path: str) -> None:
    page = _html(app.client.get(path), 404)
    assert "Incident not found" in page
    assert "<!doctype html>" in page
    _html(app.client.post(f"{path}/ack"), 404)


def test_labels_and_titles_are_escaped(app: App) -> None:
    payload = _payload()
    alert = copy.deepcopy(payload["alerts"][0])
    alert["labels"]["note"] = "<script>alert(1)</script>"
    alert["annotations"]["summary"] = "Boom <img src=x onerror=alert(2)>"
    alert["fingerprint"] = "0123456789abcdef"
    payload["alerts"] = [alert]
    app.send(payload)
    incident_id = app.incident_id("Boom <img src=x onerror=alert(2)>")
    for path in ("/", f"/incidents/{incident_id}", "/tickets"):
        page = _html(app.client.get(path))
        assert "<script>alert(1)</script>" not in page
        assert "<img src=x" not in page
        assert "Boom &lt;img src=x onerror=alert(2)&gt;" in page
    page = _html(app.client.get(f"/incidents/{incident_id}"))
    assert "<b>note</b>=&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_pages_use_only_local_assets(app: App) -> None:
    app.send(_payload())
    incident_id = app.incident_id("Checkout is failing 7.2% of requests")
    for path in ("/", f"/incidents/{incident_id}", "/tickets", "/incidents/999"):
        page = app.client.get(path).text
        tags = re.findall(r"<(?:link|script|img)\b[^>]*>", page, re.I)
        assert tags, path
        for tag in tags:
            assert not re.search(r"(?:src|href)\s*=\s*[\"']?(?:https?:)?//", tag, re.I), tag
    css = app.client.get("/static/style.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert "@import" not in css.text and "url(" not in css.text


def test_tickets_page_and_filter(app: App) -> None:
    app.send(_payload())
    first = app.incident_id("Checkout is failing 7.2% of requests")
    app.client.post(f"/incidents/{first}/resolve")
    app.runtime.worker.drain()
    every = _html(app.client.get("/tickets"))
    assert "Checkout is failing 7.2% of requests" in every
    assert "Checkout p99 latency is 2.4s" in every
    resolved = _html(app.client.get("/tickets?status=resolved"))
    assert "Checkout is failing 7.2% of requests" in resolved
    assert "Checkout p99 latency" not in resolved
    assert 'aria-current="page">resolved<' in resolved
    _html(app.client.get("/tickets?status=nope"), 400)


def test_form_bodies_are_capped_and_ids_must_be_ascii_digits(tmp_path: Path) -> None:
    from autoticket.api.app import create_app as _create
    from autoticket.config import load_config as _load
    from autoticket.service.runtime import Runtime as _Runtime

    rt = _Runtime.from_url(_load(None), f"sqlite:///{tmp_path}/c.db", start_worker=False)
    with TestClient(_create(rt), base_url="http://localhost") as client:
        r = client.post(
            "/incidents/1/ack",
            content=b"by=" + b"x" * 10_000,
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert r.status_code == 413
        assert client.get("/incidents/\u00b2").status_code == 404
        assert client.get("/incidents/\u0661").status_code == 404
        assert client.get("/docs").status_code == 404  # no CDN-backed pages


def test_long_lists_are_paged_most_urgent_first(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("autoticket.web.views.PAGE_SIZE", 2)
    for k in range(5):
        app.send(am_payload(am_alert(alertname=f"Paged{k}", service=f"svc-{k}")))
    # One priority, one opening time (the fixed clock): the oldest incident first.
    ids = sorted(i["id"] for i in app.incidents())
    assert len(ids) == 5

    def listed(page: str) -> list[int]:
        return [int(n) for n in re.findall(r'<td><a href="/incidents/(\d+)">', page)]

    first = _html(app.client.get("/"))
    assert listed(first.split("Active tickets")[0]) == ids[:2]
    assert "1\u20132 of 5" in first
    assert 'href="/?status=active&amp;page=2" rel="next"' in first
    assert 'rel="prev"' not in first.split("Active tickets")[0]
    last = _html(app.client.get("/?status=active&page=3")).split("Active tickets")[0]
    assert listed(last) == ids[4:]
    assert "5\u20135 of 5" in last
    assert 'href="/?status=active&amp;page=2" rel="prev"' in last
    assert 'href="/?status=active&amp;page=1">« first' in last
    assert 'rel="next"' not in last
    past = _html(app.client.get("/?page=9")).split("Active tickets")[0]
    assert "past the end" in past
    assert "No incidents yet" not in past

    tickets = _html(app.client.get("/tickets?page=2"))
    assert "3\u20134 of 5" in tickets
    assert 'href="/tickets?status=all&amp;page=3" rel="next"' in tickets
    for bad in ("0", "-1", "x", "\uff11"):
        _html(app.client.get(f"/?page={bad}"), 400)
        _html(app.client.get(f"/tickets?page={bad}"), 400)


def test_incident_page_and_ticket_api_show_the_ticket_body(app: App) -> None:
    payload = _payload()
    alert = copy.deepcopy(payload["alerts"][0])
    alert["annotations"] = {
        "summary": "Body <b>summary</b>",
        "description": "why it matters",
        "runbook_url": "https://runbooks.example.com/checkout?x=1&y=2",
        "dashboard": "javascript:alert(3)",
    }
    alert["fingerprint"] = "0123456789abcdef"
    payload["alerts"] = [alert]
    app.send(payload)
    incident_id = app.incident_id("Body <b>summary</b>")
    detail = app.client.get(f"/api/v1/incidents/{incident_id}").json()
    body = detail["ticket"]["body"]
    assert body.splitlines()[:3] == ["Body <b>summary</b>", "", "why it matters"]
    ticket = app.client.get(f"/api/v1/tickets/{detail['ticket']['id']}").json()
    assert ticket["body"] == body
    assert "body" not in app.client.get("/api/v1/tickets").json()["items"][0]  # lists stay small

    page = _html(app.client.get(f"/incidents/{incident_id}"))
    shown = page.split('<pre class="ticket-body">')[1].split("</pre>")[0]
    assert "Body &lt;b&gt;summary&lt;/b&gt;" in shown
    runbook = "https://runbooks.example.com/checkout?x=1&amp;y=2"
    assert f'Runbook: <a href="{runbook}" rel="noopener noreferrer">{runbook}</a>' in shown
    # An annotation is text, never a link, whatever it holds.
    assert "- dashboard: javascript:alert(3)" in shown
    assert shown.count("<a ") == 3  # runbook, source, alertmanager
