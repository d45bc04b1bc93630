"""The release pages: the timeline, one release's verdict explained with its plots."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from autoticket.api.app import create_app
from autoticket.clock import FixedClock
from autoticket.config import load_config
from autoticket.service.runtime import Runtime
from conftest import am_alert, am_payload, token_headers

START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
NOW = START + timedelta(hours=1)


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, Runtime]]:
    monkeypatch.delenv("AUTOTICKET_INGEST_TOKEN", raising=False)
    runtime = Runtime.from_url(
        load_config(None), f"sqlite:///{tmp_path}/w.db", start_worker=False, clock=FixedClock(NOW)
    )
    with TestClient(create_app(runtime), base_url="http://localhost") as test_client:
        yield test_client, runtime


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _release(http: TestClient, **fields: Any) -> int:
    body = {
        "service": "checkout",
        "environment": "prod",
        "version": "v42",
        "started_at": _iso(START),
        "commit": "0f3c2a1b9d",
        "deployer": "ci-bot",
        "rollout_percent": 25,
    } | fields
    response = http.post("/api/v1/releases", json=body)
    assert response.status_code in (200, 201), response.text
    return int(response.json()["id"])


def _samples(
    http: TestClient, name: str, before: float, after: float, service: str = "checkout"
) -> None:
    """A minute apart for 30 minutes each side; a little jitter so the test has no ties."""
    samples = []
    for k in range(1, 31):
        jitter = (k % 7) * 0.001 * before if before else (k % 7) * 0.0001
        samples.append(
            {"name": name, "labels": {"service": service, "environment": "prod"},
             "t": _iso(START - timedelta(minutes=k)), "v": before + jitter}
        )  # fmt: skip
        samples.append(
            {"name": name, "labels": {"service": service, "environment": "prod"},
             "t": _iso(START + timedelta(minutes=k - 1, seconds=30)), "v": after + jitter}
        )  # fmt: skip
    response = http.post("/api/v1/metrics", json={"samples": samples})
    assert response.status_code == 202, response.text


def _html(response: Any, status: int = 200) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def test_the_release_page_explains_a_failed_verdict_with_plots(
    client: tuple[TestClient, Runtime],
) -> None:
    http, _ = client
    release_id = _release(http)
    _samples(http, "checkout_error_ratio", 0.01, 0.08)
    _samples(http, "checkout_latency_seconds", 0.2, 0.2)
    api = http.get(f"/api/v1/releases/{release_id}").json()
    assert api["verdict"] == "fail"
    page = _html(http.get(f"/releases/{release_id}"))
    assert 'class="badge verdict-fail">fail<' in page
    assert f'class="badge action-{api["action"]}">{api["action"]}<' in page
    for reason in api["reasons"]:
        assert reason.replace("'", "&#39;").replace(">", "&gt;") in page
    rows = page.split('<table class="metrics">')[1].split("</table>")[0].split("<tr>")[2:]
    by_name = {m["name"]: m for m in api["metrics"]}
    assert len(rows) == len(by_name) == 2
    for row in rows:
        name = re.search(r"<code>([^<]+)</code>", row).group(1)  # type: ignore[union-attr]
        metric = by_name[name]
        assert f'class="badge class-{metric["classification"]}"' in row
        assert metric["direction"] in row
        assert f"\u00d7{metric['ratio']:.3g}" in row
        low, high = metric["test"]["interval"]
        assert f"[{low:.3g}, {high:.3g}]" in row
        assert f"{metric['before']['count']} / {metric['after']['count']}" in row
        # the plot: every sample of the window on each side, the release line, both medians
        svg = row.split("<svg")[1].split("</svg>")[0]
        assert svg.count('<circle class="before"') == metric["before"]["count"] == 30
        assert svg.count('<circle class="after"') == 30
        assert 'class="median-before"' in svg and 'class="median-after"' in svg
        assert '<line class="release"' in svg
        assert "style=" not in svg  # the CSP allows no inline styles
    error_row = next(r for r in rows if "checkout_error_ratio" in r)
    assert 'class="badge class-high"' in error_row
    svg = error_row.split("<svg")[1]
    before_y = [float(y) for y in re.findall(r'class="before" cx="[\d.]+" cy="([\d.]+)"', svg)]
    after_y = [float(y) for y in re.findall(r'class="after" cx="[\d.]+" cy="([\d.]+)"', svg)]
    assert max(after_y) < min(before_y)  # the error ratio rose: its points sit higher (smaller y)
    before_x = [float(x) for x in re.findall(r'class="before" cx="([\d.]+)"', svg)]
    release_x = float(re.search(r'<line class="release" x1="([\d.]+)"', svg).group(1))  # type: ignore[union-attr]
    assert max(before_x) < release_x
    # An early fail: it judged only the first minutes after the start, and the plot marks when.
    error = by_name["checkout_error_ratio"]
    assert api["decided_by"] == "early_fail" and error["after"]["count"] < 30
    decided_x = float(re.search(r'<line class="decided" x1="([\d.]+)"', svg).group(1))  # type: ignore[union-attr]
    after_x = sorted(float(x) for x in re.findall(r'class="after" cx="([\d.]+)"', svg))
    assert sum(x < decided_x for x in after_x) == error["after"]["count"]


def test_the_timeline_lists_releases_per_service_and_environment(
    client: tuple[TestClient, Runtime],
) -> None:
    http, _ = client
    first = _release(http)
    second = _release(http, version="v43", started_at=_iso(START + timedelta(minutes=40)))
    _release(http, service="search", version="s1", commit=None, deployer=None)
    _samples(http, "checkout_error_ratio", 0.01, 0.08)
    page = _html(http.get("/releases"))
    assert 'href="/releases"' in page  # the nav link
    rows = page.split("<tbody>")[1].split("</tbody>")[0]
    assert rows.index(f'href="/releases/{second}"') < rows.index(f'href="/releases/{first}"')
    assert 'class="badge verdict-fail">fail<' in rows
    assert "25%" in rows and "ci-bot" in rows and "<code" in rows and "0f3c2a1b9d" in rows
    assert "checkout · prod" in page and "search · prod" in page
    only = _html(http.get("/releases", params={"service": "search", "environment": "prod"}))
    assert "s1</a>" in only and "v42</a>" not in only
    assert 'aria-current="page">search · prod' in only
    _html(http.get("/releases", params={"page": "0"}), 400)
    _html(http.get("/releases", params={"service": "x" * 200}), 400)
    assert "No releases" in _html(http.get("/releases", params={"service": "nothing"}))


def test_hostile_names_are_escaped_everywhere(client: tuple[TestClient, Runtime]) -> None:
    http, _ = client
    evil = "<script>alert(1)</script>"
    release_id = _release(
        http,
        service='svc"><img src=x onerror=alert(2)>',
        version=evil,
        deployer="<b>me</b>",
        flags={"deploy_state": "<i>x</i>"},
    )
    _samples(http, "checkout_error_ratio", 0.01, 0.01, service='svc"><img src=x onerror=alert(2)>')
    for path in ("/releases", f"/releases/{release_id}"):
        page = _html(http.get(path))
        assert "<script>alert(1)" not in page
        assert "<img src=x" not in page
        assert "<b>me</b>" not in page and "<i>x</i>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    page = _html(http.get(f"/releases/{release_id}"))
    assert "svc&#34;&gt;&lt;img src=x onerror=alert(2)&gt;" in page
    # The filter link carries the name URL-encoded, not raw.
    listing = _html(http.get("/releases"))
    assert "service=svc%22%3E%3Cimg" in listing


def test_a_viewer_reads_release_pages_and_a_stranger_is_sent_to_sign_in(
    client: tuple[TestClient, Runtime],
) -> None:
    http, runtime = client
    release_id = _release(http)
    secret = token_headers(runtime.engine, "vera", "viewer")["authorization"][7:]
    for path in ("/releases", f"/releases/{release_id}"):
        stranger = http.get(path, follow_redirects=False)
        assert stranger.status_code in (302, 303, 307)
        assert stranger.headers["location"] == f"/login?next={path}"
    signed = http.post(
        "/login",
        data={"token": secret, "next": "/releases"},
        headers={"origin": "http://localhost"},
        follow_redirects=False,
    )
    assert signed.status_code == 303, signed.text
    listing = _html(http.get("/releases"))
    assert "vera (viewer)" in listing and f'href="/releases/{release_id}"' in listing
    assert "vera (viewer)" in _html(http.get(f"/releases/{release_id}"))
    for bad in ("999", "abc", "\u00b2"):
        page = _html(http.get(f"/releases/{bad}"), 404)
        assert "Release not found" in page


def test_an_incident_links_its_suspect_release_and_the_release_names_the_incident(
    client: tuple[TestClient, Runtime],
) -> None:
    http, runtime = client
    release_id = _release(http, started_at=_iso(NOW - timedelta(minutes=12)))
    sent = http.post(
        "/api/v1/ingest/alertmanager",
        json=am_payload(
            am_alert(alertname="CheckoutErrors", service="checkout", environment="prod")
        ),
    )
    assert sent.status_code == 202
    runtime.worker.drain()
    [incident] = http.get("/api/v1/incidents").json()["items"]
    page = _html(http.get(f"/incidents/{incident['id']}"))
    section = page.split("<h2>Suspect releases</h2>")[1].split("</section>")[0]
    assert f'<a href="/releases/{release_id}"><b>checkout v42</b></a>' in section
    release_page = _html(http.get(f"/releases/{release_id}"))
    suspects = release_page.split("<h2>Suspect for</h2>")[1].split("</section>")[0]
    assert f'href="/incidents/{incident["id"]}"' in suspects
    assert "started 12 min before the incident opened" in suspects


class _FakePrometheus:
    """A live reader serving one SLI, as the Prometheus reader would."""

    names = frozenset({"checkout_http_latency_seconds"})

    def read(self, service: str, environment: str, start: datetime, end: datetime) -> Any:
        from autoticket.releases.readers import Reading

        points = [
            (START + timedelta(minutes=m, seconds=15), 0.3 + (m % 5) * 0.001)
            for m in range(-30, 30)
            if start <= START + timedelta(minutes=m, seconds=15) < end
        ]
        return Reading([("checkout_http_latency_seconds", "checkout_http_latency_seconds", points)])


def test_a_live_sli_is_judged_and_plotted_as_the_api_does(
    client: tuple[TestClient, Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    http, runtime = client
    release_id = _release(http)
    _samples(http, "checkout_error_ratio", 0.01, 0.01)
    _samples(http, "checkout_http_latency_seconds", 9.0, 9.0)  # pushed, but the SLI is live
    monkeypatch.setattr(runtime, "release_reader", _FakePrometheus())
    api = http.get(f"/api/v1/releases/{release_id}").json()
    page = _html(http.get(f"/releases/{release_id}"))
    live = next(m for m in api["metrics"] if m["name"] == "checkout_http_latency_seconds")
    assert live["before"]["count"] == 30  # read from the live reader, not the pushed 9.0s
    row = page.split("<code>checkout_http_latency_seconds</code>")[1].split("</tr>")[0]
    assert f"{live['before']['count']} / {live['after']['count']}" in row
    svg = row.split("<svg")[1].split("</svg>")[0]
    assert svg.count('<circle class="before"') == 30
    assert "0.3" in svg and ">9<" not in svg  # the axis shows the live values
