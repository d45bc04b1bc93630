"""The dead letters page: a paged, redacted list for everyone signed in, and a
replay button only admins get, behind the same Origin and CSRF checks as the
incident actions. The JSON stays at /api/v1/dead-letters.

Fake secrets are assembled at runtime so no literal here looks like a credential.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from autoticket.api.app import create_app
from autoticket.config import load_config
from autoticket.model import DeadLetter, Delivery
from autoticket.service.runtime import Runtime
from autoticket.store.dead_letters import add_dead_letters, get_dead_letter
from conftest import token_headers

ALNUM = string.ascii_letters + string.digits
GHP = "gh" + "p_" + "".join(ALNUM[(i * 13 + 5) % len(ALNUM)] for i in range(36))
ORIGIN = {"origin": "http://localhost"}
VALID = b'{"title": "Disk almost full", "service": "search", "severity": "high"}'
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


@dataclass
class Site:
    client: TestClient
    runtime: Runtime


@pytest.fixture
def site(engine: Engine) -> Iterator[Site]:
    runtime = Runtime(load_config(None), engine, start_worker=False)
    with TestClient(create_app(runtime), base_url="http://localhost") as client:
        yield Site(client, runtime)


def _store(site: Site, body: bytes, error: str, n: int = 1) -> list[int]:
    letters = [
        DeadLetter(
            Delivery(f"d-{i}", "generic", T0 + timedelta(seconds=i), body, {}), "parse", error
        )
        for i in range(n)
    ]
    with site.runtime.engine.begin() as conn:
        return list(add_dead_letters(conn, letters))


def _sign_in(site: Site, name: str, role: str) -> None:
    secret = token_headers(site.runtime.engine, name, role)["authorization"][7:]
    r = site.client.post("/login", data={"token": secret}, headers=ORIGIN, follow_redirects=False)
    assert r.status_code == 303, r.text


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
    assert match, "the page has no CSRF field"
    return match.group(1)


def _replays(site: Site, dead_id: int) -> tuple[int, str | None]:
    with site.runtime.engine.connect() as conn:
        row = get_dead_letter(conn, dead_id)
    return row.replay_count, row.replay_result


def _page(site: Site, path: str = "/dead-letters") -> str:
    r = site.client.get(path)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    return r.text


def test_the_nav_opens_an_html_list_with_redacted_previews(site: Site) -> None:
    body = f'{{"title": "db down", "sevrity": "{GHP}"}}'.encode()
    [dead_id] = _store(site, body, "severity: required field is missing")
    overview = _page(site, "/")
    assert '<a href="/dead-letters">Dead letters</a>' in overview
    page = _page(site)
    row = page.split(f'<tr id="dl-{dead_id}">')[1].split("</tr>")[0]
    assert "2026-03-01 08:00:00" in row
    assert "<td>generic</td>" in row
    assert "severity: required field is missing" in row
    assert "[REDACTED:github_token]" in row and GHP not in page
    assert "masked: github_token\u00d71" in row
    assert f'href="/api/v1/dead-letters/{dead_id}"' in row
    # the JSON stays at the API path
    api = site.client.get("/api/v1/dead-letters")
    assert api.headers["content-type"].startswith("application/json")
    assert [i["id"] for i in api.json()["items"]] == [dead_id]


def test_an_anonymous_responder_reads_without_a_replay_button(site: Site) -> None:
    """No token exists: the anonymous user is a responder, and replay needs an admin."""
    [dead_id] = _store(site, VALID, "simulated failure")
    page = _page(site)
    assert "Read only: replaying needs an admin token." in page
    assert "/replay" not in page
    r = site.client.post(f"/dead-letters/{dead_id}/replay")
    assert r.status_code == 403
    assert "anonymous is a responder; replaying a dead letter needs an admin" in r.text
    assert _replays(site, dead_id) == (0, None)


def test_a_viewer_sees_it_read_only_and_cannot_replay(site: Site) -> None:
    [dead_id] = _store(site, VALID, "simulated failure")
    _sign_in(site, "victor", "viewer")
    page = _page(site)
    assert "Read only" in page and "Replay</button>" not in page
    r = site.client.post(
        f"/dead-letters/{dead_id}/replay", data={"csrf": _csrf(page)}, headers=ORIGIN
    )
    assert r.status_code == 403 and "victor is a viewer" in r.text
    assert _replays(site, dead_id) == (0, None)


@pytest.mark.parametrize(
    ("headers", "form"),
    [
        ({}, "good"),  # no Origin on a cookie-authenticated post
        ({"origin": "https://evil.example"}, "good"),
        (ORIGIN, None),  # no CSRF token
        (ORIGIN, "0" * 64),  # a wrong one
    ],
)
def test_a_replay_post_needs_origin_and_csrf(
    site: Site, headers: dict[str, str], form: str | None
) -> None:
    [dead_id] = _store(site, VALID, "simulated failure")
    _sign_in(site, "ada", "admin")
    page = _page(site)
    data = {} if form is None else {"csrf": _csrf(page) if form == "good" else form}
    r = site.client.post(f"/dead-letters/{dead_id}/replay", data=data, headers=headers)
    assert r.status_code == 403
    assert _replays(site, dead_id) == (0, None)


def test_an_admin_replays_then_replays_again_on_purpose(site: Site) -> None:
    [dead_id] = _store(site, VALID, "simulated failure")
    _sign_in(site, "ada", "admin")
    page = _page(site)
    assert "ada (admin)" in page and "Read only" not in page
    assert f'action="/dead-letters/{dead_id}/replay"' in page and "Replay</button>" in page
    r = site.client.post(
        f"/dead-letters/{dead_id}/replay",
        data={"csrf": _csrf(page)},
        headers=ORIGIN,
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"/dead-letters#dl-{dead_id}"
    count, result = _replays(site, dead_id)
    assert count == 1 and result is not None and result.startswith("accepted 1 event(s)")
    page = _page(site)
    row = page.split(f'<tr id="dl-{dead_id}">')[1].split("</tr>")[0]
    assert "accepted 1 event(s)" in row
    assert 'name="force" value="1"' in row and "Replay again</button>" in row
    r = site.client.post(
        f"/dead-letters/{dead_id}/replay",
        data={"csrf": _csrf(page), "force": "1"},
        headers=ORIGIN,
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert _replays(site, dead_id)[0] == 2


def test_a_replay_refused_or_still_failing_says_why(site: Site) -> None:
    [good] = _store(site, VALID, "simulated failure")
    [bad] = _store(site, b'{"title": ""}', "title: must not be empty")
    _sign_in(site, "ada", "admin")
    csrf = _csrf(_page(site))
    r = site.client.post(f"/dead-letters/{bad}/replay", data={"csrf": csrf}, headers=ORIGIN)
    assert r.status_code == 422
    assert 'role="alert"' in r.text and f"Dead letter {bad}: still failing: title" in r.text
    ok = site.client.post(f"/dead-letters/{good}/replay", data={"csrf": csrf}, headers=ORIGIN)
    assert ok.status_code == 200  # followed the redirect to the list
    again = site.client.post(f"/dead-letters/{good}/replay", data={"csrf": csrf}, headers=ORIGIN)
    assert again.status_code == 409
    assert "was already replayed" in again.text and "use Replay again" in again.text
    assert _replays(site, good)[0] == 1
    missing = site.client.post("/dead-letters/999999/replay", data={"csrf": csrf}, headers=ORIGIN)
    assert missing.status_code == 404


def test_the_list_is_paged_newest_first(site: Site) -> None:
    ids = _store(site, VALID, "simulated failure", n=101)
    first = _page(site)
    assert "1\u2013100 of 101" in first and 'href="/dead-letters?page=2"' in first
    assert f'<tr id="dl-{ids[-1]}">' in first and f'<tr id="dl-{ids[0]}">' not in first
    second = _page(site, "/dead-letters?page=2")
    assert "101\u2013101 of 101" in second
    assert re.findall(r'<tr id="dl-(\d+)">', second) == [str(ids[0])]
    assert site.client.get("/dead-letters?page=0").status_code == 400


def test_no_dead_letters_says_so(site: Site) -> None:
    assert "No dead letters" in _page(site)
