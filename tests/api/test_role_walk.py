"""Walk every operation of /openapi.json with each role and check what it may do.

A new endpoint fails this test until it is given a rule here: nothing is
reachable by accident.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from autoticket.api.app import create_app
from autoticket.config import load_config
from autoticket.model import DeadLetter, Delivery
from autoticket.service.runtime import Runtime
from autoticket.store.dead_letters import add_dead_letters
from autoticket.store.tokens import ROLES
from conftest import am_alert, am_payload, token_headers

# The least role each operation needs. "public": no token (probes, the schema);
# "ingest": the ingest credential, never a person's token; "sink-secret": the
# sink's own webhook secret (tests/api/test_sinks_api.py), never a person's token.
NEEDS = {
    ("POST", "/api/v1/ingest/{source}"): "ingest",
    ("POST", "/api/v1/ingest/github-deployment"): "ingest",  # or its HMAC signature
    ("POST", "/api/v1/ingest/argocd"): "ingest",
    ("POST", "/api/v1/releases"): "ingest",
    ("POST", "/api/v1/metrics"): "ingest",
    ("POST", "/api/v2/alerts"): "ingest",
    ("GET", "/api/v1/sources"): "viewer",
    ("GET", "/api/v1/releases"): "viewer",
    ("GET", "/api/v1/releases/{release_id}"): "viewer",
    ("GET", "/api/v1/incidents"): "viewer",
    ("GET", "/api/v1/incidents/{incident_id}"): "viewer",
    ("POST", "/api/v1/incidents/{incident_id}/{action}"): "responder",
    ("GET", "/api/v1/tickets"): "viewer",
    ("GET", "/api/v1/tickets/{ticket_id}"): "viewer",
    ("GET", "/api/v1/dead-letters"): "viewer",
    ("GET", "/api/v1/dead-letters/{dead_letter_id}"): "viewer",
    ("POST", "/api/v1/dead-letters/{dead_letter_id}/replay"): "admin",
    ("GET", "/api/v1/sinks"): "viewer",
    ("GET", "/api/v1/sinks/{name}/parked"): "viewer",
    ("POST", "/api/v1/sinks/{name}/parked/{action_id}/retry"): "admin",
    ("POST", "/api/v1/sinks/{name}/webhook"): "sink-secret",
    ("GET", "/api/v1/oncall"): "viewer",
    ("POST", "/api/v1/oncall/refresh"): "responder",
    ("GET", "/api/v1/silences"): "viewer",
    ("POST", "/api/v1/silences"): "responder",
    ("GET", "/api/v1/silences/{silence_id}"): "viewer",
    ("DELETE", "/api/v1/silences/{silence_id}"): "responder",
    ("GET", "/healthz"): "public",
    ("GET", "/readyz"): "public",
    ("GET", "/metrics"): "public",
}
RELEASE = {
    "service": "checkout",
    "environment": "prod",
    "version": "1.2.3",
    "started_at": "2026-11-20T09:00:00Z",
}
SILENCE = {"matchers": ['service="role-walk"'], "comment": "walk", "duration": "1h"}
SAMPLES = {
    "samples": [
        {
            "name": "error_ratio",
            "labels": {"service": "checkout"},
            "t": "2026-11-20T09:00:00Z",
            "v": 0.1,
        }
    ]
}


@pytest.fixture
def walk(engine: Engine) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    runtime = Runtime(load_config(None), engine, start_worker=False)
    with TestClient(create_app(runtime), base_url="http://localhost") as client:
        r = client.post("/api/v1/ingest/alertmanager", json=am_payload(am_alert()))
        assert r.status_code == 202, r.text
        runtime.worker.drain()
        delivery = Delivery("d-1", "generic", datetime.now(UTC), b'{"title": "x"}', {})
        with engine.begin() as conn:
            add_dead_letters(conn, [DeadLetter(delivery, "normalize", "simulated")])
        assert client.post("/api/v1/releases", json=RELEASE).status_code == 201
        assert client.post("/api/v1/silences", json=SILENCE).status_code == 201
        headers = {role: token_headers(engine, f"{role}-user", role) for role in ROLES}
        yield client, headers


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(method, spec path, concrete path) for each operation, every enum value of a path."""
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            concrete = [path]
            for param in operation.get("parameters", []):
                if param["in"] != "path":
                    continue
                schema = param["schema"]
                values = schema.get("enum") or ["1"]
                if param["name"] == "source":
                    values = ["alertmanager"]
                name = "{" + param["name"] + "}"
                concrete = [c.replace(name, str(v)) for c in concrete for v in values]
            for c in concrete:
                yield method.upper(), path, c


def _call(client: TestClient, method: str, path: str, headers: dict[str, str]) -> int:
    body: Any = None
    if path.startswith("/api/v1/ingest/"):
        body = am_payload(am_alert())
    elif path == "/api/v2/alerts":
        body = [{"labels": {"alertname": "RoleWalk"}}]
    elif path == "/api/v1/releases":
        body = RELEASE
    elif path == "/api/v1/metrics":
        body = SAMPLES
    elif path == "/api/v1/silences":
        body = SILENCE
    elif path.endswith("/label"):
        body = {"label": "useful"}
    return client.request(method, path, json=body, headers=headers).status_code


def test_every_operation_has_a_rule_and_each_role_gets_exactly_its_share(
    walk: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    client, headers = walk
    spec = client.get("/openapi.json").json()
    operations = list(_operations(spec))
    assert {(m, p) for m, p, _ in operations} == set(NEEDS)
    checked = 0
    for method, spec_path, path in operations:
        needs = NEEDS[(method, spec_path)]
        for role in (None, *ROLES):
            status = _call(client, method, path, headers[role] if role else {})
            if needs in ("public", "ingest", "sink-secret"):
                allowed = True  # no ingest token is configured here; no sink "1"
            else:
                allowed = role is not None and ROLES.index(role) >= ROLES.index(needs)
            if allowed:
                assert status not in (401, 403), (method, path, role, status)
                assert status < 500, (method, path, role, status)
            else:
                assert status == (401 if role is None else 403), (method, path, role, status)
            checked += 1
    assert checked == len(operations) * (len(ROLES) + 1)


def test_a_revoked_or_unknown_token_is_refused(engine: Engine) -> None:
    from autoticket.store.tokens import list_tokens, revoke_token

    runtime = Runtime(load_config(None), engine, start_worker=False)
    with TestClient(create_app(runtime), base_url="http://localhost") as client:
        headers = token_headers(engine, "carol", "admin")
        assert client.get("/api/v1/incidents", headers=headers).status_code == 200
        with engine.begin() as conn:
            [token] = list_tokens(conn)
            assert revoke_token(conn, token.id, datetime.now(UTC))
        r = client.get("/api/v1/incidents", headers=headers)
        assert r.status_code == 401
        assert r.json()["error"]["field"] == "authorization"
        bogus = {"authorization": "Bearer at_not-a-token"}
        assert client.get("/api/v1/incidents", headers=bogus).status_code == 401
