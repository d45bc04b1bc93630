"""Signing in to the UI with a token: session cookie, CSRF-protected forms,
actions attributed to the token's owner."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from autoticket.api.app import create_app
from autoticket.config import load_config
from autoticket.service.runtime import Runtime
from autoticket.store.tokens import list_tokens, revoke_token
from conftest import am_alert, am_payload, token_headers

ORIGIN = {"origin": "http://localhost"}


@dataclass
class Site:
    client: TestClient
    runtime: Runtime
    api: dict[str, str]  # an admin's bearer header, for the JSON API
    incident_id: int


@pytest.fixture
def site(engine: Engine) -> Iterator[Site]:
    runtime = Runtime(load_config(None), engine, start_worker=False)
    with TestClient(create_app(runtime), base_url="http://localhost") as client:
        r = client.post("/api/v1/ingest/alertmanager", json=am_payload(am_alert()))
        assert r.status_code == 202, r.text
        runtime.worker.drain()
        api = token_headers(engine, "ops-admin", "admin")
        [incident] = client.get("/api/v1/incidents", headers=api).json()["items"]
        yield Site(client, runtime, api, int(incident["id"]))


def _sign_in(site: Site, name: str, role: str) -> str:
    secret = token_headers(site.runtime.engine, name, role)["authorization"][7:]
    r = site.client.post(
        "/login",
        data={"token": secret, "next": f"/incidents/{site.incident_id}"},
        headers=ORIGIN,
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"/incidents/{site.incident_id}"
    return r.headers["set-cookie"]


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
    assert match, "the page has no CSRF field"
    return match.group(1)


def test_pages_need_a_session_once_tokens_exist(site: Site) -> None:
    r = site.client.get(f"/incidents/{site.incident_id}", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == f"/login?next=/incidents/{site.incident_id}"
    page = site.client.get("/login").text
    assert 'type="password" name="token"' in page


def test_a_wrong_token_does_not_sign_in(site: Site) -> None:
    r = site.client.post("/login", data={"token": "at_wrong"}, headers=ORIGIN)
    assert r.status_code == 401
    assert "Unknown or revoked token" in r.text
    assert "set-cookie" not in r.headers


def test_sign_in_sets_a_strict_http_only_cookie_and_acks_as_the_owner(site: Site) -> None:
    cookie = _sign_in(site, "alice", "responder").lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert "secure" not in cookie  # plain http here; https sets Secure
    page = site.client.get(f"/incidents/{site.incident_id}").text
    assert "alice (responder)" in page
    r = site.client.post(
        f"/incidents/{site.incident_id}/ack",
        data={"csrf": _csrf(page), "by": "mallory"},
        headers=ORIGIN,
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    detail = site.client.get(f"/api/v1/incidents/{site.incident_id}", headers=site.api).json()
    assert detail["status"] == "acknowledged"
    [ack] = [t for t in detail["timeline"] if t["kind"] == "acknowledged"]
    assert ack["message"] == "acknowledged by alice"


@pytest.mark.parametrize(
    ("headers", "form"),
    [
        ({}, "good"),  # no Origin on a cookie-authenticated post
        ({"origin": "https://evil.example"}, "good"),
        (ORIGIN, None),  # no CSRF token
        (ORIGIN, "0" * 64),  # a wrong one
    ],
)
def test_a_signed_in_post_needs_origin_and_csrf(
    site: Site, headers: dict[str, str], form: str | None
) -> None:
    _sign_in(site, "alice", "responder")
    page = site.client.get(f"/incidents/{site.incident_id}").text
    data = {} if form is None else {"csrf": _csrf(page) if form == "good" else form}
    r = site.client.post(f"/incidents/{site.incident_id}/resolve", data=data, headers=headers)
    assert r.status_code == 403
    detail = site.client.get(f"/api/v1/incidents/{site.incident_id}", headers=site.api).json()
    assert detail["status"] == "open"


def test_a_viewer_sees_no_buttons_and_cannot_act(site: Site) -> None:
    _sign_in(site, "victor", "viewer")
    page = site.client.get(f"/incidents/{site.incident_id}").text
    assert "Acknowledge</button>" not in page
    r = site.client.post(
        f"/incidents/{site.incident_id}/ack", data={"csrf": _csrf(page)}, headers=ORIGIN
    )
    assert r.status_code == 403
    assert "victor is a viewer" in r.text


def test_revoking_a_token_ends_its_session_and_sign_out_clears_it(site: Site) -> None:
    _sign_in(site, "alice", "responder")
    assert site.client.get("/", follow_redirects=False).status_code == 200
    engine = site.runtime.engine
    with engine.begin() as conn:
        [alice] = [t for t in list_tokens(conn) if t.name == "alice"]
        assert revoke_token(conn, alice.id, datetime.now(UTC))
    assert site.client.get("/", follow_redirects=False).status_code == 303
    _sign_in(site, "bob", "responder")
    page = site.client.get("/").text
    r = site.client.post("/logout", data={"csrf": _csrf(page)}, headers=ORIGIN)
    assert r.status_code == 200 and "Sign in" in r.text
    assert site.client.get("/", follow_redirects=False).status_code == 303


def test_cross_site_sign_in_is_refused(site: Site) -> None:
    secret = token_headers(site.runtime.engine, "eve", "admin")["authorization"][7:]
    r = site.client.post(
        "/login", data={"token": secret}, headers={"origin": "https://evil.example"}
    )
    assert r.status_code == 403
    assert "set-cookie" not in r.headers
