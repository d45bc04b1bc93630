"""Issue 19: what a page of another site can make a browser send is refused.

A cross-site form can post urlencoded, multipart or text/plain bodies (or
none) and cannot set Authorization; a DNS-rebound name reaches a loopback
server with a foreign Host header.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from autoticket.api.app import create_app
from autoticket.config import load_config, parse_config_text
from autoticket.service.runtime import Runtime
from conftest import am_alert, am_payload, token_headers

FORM_TYPES = [
    None,
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "text/plain",
]
SECURITY_HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


@pytest.fixture
def runtime(engine: Engine) -> Runtime:
    return Runtime(load_config(None), engine, start_worker=False)


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime), base_url="http://localhost") as c:
        yield c


def _incident(client: TestClient, runtime: Runtime) -> int:
    r = client.post("/api/v1/ingest/alertmanager", json=am_payload(am_alert()))
    assert r.status_code == 202, r.text
    runtime.worker.drain()
    [incident] = client.get("/api/v1/incidents").json()["items"]
    return int(incident["id"])


@pytest.mark.parametrize("content_type", FORM_TYPES)
def test_a_cross_site_form_post_resolves_nothing(
    client: TestClient, runtime: Runtime, content_type: str | None
) -> None:
    incident_id = _incident(client, runtime)
    headers = {"origin": "https://evil.example"}
    if content_type:
        headers["content-type"] = content_type
    r = client.post(f"/api/v1/incidents/{incident_id}/resolve", content=b"", headers=headers)
    assert r.status_code == 415, r.text
    assert r.json()["error"]["field"] == "content-type"
    assert client.get(f"/api/v1/incidents/{incident_id}").json()["status"] == "open"


def test_a_refused_text_plain_ingest_cannot_be_replayed_cross_site(
    client: TestClient, runtime: Runtime, engine: Engine
) -> None:
    body = b'{"title": "CPU on fire", "service": "search", "severity": "critical"}'
    r = client.post("/api/v1/ingest/generic", content=body, headers={"content-type": "text/plain"})
    assert r.status_code == 415
    dead_id = r.json()["error"]["dead_letter_id"]
    for content_type in ("text/plain", "application/json"):  # the latter: a same-site script
        r = client.post(
            f"/api/v1/dead-letters/{dead_id}/replay",
            content=b"",
            headers={"content-type": content_type, "origin": "https://evil.example"},
        )
        assert r.status_code == 401, r.text
        assert "admin" in r.json()["error"]["message"]
    runtime.worker.drain()
    assert client.get("/api/v1/incidents").json()["total"] == 0
    r = client.post(f"/api/v1/dead-letters/{dead_id}/replay", headers=token_headers(engine))
    assert r.status_code == 200, r.text
    assert r.json()["replayed_by"] == "admin"


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/"), ("GET", "/api/v1/incidents"), ("POST", "/api/v1/ingest/alertmanager")],
)
def test_a_rebound_host_name_is_refused(client: TestClient, method: str, path: str) -> None:
    r = client.request(
        method, path, json=am_payload(am_alert()), headers={"host": "attacker.example:8080"}
    )
    assert r.status_code == 400
    assert r.json()["error"] == {
        "status": 400,
        "code": "host_not_allowed",
        "message": "host 'attacker.example:8080' is not in server.allowed_hosts",
        "field": "host",
    }
    assert r.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize("host", ["localhost:8080", "127.0.0.1", "[::1]:8080", "LOCALHOST"])
def test_loopback_names_are_allowed(client: TestClient, host: str) -> None:
    assert client.get("/healthz", headers={"host": host}).status_code == 200


def test_configured_and_bound_hosts_are_allowed(engine: Engine) -> None:
    config = parse_config_text("server: {allowed_hosts: [tickets.example.com]}\n")
    runtime = Runtime(config, engine, start_worker=False)
    app = create_app(runtime, extra_hosts=["10.0.0.5"])
    with TestClient(app, base_url="http://tickets.example.com") as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/healthz", headers={"host": "10.0.0.5:8080"}).status_code == 200
        assert client.get("/healthz", headers={"host": "localhost"}).status_code == 400


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/api/v1/incidents"),
        ("GET", "/nowhere"),
        ("POST", "/api/v1/ingest/alertmanager"),
        ("GET", "/static/style.css"),
    ],
)
def test_every_response_has_the_security_headers(
    client: TestClient, method: str, path: str
) -> None:
    r = client.request(method, path, json=am_payload(am_alert()))
    for name, value in SECURITY_HEADERS.items():
        assert r.headers[name] == value, name
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src" not in csp and "unsafe-inline" not in csp
