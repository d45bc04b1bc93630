"""The judge wired to stored samples: replay verdicts, early calls, suspects that regressed."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from fastapi.testclient import TestClient

from autoticket.api.app import create_app
from autoticket.clock import FixedClock
from autoticket.config import parse_config_text
from autoticket.replay import replay
from autoticket.service.runtime import Runtime

START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _line(line_id: str, at: datetime, source: str, body: object) -> bytes:
    return orjson.dumps({"id": line_id, "source": source, "received_at": _iso(at), "body": body})


def _release(line_id: str, service: str, version: str, at: datetime) -> bytes:
    body = {"service": service, "environment": "prod", "version": version, "started_at": _iso(at)}
    return _line(line_id, at, "release", body)


def _samples(service: str, name: str, start: datetime, minutes: range, level: Any) -> bytes:
    """One line with a sample a minute: level(minute) plus a little seeded noise."""
    rng = random.Random(f"{service}{name}{minutes.start}")
    samples = [
        {
            "name": name,
            "labels": {"service": service, "environment": "prod"},
            "t": _iso(start + timedelta(minutes=m)),
            "v": level(m) * (1 + rng.uniform(-0.05, 0.05)),
        }
        for m in minutes
    ]
    last = start + timedelta(minutes=minutes.stop)
    return _line(f"M-{service}-{name}-{minutes.start}", last, "metrics", {"samples": samples})


def _stream(after_level: float) -> list[bytes]:
    def level(m: int) -> float:
        return 0.01 if m < 0 else 0.01 * after_level

    return [
        _samples("checkout", "checkout_error_ratio", START, range(-30, 0), level),
        _release("R1", "checkout", "v42", START),
        _samples("checkout", "checkout_error_ratio", START, range(0, 30), level),
    ]


def test_a_regression_is_failed_early_and_rolled_back() -> None:
    config = parse_config_text("routes: [{name: all}]")
    outputs = [replay(iter(_stream(3.0)), config, batch_size=b).output for b in (1, 200)]
    assert len({json.dumps(o, sort_keys=True) for o in outputs}) == 1
    [release] = outputs[0]["releases"]
    assert (release["verdict"], release["action"], release["decided_by"]) == (
        "fail",
        "rollback",
        "early_fail",
    )
    decided = datetime.fromisoformat(release["decided_at"])
    # Seven samples a side already make the evidence decisive (p < 0.001).
    assert START + timedelta(minutes=5) <= decided <= START + timedelta(minutes=10)
    [metric] = release["metrics"]
    assert metric["name"] == "checkout_error_ratio"
    assert metric["classification"] == "high"


def test_a_harmless_release_passes_after_the_minimum_window() -> None:
    config = parse_config_text("routes: [{name: all}]")
    [release] = replay(iter(_stream(1.0)), config).output["releases"]
    assert (release["verdict"], release["action"]) == ("pass", "continue")
    decided = datetime.fromisoformat(release["decided_at"])
    # A pass needs 10 minutes and 30 samples after the start: one a minute, so 30 min.
    assert decided == START + timedelta(minutes=30)
    assert release["score"] == 100.0


def test_a_release_that_regressed_is_the_first_suspect() -> None:
    config = parse_config_text(
        """
catalog:
  services:
    checkout: {team: payments, depends_on: [payments-api]}
routes: [{name: all, group_by: [alertname, service]}]
"""
    )

    def flat(_: int) -> float:
        return 0.01

    def worse(m: int) -> float:
        return 0.01 if m < 0 else 0.05

    own_start = START + timedelta(minutes=15)  # nearer the incident, and harmless
    alert_at = START + timedelta(minutes=20)
    alert = {
        "status": "firing",
        "labels": {"alertname": "Errors", "service": "checkout", "environment": "prod"},
        "annotations": {},
        "startsAt": _iso(alert_at),
        "endsAt": "0001-01-01T00:00:00Z",
    }
    lines = [
        _samples("payments-api", "payments_error_ratio", START, range(-30, 0), worse),
        _samples("checkout", "checkout_error_ratio", own_start, range(-30, 0), flat),
        _release("R1", "payments-api", "p7", START),
        _release("R2", "checkout", "v42", own_start),
        _samples("payments-api", "payments_error_ratio", START, range(0, 20), worse),
        _samples("checkout", "checkout_error_ratio", own_start, range(0, 5), flat),
        _line("A1", alert_at, "alertmanager", {"version": "4", "alerts": [alert]}),
    ]
    out = replay(iter(lines), config).output
    # The failed release opened a ticket of its own (lifecycle/release_check.py).
    [judged] = [t for t in out["tickets"] if t["title"].startswith("Release regression")]
    assert "payments-api p7" in judged["title"]
    [ticket] = [t for t in out["tickets"] if t is not judged]
    first, second = ticket["suspect_releases"]
    assert (first["service"], first["version"]) == ("payments-api", "p7")
    assert first["reason"].endswith("judged fail")
    assert (second["service"], second["version"]) == ("checkout", "v42")


def test_the_release_api_shows_the_verdict_as_of_now(tmp_path: Path) -> None:
    clock = FixedClock(START + timedelta(minutes=3))
    runtime = Runtime.from_url(
        parse_config_text("routes: [{name: all}]"),
        f"sqlite:///{tmp_path}/v.db",
        start_worker=False,
        clock=clock,
    )
    with TestClient(create_app(runtime), base_url="http://localhost") as client:
        for line in _stream(3.0):
            record = orjson.loads(line)
            path = "/api/v1/releases" if record["source"] == "release" else "/api/v1/metrics"
            assert client.post(path, json=record["body"]).status_code in (201, 202)
        release_id = client.get("/api/v1/releases").json()["items"][0]["id"]
        early = client.get(f"/api/v1/releases/{release_id}").json()
        assert (early["decided_at"], early["decided_by"]) == (None, "pending")
        clock.set(START + timedelta(minutes=30))
        late = client.get(f"/api/v1/releases/{release_id}").json()
        assert (late["verdict"], late["action"], late["decided_by"]) == (
            "fail",
            "rollback",
            "early_fail",
        )
        assert late["metrics"][0]["name"] == "checkout_error_ratio"


def test_the_release_api_shows_the_decision_the_worker_stored(tmp_path: Path) -> None:
    clock = FixedClock(START)
    runtime = Runtime.from_url(
        parse_config_text("routes: [{name: all}]"),
        f"sqlite:///{tmp_path}/w.db",
        start_worker=False,
        clock=clock,
    )
    with TestClient(create_app(runtime), base_url="http://localhost") as client:
        for line in _stream(3.0):
            record = orjson.loads(line)
            path = "/api/v1/releases" if record["source"] == "release" else "/api/v1/metrics"
            assert client.post(path, json=record["body"]).status_code in (201, 202)
        [listed] = client.get("/api/v1/releases").json()["items"]
        assert (listed["verdict"], listed["judged_at"]) == (None, None)  # not checked yet
        runtime.round.run(START + timedelta(minutes=31), lambda _conn: [])
        [listed] = client.get("/api/v1/releases").json()["items"]
        assert (listed["verdict"], listed["action"]) == ("fail", "rollback")
        one = client.get(f"/api/v1/releases/{listed['id']}").json()
        assert one["judged_at"] is not None and one["decided_by"] == "early_fail"
        assert one["metrics"][0]["classification"] == "high"
        # The failed release's ticket, opened by the same round.
        [ticket] = client.get("/api/v1/tickets").json()["items"]
        assert ticket["title"].startswith("Release regression: checkout v42")
