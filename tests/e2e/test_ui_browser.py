"""A real Chromium signs in to the UI with a token, opens an incident and
acknowledges it; the timeline names the token's owner, and every page carries
the security headers.

Uses Debian's chromium (tests/e2e/setup.sh installs it) through Playwright;
no browser is ever downloaded.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import am_alert, am_payload

from .conftest import Autoticket, start_autoticket, unavailable, write_test_config

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

CHROMIUM = "/usr/bin/chromium"
TITLE_ALERT = "BrowserCheck"


def _token(database_url: str, name: str, role: str, cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "autoticket.cli", "token", "create", "--name", name,
         "--role", role, "--database-url", database_url],
        capture_output=True, text=True, cwd=cwd, check=False, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Autoticket, str, str]]:
    """A server on its own SQLite database, with a responder `alice` and an admin."""
    directory = tmp_path_factory.mktemp("ui")
    url = f"sqlite:///{directory / 'autoticket.db'}"
    alice = _token(url, "alice", "responder", directory)
    admin = _token(url, "root-admin", "admin", directory)
    server = start_autoticket("ui", url, write_test_config(directory), directory)
    try:
        yield server, alice, admin
    finally:
        server.client.close()
        server.proc.stop()


@pytest.fixture
def chromium() -> Iterator[Any]:
    """Per test: Playwright's sync API keeps an event loop running in this thread
    while it is open, and later tests call asyncio.run()."""
    if shutil.which(CHROMIUM) is None:
        unavailable(f"{CHROMIUM} is not installed (tests/e2e/setup.sh installs it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            yield browser
        finally:
            browser.close()


def _incident_id(server: Autoticket, admin: str) -> int:
    auth = {"authorization": f"Bearer {admin}"}
    r = server.client.post(
        "/api/v1/ingest/alertmanager", json=am_payload(am_alert(alertname=TITLE_ALERT))
    )
    assert r.status_code == 202, r.text
    for _ in range(300):  # the worker runs in the server: wait for its round
        items = server.client.get("/api/v1/incidents", headers=auth).json()["items"]
        if items:
            return int(items[0]["id"])
        assert server.proc.alive(), server.proc.log_tail()
        time.sleep(0.1)
    pytest.fail("the alert did not become an incident")


def _assert_security_headers(headers: dict[str, str]) -> None:
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp


def test_sign_in_open_an_incident_and_acknowledge_it(
    ui_server: tuple[Autoticket, str, str], chromium: Any
) -> None:
    server, alice, admin = ui_server
    incident_id = _incident_id(server, admin)
    context = chromium.new_context()
    try:
        page = context.new_page()
        first = page.goto(f"{server.url}/")
        assert first is not None
        assert page.url.startswith(f"{server.url}/login"), page.url
        _assert_security_headers(first.headers)

        page.fill("input[name=token]", alice)
        with page.expect_navigation():
            page.click("button[type=submit]")
        assert page.url == f"{server.url}/", page.content()
        assert "alice (responder)" in page.content()
        [cookie] = [c for c in context.cookies() if c["name"] == "autoticket_session"]
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

        page.click(f"a[href='/incidents/{incident_id}'] >> nth=0")
        page.wait_for_url(f"{server.url}/incidents/{incident_id}")
        with page.expect_response(lambda r: r.request.method == "POST") as posted:
            page.click("button:has-text('Acknowledge')")
        assert posted.value.status == 303
        page.wait_for_url(f"{server.url}/incidents/{incident_id}")
        assert "acknowledged by alice" in page.content()
        opened = page.reload()
        assert opened is not None
        _assert_security_headers(opened.headers)
    finally:
        context.close()
    detail = httpx.get(
        f"{server.url}/api/v1/incidents/{incident_id}",
        headers={"authorization": f"Bearer {admin}"},
        timeout=10,
    ).json()
    assert detail["status"] == "acknowledged"
    assert [t["message"] for t in detail["timeline"] if t["kind"] == "acknowledged"] == [
        "acknowledged by alice"
    ]


def test_a_release_page_shows_its_verdict_and_plot_without_csp_violations(
    ui_server: tuple[Autoticket, str, str], chromium: Any
) -> None:
    server, alice, _ = ui_server
    release = {
        "service": "browser-svc",
        "environment": "prod",
        "version": "v7",
        "started_at": "2026-11-20T09:00:00Z",
    }
    created = server.client.post("/api/v1/releases", json=release)
    assert created.status_code == 201, created.text
    release_id = created.json()["id"]
    samples = [
        {"name": "browser_error_ratio", "labels": {"service": "browser-svc", "environment": "prod"},
         "t": f"2026-11-20T{8 + (m >= 0):02d}:{m % 60:02d}:30Z", "v": 0.01 if m < 0 else 0.2}
        for m in range(-20, 20)
    ]  # fmt: skip
    assert server.client.post("/api/v1/metrics", json={"samples": samples}).status_code == 202
    context = chromium.new_context()
    try:
        page = context.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.goto(f"{server.url}/login")
        page.fill("input[name=token]", alice)
        with page.expect_navigation():
            page.click("button[type=submit]")
        page.click("nav >> text=Releases")
        page.wait_for_url(f"{server.url}/releases")
        page.click(f"a[href='/releases/{release_id}']")
        page.wait_for_url(f"{server.url}/releases/{release_id}")
        assert page.locator(".badge.verdict-fail").count() >= 1
        circles = page.locator("svg.plot circle")
        assert circles.count() == len(samples)
        box = page.locator("svg.plot").first.bounding_box()
        assert box is not None and box["width"] > 100  # drawn, at its size, by the stylesheet
        assert problems == []  # no Content-Security-Policy violation, no script error
    finally:
        context.close()
