"""Suspect releases: own service and dependencies only, ranked by time and verdict."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from autoticket.api.app import create_app
from autoticket.clock import FixedClock
from autoticket.config import bundled_config_path, parse_config_text
from autoticket.engine.round import Round
from autoticket.explain import suspect_releases
from autoticket.model import Delivery, Release
from autoticket.pipeline.runner import build_pipeline
from autoticket.releases.suspects import rank_suspects, related_services
from autoticket.replay import replay
from autoticket.service.runtime import Runtime
from autoticket.sinks.outbox import Dispatcher
from autoticket.store.releases import save_release
from autoticket.store.tables import incidents

OPENED = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
DEPENDS = {"checkout": ["payments-api", "db"], "payments-api": ["db"]}


def _release(service: str, minutes_before: float, version: str = "v1", id: int = 0) -> Release:
    started = OPENED - timedelta(minutes=minutes_before)
    return Release(service, "prod", version, started, id=id or None)


def test_related_services_are_own_then_first_dependant() -> None:
    assert related_services(["checkout"], DEPENDS) == {
        "checkout": None,
        "db": "checkout",
        "payments-api": "checkout",
    }
    # A dependency that is also an own service stays "own".
    assert related_services(["checkout", "db"], DEPENDS)["db"] is None


def test_own_service_near_in_time_wins_and_decoys_never_count() -> None:
    related = related_services(["checkout"], DEPENDS)
    candidates = [
        _release("search", 1, "decoy"),  # unrelated, however close
        _release("payments-api", 5, "p7"),  # 0.6 * exp(-5/30) = 0.508
        _release("checkout", 10, "v42"),  # 1.0 * exp(-10/30) = 0.717
        _release("checkout", -1, "v43"),  # after the opening
        _release("db", 121, "d9"),  # outside the 2 h look-back
    ]
    ranked = rank_suspects(candidates, related, OPENED)
    assert [s.release.version for s in ranked] == ["v42", "p7"]
    assert math.isclose(ranked[0].score, math.exp(-10 / 30))
    assert math.isclose(ranked[1].score, 0.6 * math.exp(-5 / 30))
    assert ranked[0].reason == (
        "checkout v42 started 10 min before the incident opened; "
        "the incident's own service; not judged"
    )
    assert ranked[1].reason.endswith("a dependency of checkout (catalog depends_on); not judged")


def test_a_failed_verdict_outweighs_proximity() -> None:
    related = related_services(["checkout"], DEPENDS)
    own = _release("checkout", 10, "v42", id=1)
    dependency = _release("payments-api", 5, "p7", id=2)
    ranked = rank_suspects([own, dependency], related, OPENED, verdicts={2: "fail", 1: "pass"})
    assert [s.release.version for s in ranked] == ["p7", "v42"]  # 1.52 vs 0.36
    assert ranked[0].reason.endswith("judged fail")


CONFIG = """
catalog:
  services:
    checkout: {team: payments, depends_on: [payments-api]}
    payments-api: {team: payments}
    search: {team: discovery}
routes:
  - name: all
    group_by: [alertname, service]
"""


def _line(line_id: str, minute: int, source: str, body: object) -> bytes:
    at = (OPENED + timedelta(minutes=minute)).isoformat().replace("+00:00", "Z")
    return orjson.dumps({"id": line_id, "source": source, "received_at": at, "body": body})


def _release_line(line_id: str, minute: int, service: str, version: str) -> bytes:
    at = (OPENED + timedelta(minutes=minute)).isoformat().replace("+00:00", "Z")
    body = {"service": service, "environment": "prod", "version": version, "started_at": at}
    return _line(line_id, minute, "release", body)


def _alert_line(line_id: str, minute: int) -> bytes:
    at = (OPENED + timedelta(minutes=minute)).isoformat().replace("+00:00", "Z")
    alert = {
        "status": "firing",
        "labels": {"alertname": "Errors", "service": "checkout", "environment": "prod"},
        "annotations": {},
        "startsAt": at,
        "endsAt": "0001-01-01T00:00:00Z",
    }
    return _line(line_id, minute, "alertmanager", {"version": "4", "alerts": [alert]})


def test_replay_attaches_suspects_to_tickets_the_same_at_any_batch_size() -> None:
    config = parse_config_text(CONFIG)
    lines = [
        _release_line("R1", -25, "checkout", "v42"),  # 0.435 against 0.508
        _release_line("R2", -5, "payments-api", "p7"),
        _release_line("R3", -1, "search", "decoy"),
        _alert_line("A1", 0),
    ]
    outputs = [replay(iter(lines), config, batch_size=b).output for b in (1, 2, 200)]
    assert len({json.dumps(o, sort_keys=True) for o in outputs}) == 1
    [ticket] = outputs[0]["tickets"]
    assert ticket["suspect_releases"] == [
        {
            "service": "payments-api",
            "environment": "prod",
            "version": "p7",
            "reason": "payments-api p7 started 5 min before the incident opened; "
            "a dependency of checkout (catalog depends_on); not judged",
        },
        {
            "service": "checkout",
            "environment": "prod",
            "version": "v42",
            "reason": "checkout v42 started 25 min before the incident opened; "
            "the incident's own service; not judged",
        },
    ]


def test_the_incident_api_and_page_show_suspects(tmp_path: Path) -> None:
    runtime = Runtime.from_url(
        parse_config_text(CONFIG),
        f"sqlite:///{tmp_path}/s.db",
        start_worker=False,
        clock=FixedClock(OPENED),
    )
    with TestClient(create_app(runtime), base_url="http://localhost") as client:
        release = {
            "service": "checkout",
            "environment": "prod",
            "version": "v42",
            "started_at": "2026-11-20T09:18:00Z",
        }
        assert client.post("/api/v1/releases", json=release).status_code == 201
        body = orjson.loads(_alert_line("A1", 0))["body"]
        assert client.post("/api/v1/ingest/alertmanager", json=body).status_code == 202
        runtime.worker.drain()
        [incident] = client.get("/api/v1/incidents").json()["items"]
        detail = client.get(f"/api/v1/incidents/{incident['id']}").json()
        [suspect] = detail["suspect_releases"]
        assert (suspect["service"], suspect["version"]) == ("checkout", "v42")
        assert math.isclose(suspect["score"], round(math.exp(-12 / 30), 4))
        page = client.get(f"/incidents/{incident['id']}").text
        section = page.split("<h2>Suspect releases</h2>")[1].split("</section>")[0]
        assert "checkout v42 started 12 min before the incident opened" in section


def _bundled_alert(line_id: str, env_label: str) -> Delivery:
    body = orjson.loads(_alert_line(line_id, 0))["body"]
    labels = body["alerts"][0]["labels"]
    labels[env_label] = labels.pop("environment")
    return Delivery(line_id, "alertmanager", OPENED, orjson.dumps(body))


@pytest.mark.parametrize("env_label", ["environment", "env"])
def test_with_the_bundled_routes_suspects_are_searched_in_the_alerts_environment(
    engine: Engine, env_label: str
) -> None:
    """The bundled routes group by alertname and service only: the environment
    still comes from the alerts (`environment`, else `env`), also when the
    incident's group labels lack it, never "default"."""
    config = parse_config_text(bundled_config_path().read_text())
    with engine.begin() as conn:
        save_release(conn, _release("checkout", 12, "v42"), OPENED)
        save_release(conn, Release("checkout", "default", "d1", OPENED), OPENED)
    rnd = Round(engine, config, build_pipeline(config), Dispatcher())
    with engine.begin() as conn:
        rnd.process(conn, [_bundled_alert("A1", env_label)], OPENED)
    for group_labels in (None, {"alertname": "Errors", "service": "checkout"}):
        with engine.begin() as conn:
            if group_labels is not None:  # an incident whose group labels lack it
                conn.execute(update(incidents).values(group_labels=group_labels))
            row = conn.execute(select(incidents)).one()
            assert row.group_labels.get("environment") == ("prod" if group_labels is None else None)
            suspects = suspect_releases(conn, config, row)
        assert [(s.release.environment, s.release.version) for s in suspects] == [("prod", "v42")]
