"""The incident page shows each alert's annotations (of its latest event): summary,
description, runbook as a link when it is http(s), and the rest by name."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from autoticket.api.app import create_app
from autoticket.config import load_config
from autoticket.service.runtime import Runtime
from autoticket.web.ticket_text import annotation_items
from conftest import am_alert, am_payload


@pytest.fixture
def site(engine: Engine) -> Iterator[tuple[TestClient, Runtime]]:
    runtime = Runtime(load_config(None), engine, start_worker=False)
    with TestClient(create_app(runtime), base_url="http://localhost") as client:
        yield client, runtime


def _send(client: TestClient, runtime: Runtime, alerts: list[dict[str, object]]) -> None:
    r = client.post("/api/v1/ingest/alertmanager", json=am_payload(*alerts))
    assert r.status_code == 202, r.text
    runtime.worker.drain()


def _alert(description: str, runbook: str, **labels: str) -> dict[str, object]:
    alert = am_alert(ends_at="0001-01-01T00:00:00Z", **labels)
    alert["annotations"] = {
        "summary": "Checkout errors above 5%",
        "description": description,
        "runbook_url": runbook,
        "dashboard": "https://grafana.example.com/d/checkout",
    }
    return alert


def test_the_incident_page_shows_the_latest_annotations_of_each_alert(
    site: tuple[TestClient, Runtime],
) -> None:
    client, runtime = site
    good = "https://runbooks.example.com/checkout"
    _send(client, runtime, [_alert("first wording", good)])
    _send(
        client,
        runtime,
        [_alert("second wording", good), _alert("on node b", "javascript:alert(1)", pod="b")],
    )
    [incident] = client.get("/api/v1/incidents").json()["items"]
    detail = client.get(f"/api/v1/incidents/{incident['id']}").json()
    descriptions = sorted(a["annotations"]["description"] for a in detail["alerts"])
    assert descriptions == ["on node b", "second wording"]
    page = client.get(f"/incidents/{incident['id']}").text
    alerts = page.split("<h2>Alerts")[1].split("<h2>Timeline</h2>")[0]
    assert "<th>Annotations</th>" in alerts
    assert "<dt>summary</dt><dd>Checkout errors above 5%</dd>" in alerts
    assert "<dd>second wording</dd>" in alerts and "first wording" not in alerts
    assert f'<a href="{good}" rel="noopener noreferrer">{good}</a>' in alerts
    assert "<dt>dashboard</dt>" in alerts
    # a script URL is shown as text, never as a link
    assert "<dd>javascript:alert(1)</dd>" in alerts
    assert 'href="javascript' not in page


def test_annotation_items_put_the_telling_ones_first() -> None:
    items = annotation_items(
        {"zeta": "z", "runbook_url": "https://r.example/x", "summary": "s", "description": "d"}
    )
    assert items == [
        ("summary", "s", None),
        ("description", "d", None),
        ("runbook_url", "https://r.example/x", "https://r.example/x"),
        ("zeta", "z", None),
    ]
    assert annotation_items(None) == []
