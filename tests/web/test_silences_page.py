"""The silences page: everyone signed in reads it; a responder silences with the form
(checked as the API checks it, attributed to them) and expires with a button, behind
the same Origin and CSRF checks as every form; a viewer gets neither."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from autoticket.api.app import create_app
from autoticket.clock import FixedClock
from autoticket.config import parse_config_text
from autoticket.service.runtime import Runtime
from autoticket.store.silences import get_silence, list_silences
from conftest import token_headers

ORIGIN = {"origin": "http://localhost"}
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
CONFIG = """
routes: [{name: default}]
maintenance:
  - name: db-weekly
    matchers: ['service="db"']
    every: {days: [sun], start: "07:00", duration: 2h}
    comment: vacuum
"""


@dataclass
class Site:
    client: TestClient
    runtime: Runtime


@pytest.fixture
def site(engine: Engine) -> Iterator[Site]:
    runtime = Runtime(parse_config_text(CONFIG), engine, FixedClock(T0), start_worker=False)
    with TestClient(create_app(runtime), base_url="http://localhost") as client:
        yield Site(client, runtime)


def _sign_in(site: Site, name: str, role: str) -> str:
    secret = token_headers(site.runtime.engine, name, role)["authorization"][7:]
    r = site.client.post("/login", data={"token": secret}, headers=ORIGIN, follow_redirects=False)
    assert r.status_code == 303, r.text
    page = site.client.get("/silences")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    return page.text


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
    assert match, "the page has no CSRF field"
    return match.group(1)


def _stored(site: Site) -> list[object]:
    with site.runtime.engine.connect() as conn:
        return list_silences(conn, None, T0, 100, 0)[0]


def test_a_responder_silences_and_expires_from_the_page(site: Site) -> None:
    page = _sign_in(site, "alice", "responder")
    assert "config:db-weekly" in page and "active until" in page  # 2026-03-01 is a Sunday
    form = {
        "csrf": _csrf(page),
        "matchers": 'service="checkout"\n  alertname=~"Disk.*"  \n',
        "duration": "90m",
        "comment": "disk swap",
    }
    r = site.client.post("/silences", data=form, headers=ORIGIN, follow_redirects=False)
    assert r.status_code == 303, r.text
    [row] = _stored(site)
    assert row.matchers == ['service="checkout"', 'alertname=~"Disk.*"']
    assert row.created_by == "alice" and row.comment == "disk swap"
    page = site.client.get("/silences").text
    assert f'id="silence-{row.id}"' in page and "disk swap" in page
    r = site.client.post(
        f"/silences/{row.id}/expire",
        data={"csrf": _csrf(page)},
        headers=ORIGIN,
        follow_redirects=False,
    )
    assert r.status_code == 303
    with site.runtime.engine.connect() as conn:
        assert get_silence(conn, row.id).expired_by == "alice"
    assert "Ended lately" in site.client.get("/silences").text


def test_a_bad_form_says_what_is_wrong_and_keeps_what_was_typed(site: Site) -> None:
    page = _sign_in(site, "alice", "responder")
    form = {"csrf": _csrf(page), "matchers": 'svc=~"(("', "duration": "1h", "comment": "x"}
    r = site.client.post("/silences", data=form, headers=ORIGIN)
    assert r.status_code == 422
    assert "invalid regex" in r.text and "svc=~&#34;((&#34;" in r.text
    assert _stored(site) == []


def test_a_viewer_reads_without_buttons_and_cannot_post(site: Site) -> None:
    page = _sign_in(site, "victor", "viewer")
    assert "Read only: silencing needs a responder token." in page
    assert 'action="/silences"' not in page
    r = site.client.post(
        "/silences",
        data={"csrf": "0" * 64, "matchers": 'a="b"', "duration": "1h", "comment": "x"},
        headers=ORIGIN,
    )
    assert r.status_code == 403 and _stored(site) == []


def test_a_stale_or_cross_site_form_is_refused(site: Site) -> None:
    _sign_in(site, "alice", "responder")
    form = {"csrf": "0" * 64, "matchers": 'a="b"', "duration": "1h", "comment": "x"}
    assert site.client.post("/silences", data=form, headers=ORIGIN).status_code == 403
    evil = {"origin": "http://evil.example"}
    assert site.client.post("/silences", data=form, headers=evil).status_code == 403
    assert _stored(site) == []
