"""/api/v1/silences: people make, list and expire silences; a silence holds the ticket
of a new incident it covers, and expiring it files that ticket at once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from autoticket.api.app import create_app
from autoticket.clock import FixedClock
from autoticket.config import parse_config_text
from autoticket.service.runtime import Runtime
from conftest import am_alert, am_payload, token_headers

T0 = datetime(2026, 1, 5, 10, 0, 0, tzinfo=UTC)
CONFIG = """
routes: [{name: default}]
maintenance:
  - name: db-weekly
    matchers: ['service="db"']
    every: {days: [mon], start: "09:30", duration: 1h}
    comment: vacuum
"""


class Api:
    def __init__(self, client: TestClient, runtime: Runtime, clock: FixedClock, engine: Engine):
        self.client, self.runtime, self.clock = client, runtime, clock
        self.responder = token_headers(engine, "alice", "responder")
        self.viewer = token_headers(engine, "victor", "viewer")

    def create(self, **body: Any) -> Any:
        body.setdefault("matchers", ['service="checkout"'])
        body.setdefault("comment", "failover drill")
        body.setdefault("duration", "2h")
        return self.client.post("/api/v1/silences", json=body, headers=self.responder)

    def send(self, *alerts: dict[str, Any]) -> None:
        response = self.client.post("/api/v1/ingest/alertmanager", json=am_payload(*alerts))
        assert response.status_code == 202
        self.runtime.worker.drain()

    def tickets(self) -> list[dict[str, Any]]:
        return self.client.get("/api/v1/tickets", headers=self.viewer).json()["items"]


@pytest.fixture
def api(engine: Engine) -> Iterator[Api]:
    clock = FixedClock(T0)
    runtime = Runtime(parse_config_text(CONFIG), engine, clock, start_worker=False)
    with TestClient(create_app(runtime), base_url="http://localhost") as client:
        yield Api(client, runtime, clock, engine)


def test_a_silence_is_created_listed_and_shown(api: Api) -> None:
    response = api.create()
    assert response.status_code == 201, response.text
    made = response.json()
    assert made["created_by"] == "alice" and made["state"] == "active"
    assert made["ends_at"] == "2026-01-05T12:00:00Z"  # two hours on, as every time we answer
    assert response.headers["location"] == f"/api/v1/silences/{made['id']}"
    listed = api.client.get("/api/v1/silences", headers=api.viewer).json()
    assert [s["id"] for s in listed["items"]] == [made["id"]] and listed["total"] == 1
    [weekly] = listed["configured"]
    # 2026-01-05 is a Monday: the window runs 09:30-10:30 UTC.
    assert weekly["id"] == "config:db-weekly" and weekly["state"] == "active"
    assert weekly["active_until"] == "2026-01-05T10:30:00Z"
    one = api.client.get(f"/api/v1/silences/{made['id']}", headers=api.viewer).json()
    assert one == made
    assert one["matchers"] == ['service="checkout"'] and one["comment"] == "failover drill"
    later = api.create(starts_at=(T0 + timedelta(hours=1)).isoformat())
    assert later.json()["state"] == "pending"
    pending = api.client.get("/api/v1/silences?state=pending", headers=api.viewer).json()
    assert [s["id"] for s in pending["items"]] == [later.json()["id"]]


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"matchers": []}, "matchers", "at least one"),
        ({"matchers": ['svc=~"(("']}, "matchers.0", "invalid regex"),
        ({"comment": "  "}, "comment", "say why"),
        ({"duration": "soon"}, "duration", "not a duration"),
        ({"ends_at": "2026-01-05T12:00:00Z"}, "ends_at", "exactly one of ends_at or duration"),
        ({"duration": None, "ends_at": "2026-01-05T09:00:00Z"}, "ends_at", "in the past"),
        ({"duration": None, "ends_at": "2026-01-05T12:00:00"}, "ends_at", "time zone"),
        ({"duration": "400d"}, "ends_at", "at most 366 days"),
    ],
)
def test_a_bad_silence_names_the_field_and_the_reason(
    api: Api, body: dict[str, Any], field: str, words: str
) -> None:
    response = api.create(**body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == field and words in error["message"]


def test_viewers_may_read_but_not_silence(api: Api) -> None:
    body = {"matchers": ['a="b"'], "comment": "x", "duration": "1h"}
    response = api.client.post("/api/v1/silences", json=body, headers=api.viewer)
    assert response.status_code == 403
    assert api.client.get("/api/v1/silences").status_code == 401


def test_expiring_a_silence_files_the_ticket_it_held(api: Api) -> None:
    made = api.create().json()
    api.send(am_alert(alertname="Down", service="checkout"))
    assert api.tickets() == []
    api.clock.set(T0 + timedelta(minutes=10))
    response = api.client.delete(f"/api/v1/silences/{made['id']}", headers=api.responder)
    assert response.status_code == 200
    assert response.json()["state"] == "expired" and response.json()["expired_by"] == "alice"
    api.runtime.worker.drain()
    [ticket] = api.tickets()
    assert ticket["title"] == "Down on checkout"
    again = api.client.delete(f"/api/v1/silences/{made['id']}", headers=api.responder)
    assert again.status_code == 409
    missing = api.client.delete("/api/v1/silences/999", headers=api.responder)
    assert missing.status_code == 404


def test_maintenance_holds_and_suppressions_are_counted(api: Api) -> None:
    api.send(am_alert(alertname="Slow", service="db"))
    assert api.tickets() == []
    text = api.client.get("/metrics", headers=api.viewer).text
    assert 'autoticket_suppressed_total{reason="maintenance"} 1.0' in text
    # Still firing when the window ends at 10:30: filed then.
    api.clock.set(T0 + timedelta(minutes=30))
    api.runtime.worker.drain()
    [ticket] = api.tickets()
    assert ticket["title"] == "Slow on db"
