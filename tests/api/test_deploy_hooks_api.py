"""The deploy webhooks over HTTP: signature, token, idempotency, dead letters, replay."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from autoticket.api.app import create_app
from autoticket.api.deploy_hooks import signature_of
from autoticket.clock import FixedClock
from autoticket.config import Config, load_config
from autoticket.replay import replay
from autoticket.replay.check import check_stream
from autoticket.service.runtime import Runtime
from autoticket.store.tables import inbox
from conftest import token_headers
from hook_payloads import SHA, argocd, github_ping, github_status

T0 = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
GITHUB = "/api/v1/ingest/github-deployment"
ARGOCD = "/api/v1/ingest/argocd"
SECRET = "It's a Secret to Everybody"


def _config(secret_env: str | None = None) -> Config:
    config = load_config(None)
    sources = config.releases.sources.model_copy(
        update={
            "github_deployment": config.releases.sources.github_deployment.model_copy(
                update={"secret_env": secret_env, "environments": {"production": "prod"}}
            )
        }
    )
    releases = config.releases.model_copy(update={"sources": sources})
    return config.model_copy(update={"releases": releases})


def _client(tmp_path: Path, config: Config) -> Iterator[tuple[TestClient, Runtime]]:
    runtime = Runtime.from_url(
        config, f"sqlite:///{tmp_path}/h.db", start_worker=False, clock=FixedClock(T0)
    )
    with TestClient(create_app(runtime), base_url="http://localhost") as client:
        yield client, runtime


@pytest.fixture
def client(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, Runtime]]:
    """On SQLite and PostgreSQL."""
    monkeypatch.delenv("AUTOTICKET_INGEST_TOKEN", raising=False)
    runtime = Runtime(_config(), engine, start_worker=False, clock=FixedClock(T0))
    with TestClient(create_app(runtime), base_url="http://localhost") as test_client:
        yield test_client, runtime


@pytest.fixture
def signed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, Runtime]]:
    monkeypatch.setenv("AUTOTICKET_INGEST_TOKEN", "ingest-token")
    monkeypatch.setenv("TEST_GITHUB_SECRET", SECRET)
    yield from _client(tmp_path, _config("TEST_GITHUB_SECRET"))


def _post_github(
    client: TestClient, body: Any, event: str = "deployment_status", secret: str | None = None
) -> Any:
    raw = orjson.dumps(body)
    headers = {"content-type": "application/json", "x-github-event": event}
    if secret is not None:
        headers["x-hub-signature-256"] = signature_of(secret, raw)
    return client.post(GITHUB, content=raw, headers=headers)


def test_github_statuses_of_one_deployment_update_one_release(
    client: tuple[TestClient, Runtime],
) -> None:
    http, runtime = client
    started = _post_github(http, github_status("in_progress", at="2026-11-20T09:01:00Z"))
    assert started.status_code == 201, started.text
    release = started.json()
    assert release["created"] is True
    assert (release["service"], release["environment"], release["version"]) == (
        "checkout",
        "prod",
        "v1.4.2",
    )
    assert release["finished_at"] is None and release["source"] == "github-deployment"
    failed = _post_github(http, github_status("failure"))
    again = _post_github(http, github_status("failure"))  # GitHub's redelivery
    for response in (failed, again):
        assert response.status_code == 200, response.text
        assert response.json()["id"] == release["id"]
    timeline = http.get("/api/v1/releases", params={"service": "checkout"}).json()
    assert timeline["total"] == 1
    [stored] = timeline["items"]
    assert stored["flags"] == {"deploy_state": "failure"}
    assert stored["finished_at"] == "2026-11-20T09:12:00Z"
    assert (stored["commit"], stored["deployer"]) == (SHA, "octocat")
    with runtime.engine.connect() as conn:  # every delivery kept as received, processed
        kept = list(conn.execute(select(inbox.c.source, inbox.c.status, inbox.c.headers)))
    assert [(k.source, k.status) for k in kept] == [("github-deployment", "done")] * 3
    assert kept[0].headers["x-github-event"] == "deployment_status"


def test_a_github_ping_is_answered_and_ignored(client: tuple[TestClient, Runtime]) -> None:
    http, _ = client
    response = _post_github(http, github_ping(), event="ping")
    assert response.status_code == 200
    assert response.json()["ignored"] == "ping"
    assert http.get("/api/v1/releases").json()["total"] == 0


def test_the_github_signature_authenticates_when_a_secret_is_set(
    signed: tuple[TestClient, Runtime],
) -> None:
    http, _ = signed
    body = github_status()
    good = _post_github(http, body, secret=SECRET)
    assert good.status_code == 201, good.text  # no bearer token: GitHub cannot send one
    for secret in (None, "wrong"):
        refused = _post_github(http, body, secret=secret)
        assert refused.status_code == 401
        assert refused.json()["error"]["field"] == "x-hub-signature-256"
    raw = orjson.dumps(body)
    tampered = http.post(
        GITHUB,
        content=raw.replace(b"production", b"productiom"),
        headers={
            "content-type": "application/json",
            "x-github-event": "deployment_status",
            "x-hub-signature-256": signature_of(SECRET, raw),
        },
    )
    assert tampered.status_code == 401
    assert http.get("/api/v1/dead-letters").json()["items"] == []  # unauthenticated: not kept
    # Argo CD has no signature: it sends the ingest token in a header.
    assert http.post(ARGOCD, json=argocd()).status_code == 401
    authed = http.post(ARGOCD, json=argocd(), headers={"authorization": "Bearer ingest-token"})
    assert authed.status_code == 201, authed.text


def test_a_configured_but_unset_secret_is_refused_not_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AUTOTICKET_INGEST_TOKEN", raising=False)
    monkeypatch.delenv("TEST_GITHUB_SECRET", raising=False)
    for http, _ in _client(tmp_path, _config("TEST_GITHUB_SECRET")):
        response = _post_github(http, github_status())
        assert response.status_code == 503
        assert "TEST_GITHUB_SECRET" in response.json()["error"]["message"]


def test_bad_deliveries_are_dead_letters_named_by_field(
    client: tuple[TestClient, Runtime],
) -> None:
    http, runtime = client
    bad = github_status()
    bad["deployment_status"]["state"] = "exploded"
    refused = _post_github(http, bad)
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["field"] == "deployment_status.state"
    assert "exploded" in error["message"]
    not_json = http.post(ARGOCD, content=b"app=x", headers={"content-type": "text/plain"})
    assert not_json.status_code == 415
    broken = http.post(ARGOCD, content=b"{", headers={"content-type": "application/json"})
    assert (broken.status_code, broken.json()["error"]["code"]) == (400, "malformed_json")
    letters = http.get("/api/v1/dead-letters").json()["items"]
    assert [(d["source"], d["field"]) for d in letters] == [
        ("argocd", "body"),
        ("argocd", "content-type"),
        ("github-deployment", "deployment_status.state"),
    ]
    assert letters[2]["headers"]["x-github-event"] == "deployment_status"
    metrics = http.get("/metrics").text
    assert 'autoticket_dead_letters_total{source="argocd",stage="ingest"} 2.0' in metrics
    assert 'autoticket_deliveries_total{code="422",source="github-deployment"} 1.0' in metrics
    admin = token_headers(runtime.engine)
    still = http.post(f"/api/v1/dead-letters/{letters[2]['id']}/replay", headers=admin)
    assert still.status_code == 422  # still failing: the payload itself is wrong
    assert still.json()["error"]["field"] == "deployment_status.state"


def test_a_kept_github_delivery_replays_into_its_release(
    client: tuple[TestClient, Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    http, runtime = client
    # Refused for a reason a config change fixes: a repository name too long for a service.
    long_repo = github_status()
    long_repo["repository"]["full_name"] = "acme/" + "c" * 130
    refused = _post_github(http, long_repo)
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "repository.full_name"
    dead_id = refused.json()["error"]["dead_letter_id"]
    fixed = _config()
    sources = fixed.releases.sources.model_copy(
        update={
            "github_deployment": fixed.releases.sources.github_deployment.model_copy(
                update={"services": {"acme/" + "c" * 130: "checkout"}}
            )
        }
    )
    fixed = fixed.model_copy(
        update={"releases": fixed.releases.model_copy(update={"sources": sources})}
    )
    monkeypatch.setattr(http.app.state.runtime, "config", fixed)  # type: ignore[attr-defined]
    admin = token_headers(runtime.engine)
    replayed = http.post(f"/api/v1/dead-letters/{dead_id}/replay", headers=admin)
    assert replayed.status_code == 200, replayed.text
    assert replayed.json()["accepted"] == 1
    release_id = replayed.json()["release_id"]
    release = http.get(f"/api/v1/releases/{release_id}", headers=admin).json()
    assert (release["service"], release["environment"]) == ("checkout", "prod")


def _line(line_id: str, at: str, source: str, body: Any, headers: Any = None) -> bytes:
    record = {"id": line_id, "source": source, "received_at": at, "body": body}
    if headers is not None:
        record["headers"] = headers
    return orjson.dumps(record)


def test_replay_takes_hook_lines_through_the_same_parser() -> None:
    config = _config()
    lines = [
        _line("G1", "2026-11-20T09:00:30Z", "github-deployment", github_status("in_progress"),
              {"X-GitHub-Event": "deployment_status"}),
        _line("G2", "2026-11-20T09:12:00Z", "github-deployment", github_status("success")),
        _line("G3", "2026-11-20T09:12:01Z", "github-deployment", github_ping()),
        _line("A1", "2026-11-20T09:13:00Z", "argocd", argocd("Succeeded")),
        _line("A2", "2026-11-20T09:14:00Z", "argocd", argocd(phase="Nope")),
    ]  # fmt: skip
    outputs = [replay(iter(lines), config, batch_size=b).output for b in (1, 3, 200)]
    assert len({json.dumps(o, sort_keys=True) for o in outputs}) == 1
    out = outputs[0]
    assert [(r["line_id"], r["service"], r["environment"], r["version"], r["finished_at"])
            for r in out["releases"]] == [
        ("G1", "checkout", "prod", "v1.4.2", "2026-11-20T09:12:00Z"),
        ("A1", "checkout-prod", "checkout", SHA[:12], "2026-11-20T09:03:30Z"),
    ]  # fmt: skip
    assert out["errors"] == [
        {"line_id": "A2", "error": "phase: expected one of Running, Terminating, Succeeded, "
         "Failed, Error, got 'Nope'"}
    ]  # fmt: skip
    checked = check_stream(iter(lines), config)
    assert checked["errors"] == out["errors"]
    assert checked["lines_by_source"] == {"github-deployment": 3, "argocd": 2}


@pytest.fixture
def sqlite_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TestClient, Runtime]]:
    monkeypatch.delenv("AUTOTICKET_INGEST_TOKEN", raising=False)
    yield from _client(tmp_path, _config())


_REAL = [orjson.dumps(github_status()), orjson.dumps(argocd())]
_bodies = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=16),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=10,
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from([GITHUB, ARGOCD]),
    body=st.binary(max_size=200)
    | _bodies.map(orjson.dumps)
    | st.sampled_from(_REAL).flatmap(
        lambda b: st.sampled_from([b, b.replace(b"2026", b"20x6"), b.replace(b'"', b"'", 1)])
    ),
    event=st.sampled_from(["deployment_status", "deployment", "ping", "push"]),
)
def test_whatever_arrives_the_answer_is_a_release_or_a_4xx_naming_the_field(
    sqlite_client: tuple[TestClient, Runtime], path: str, body: bytes, event: str
) -> None:
    http, _ = sqlite_client
    response = http.post(
        path, content=body, headers={"content-type": "application/json", "x-github-event": event}
    )
    assert response.status_code in (200, 201, 400, 422), response.text
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["field"] and error["message"]
        assert error["dead_letter_id"] is not None  # kept for replay
