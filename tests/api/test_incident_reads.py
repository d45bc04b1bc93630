"""Incident reads a new user trips over: status=all, alert pages with a total,
label errors that say what is wrong, and the overview most urgent first."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from autoticket.api.app import create_app
from autoticket.clock import FixedClock
from autoticket.config import load_config
from autoticket.service.runtime import Runtime
from conftest import am_alert, am_payload

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


class Api:
    def __init__(self, client: TestClient, runtime: Runtime, clock: FixedClock) -> None:
        self.client, self.runtime, self.clock = client, runtime, clock

    def send(self, *alerts: dict[str, Any]) -> None:
        response = self.client.post("/api/v1/ingest/alertmanager", json=am_payload(*alerts))
        assert response.status_code == 202, response.text
        self.runtime.worker.drain()


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    clock = FixedClock(T0)
    runtime = Runtime.from_url(
        load_config(None), f"sqlite:///{tmp_path}/t.db", start_worker=False, clock=clock
    )
    with TestClient(create_app(runtime), base_url="http://localhost") as client:
        yield Api(client, runtime, clock)


def _alert(n: int, **kw: Any) -> dict[str, Any]:
    alert = am_alert(instance=f"pod-{n}", **kw)
    alert["fingerprint"] = f"fp-{kw.get('alertname', 'a')}-{n}"
    return alert


def test_status_all_is_accepted_as_no_filter(api: Api) -> None:
    api.send(_alert(0))
    every = api.client.get("/api/v1/incidents", params={"status": "all"})
    assert every.status_code == 200
    assert every.json() == api.client.get("/api/v1/incidents").json()
    wrong = api.client.get("/api/v1/incidents", params={"status": "everything"})
    assert wrong.status_code == 422


def test_an_incident_s_alerts_are_paged_with_their_total(api: Api) -> None:
    api.send(*[_alert(n) for n in range(7)])
    [incident] = api.client.get("/api/v1/incidents").json()["items"]
    path = f"/api/v1/incidents/{incident['id']}"
    first = api.client.get(path, params={"alerts_limit": 3}).json()
    rest = api.client.get(path, params={"alerts_limit": 3, "alerts_offset": 3}).json()
    last = api.client.get(path, params={"alerts_limit": 3, "alerts_offset": 6}).json()
    assert first["alerts_total"] == rest["alerts_total"] == 7
    pages = [a["fingerprint"] for page in (first, rest, last) for a in page["alerts"]]
    assert [len(p["alerts"]) for p in (first, rest, last)] == [3, 3, 1]
    assert len(set(pages)) == 7  # every alert once across the pages
    assert api.client.get(path, params={"alerts_limit": 0}).status_code == 422
    page = api.client.get(f"/incidents/{incident['id']}").text
    assert '<h2>Alerts <span class="count">7</span></h2>' in page


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ({"label": "has space"}, "invalid_label", "label: 'has space' has space; use letters"),
        ({"label": "a/b!"}, "invalid_label", "label: 'a/b!' has '!', '/'; use letters"),
        ({"label": ""}, "invalid_label", "label: is empty"),
        ({"label": "x" * 65}, "invalid_label", "label: at most 64 characters, got 65"),
        ({}, "invalid_request", 'label: missing; send {"label": "name"}'),
    ],
)
def test_a_bad_label_says_what_is_wrong(
    api: Api, body: dict[str, Any], code: str, message: str
) -> None:
    api.send(_alert(0))
    [incident] = api.client.get("/api/v1/incidents").json()["items"]
    response = api.client.post(f"/api/v1/incidents/{incident['id']}/label", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["code"], error["field"]) == (code, "label")
    assert error["message"].startswith(message)


def test_a_good_label_is_added(api: Api) -> None:
    api.send(_alert(0))
    [incident] = api.client.get("/api/v1/incidents").json()["items"]
    path = f"/api/v1/incidents/{incident['id']}"
    assert api.client.post(f"{path}/label", json={"label": "db:primary-1"}).status_code == 200
    assert "db:primary-1" in api.client.get(path).json()["labels"]


def test_the_overview_lists_the_most_urgent_first_then_the_oldest(api: Api) -> None:
    api.send(_alert(0, alertname="Slow", severity="warning"))  # P2, the oldest
    api.clock.set(T0 + timedelta(minutes=1))
    api.send(_alert(0, alertname="Down", severity="critical"))  # P1
    api.clock.set(T0 + timedelta(minutes=2))
    api.send(_alert(0, alertname="Late", severity="warning"))  # P2, newer
    page = api.client.get("/").text.split("Active tickets")[0]
    order = sorted(("Down", "Slow", "Late"), key=lambda name: page.index(f"{name} on checkout"))
    assert order == ["Down", "Slow", "Late"]
    api_order = [i["title"] for i in api.client.get("/api/v1/incidents").json()["items"]]
    assert api_order == ["Late on checkout", "Down on checkout", "Slow on checkout"]  # newest
