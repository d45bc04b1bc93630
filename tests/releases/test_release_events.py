"""Release events: parsing with field-named errors, the store's merge, the API and replay."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from autoticket.api.app import create_app
from autoticket.clock import FixedClock
from autoticket.config import Config, load_config
from autoticket.errors import PayloadError
from autoticket.releases.events import parse_release
from autoticket.replay import replay
from autoticket.replay.check import check_stream
from autoticket.service.runtime import Runtime
from autoticket.store.releases import list_releases, save_release

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "service": "checkout",
        "environment": "prod",
        "version": "v42",
        "started_at": "2026-11-20T09:00:00Z",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def test_a_full_release_parses() -> None:
    release = parse_release(
        _body(
            finished_at="2026-11-20T10:10:00+01:00",
            rollout_percent=25,
            commit="0f3c2a1",
            deployer="ci",
            flags={"new_cart": "on"},
        )
    )
    assert (release.service, release.environment, release.version) == ("checkout", "prod", "v42")
    assert release.started_at == T0
    assert release.finished_at == T0 + timedelta(minutes=10)
    assert release.rollout_percent == 25.0
    assert (release.commit, release.deployer, release.flags) == (
        "0f3c2a1",
        "ci",
        {"new_cart": "on"},
    )


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ([], "body", "expected a JSON object, got array"),
        (_body(service=""), "service", "is required (a non-empty string)"),
        (
            {"version": "v1", "environment": "p", "started_at": "2026-11-20T09:00:00Z"},
            "service",
            "is required",
        ),
        (_body(version=7), "version", "expected a string, got number"),
        (_body(started_at="yesterday"), "started_at", "invalid RFC 3339 timestamp"),
        (_body(finished_at="2026-11-20T08:59:59Z"), "finished_at", "is before started_at"),
        (_body(rollout_percent=150), "rollout_percent", "must be between 0 and 100, got 150"),
        (_body(rollout_percent="25"), "rollout_percent", "expected a number, got string"),
        (_body(rollout_percent=True), "rollout_percent", "expected a number, got bool"),
        (_body(flags={"a": 1}), "flags.a", "expected a string, got number"),
        (_body(service="s" * 129), "service", "at most 128 characters, got 129"),
        (_body(sevrice="x"), "sevrice", "did you mean 'sevrice' -> 'service'?"),
    ],
)
def test_bad_release_names_the_field(body: Any, field: str, reason: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_release(body)
    assert caught.value.field == field
    assert reason in caught.value.reason


def test_a_later_event_of_the_same_release_updates_it(engine: Engine) -> None:
    start = parse_release(_body(commit="0f3c2a1", flags={"a": "1"}, rollout_percent=10))
    finish = parse_release(
        _body(
            started_at="2026-11-20T09:01:00Z",  # a late copy's start: the earliest is kept
            finished_at="2026-11-20T09:30:00Z",
            rollout_percent=100,
            flags={"b": "2"},
        )
    )
    other = parse_release(_body(version="v43", started_at="2026-11-20T10:00:00Z"))
    with engine.begin() as conn:
        first_id, created = save_release(conn, start, T0)
        assert created
        assert save_release(conn, finish, T0 + timedelta(minutes=30)) == (first_id, False)
        assert save_release(conn, other, T0 + timedelta(hours=1))[1]
    with engine.connect() as conn:
        rows, total = list_releases(conn, "checkout", "prod")
        assert total == 2
        assert [r.version for r in rows] == ["v43", "v42"]  # newest first
        merged = rows[1]
        assert merged.started_at == T0
        assert merged.finished_at == T0 + timedelta(minutes=30)
        assert merged.rollout_percent == 100.0
        assert merged.commit == "0f3c2a1"  # kept: the finish did not carry it
        assert merged.flags == {"a": "1", "b": "2"}
        assert merged.updated_at == T0 + timedelta(minutes=30)
        older, _ = list_releases(conn, "checkout", "prod", before=T0 + timedelta(hours=1))
        assert [r.version for r in older] == ["v42"]
        assert list_releases(conn, "checkout", "staging") == ([], 0)


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.delenv("AUTOTICKET_INGEST_TOKEN", raising=False)
    runtime = Runtime.from_url(
        load_config(None), f"sqlite:///{tmp_path}/r.db", start_worker=False, clock=FixedClock(T0)
    )
    with TestClient(create_app(runtime), base_url="http://localhost") as test_client:
        yield test_client


def test_the_api_records_updates_and_lists_releases(client: TestClient) -> None:
    created = client.post("/api/v1/releases", json=_body(rollout_percent=10))
    assert created.status_code == 201, created.text
    assert created.json()["created"] is True
    release_id = created.json()["id"]
    again = client.post("/api/v1/releases", json=_body(rollout_percent=50))
    assert again.status_code == 200
    assert (again.json()["id"], again.json()["rollout_percent"]) == (release_id, 50.0)
    client.post("/api/v1/releases", json=_body(service="search", version="v7"))

    timeline = client.get("/api/v1/releases", params={"service": "checkout"}).json()
    assert timeline["total"] == 1
    assert [(r["id"], r["version"]) for r in timeline["items"]] == [(release_id, "v42")]
    assert client.get("/api/v1/releases").json()["total"] == 2
    assert client.get(f"/api/v1/releases/{release_id}").json()["service"] == "checkout"
    missing = client.get("/api/v1/releases/999")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_the_api_refuses_bad_releases_with_the_field(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = client.post("/api/v1/releases", json=_body(rollout_percent=-1))
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "rollout_percent"
    form = client.post(
        "/api/v1/releases", content=json.dumps(_body()), headers={"content-type": "text/plain"}
    )
    assert form.status_code == 415  # a cross-site form cannot send JSON
    broken = client.post(
        "/api/v1/releases", content=b"{", headers={"content-type": "application/json"}
    )
    assert (broken.status_code, broken.json()["error"]["code"]) == (400, "malformed_json")
    monkeypatch.setenv("AUTOTICKET_INGEST_TOKEN", "s3cret-token")
    assert client.post("/api/v1/releases", json=_body()).status_code == 401
    signed = client.post(
        "/api/v1/releases", json=_body(), headers={"authorization": "Bearer s3cret-token"}
    )
    assert signed.status_code == 201
    assert client.get("/api/v1/releases").json()["total"] == 1  # only the signed one


def _line(line_id: str, at: str, body: object, source: str) -> bytes:
    record = {"id": line_id, "source": source, "received_at": at, "body": body}
    return orjson.dumps(record)


def _alert_line(line_id: str, at: str) -> bytes:
    alert = {
        "status": "firing",
        "labels": {"alertname": "HighErrorRate", "service": "checkout", "severity": "critical"},
        "annotations": {},
        "startsAt": at,
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": "a1",
    }
    payload = {"version": "4", "status": "firing", "alerts": [alert]}
    return _line(line_id, at, payload, "alertmanager")


def test_replay_writes_every_release_with_its_first_line(config: Config) -> None:
    lines = [
        _line("R1", "2026-11-20T09:00:00Z", _body(), "release"),
        _alert_line("A1", "2026-11-20T09:05:00Z"),
        _line("R2", "2026-11-20T09:20:00Z", _body(finished_at="2026-11-20T09:20:00Z"), "release"),
        _line("R3", "2026-11-20T09:21:00Z", _body(rollout_percent=500), "release"),
        _line("M1", "2026-11-20T09:22:00Z", {"samples": []}, "metrics"),
    ]
    outputs = [replay(iter(lines), config, batch_size=b).output for b in (1, 2, 200)]
    assert len({json.dumps(o, sort_keys=True) for o in outputs}) == 1
    out = outputs[0]
    assert out["releases"] == [
        {
            "line_id": "R1",
            "service": "checkout",
            "environment": "prod",
            "version": "v42",
            "started_at": "2026-11-20T09:00:00Z",
            "finished_at": "2026-11-20T09:20:00Z",
            "verdict": "no_data",
            "score": None,
            "action": "continue",
            "action_reason": "no metric had data: nothing to judge",
            "decided_at": None,
            "decided_by": "no_data",
            "reasons": ["no samples of the release's service and environment"],
            "metrics": [],
        }
    ]
    assert {"line_id": "R3", "error": "rollout_percent: must be between 0 and 100, got 500"} in out[
        "errors"
    ]
    assert out["stats"]["skipped_lines"] == {}
    assert len(out["tickets"]) == 1

    checked = check_stream(iter(lines))
    assert checked["errors"] == [
        {"line_id": "R3", "error": "rollout_percent: must be between 0 and 100, got 500"}
    ]
    assert checked["lines_by_source"] == {"release": 3, "alertmanager": 1, "metrics": 1}


def test_a_refused_release_says_which_header_and_why(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    form = client.post(
        "/api/v1/releases", content=json.dumps(_body()), headers={"content-type": "text/plain"}
    )
    assert form.json()["error"] == {
        "status": 415,
        "code": "unsupported_media_type",
        "message": "content type 'text/plain' is not JSON; send application/json",
        "field": "content-type",
    }
    bare = client.post(
        "/api/v1/releases", content=json.dumps(_body()), headers={"content-type": ""}
    )
    assert bare.status_code == 415
    assert bare.json()["error"]["message"].startswith("content type '(none)' is not JSON")
    monkeypatch.setenv("AUTOTICKET_INGEST_TOKEN", "s3cret-token")
    for headers in ({}, {"authorization": "s3cret-token"}, {"authorization": "Bearer wrong"}):
        refused = client.post("/api/v1/releases", json=_body(), headers=headers)
        assert refused.status_code == 401
        assert refused.json()["error"] == {
            "status": 401,
            "code": "unauthorized",
            "message": "missing or wrong ingest token (Authorization: Bearer <token>)",
            "field": "authorization",
        }
    any_case = client.post(
        "/api/v1/releases", json=_body(), headers={"Authorization": "bearer s3cret-token"}
    )
    assert any_case.status_code == 201
