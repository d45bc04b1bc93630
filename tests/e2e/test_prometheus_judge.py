"""The release judge reading a real Prometheus: scrape, query_range, verdict.

A tiny exporter in the test serves Prometheus text exposition on 127.0.0.1
with an error ratio per service whose level the test sets. A real Prometheus
scrapes it every second; a real `autoticket serve` is configured with
`releases.prometheus` pointing at it, short windows (20 s before, 20 s
after) and the SLI as a PromQL template. Once Prometheus holds a baseline,
checkout's error ratio goes up five-fold and two releases are posted at that
moment: checkout's must fail on the Prometheus data (with the numbers behind
it), search's (flat) must pass. A second SLI whose PromQL does not parse shows
how the real server's error reaches the verdict: no_data with its reason.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from autoticket.config import bundled_config_path
from autoticket.releases.prometheus import PrometheusReader
from autoticket.releases.settings import PrometheusSettings, SliSpec

from .conftest import (
    PROMETHEUS_BIN,
    Autoticket,
    Prometheus,
    require_binary,
    start_autoticket,
    start_scraping_prometheus,
    stop_all,
)
from .exposition import ExpositionServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

BASELINE_S = 20
WINDOW_S = 20
METRIC = "e2e_http_error_ratio"
LOW, HIGH = 0.01, 0.05
# The exporter's values cycle through these factors: a noisy but stationary level.
NOISE = (0.92, 1.0, 1.07, 0.96, 1.04, 0.99, 1.02, 0.95, 1.05)
POLL = 0.25


# -- a tiny exporter -------------------------------------------------------------


@dataclass
class Exporter:
    """Serves /metrics: one gauge per service at the level the test sets, with noise."""

    levels: dict[str, float]
    scrapes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ExpositionServer | None = None

    def set_level(self, service: str, level: float) -> None:
        with self.lock:
            self.levels[service] = level

    def exposition(self) -> bytes:
        with self.lock:
            self.scrapes += 1
            factor = NOISE[self.scrapes % len(NOISE)]
            lines = [f"# HELP {METRIC} Share of failed requests.", f"# TYPE {METRIC} gauge"]
            lines += [
                f'{METRIC}{{service="{s}",environment="prod"}} {level * factor:.6f}'
                for s, level in sorted(self.levels.items())
            ]
        return ("\n".join(lines) + "\n").encode()

    @property
    def address(self) -> str:
        assert self.server is not None
        return self.server.address

    def start(self) -> None:
        self.server = ExpositionServer(self.exposition)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


# -- the session's processes -----------------------------------------------------


@pytest.fixture(scope="session")
def exporter() -> Iterator[Exporter]:
    require_binary(PROMETHEUS_BIN)
    served = Exporter({"checkout": LOW, "search": LOW})
    served.start()
    yield served
    served.stop()


@pytest.fixture(scope="session")
def sli_prometheus(e2e_dir: Path, exporter: Exporter) -> Iterator[Prometheus]:
    prom = start_scraping_prometheus(e2e_dir, "prometheus-sli", [exporter.address])
    yield prom
    stop_all([prom.proc])


def _judge_config(directory: Path, prometheus_url: str) -> Path:
    data = yaml.safe_load(bundled_config_path().read_text())
    data["releases"] = {
        "baseline": f"{BASELINE_S}s",
        "window": f"{WINDOW_S}s",
        "step": "1s",
        "early": {"min_window": "8s", "min_samples": 8},
        "prometheus": {"url": prometheus_url, "timeout": "5s", "step": "1s"},
        "slis": [
            {
                "name": "http_error_ratio",
                "query": f'max({METRIC}{{service="{{service}}",environment="{{environment}}"}})',
                "critical": True,
                "critical_increase": 2.0,
            },
            # Valid as a template, not as PromQL: the real server refuses it.
            {"name": "broken_ratio", "query": f'max({METRIC}{{service="{{service}}"}}) by ('},
        ],
    }
    path = directory / "autoticket-judge.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def judge_server(e2e_dir: Path, sli_prometheus: Prometheus) -> Iterator[Autoticket]:
    config = _judge_config(e2e_dir, sli_prometheus.url)
    server = start_autoticket("judge", f"sqlite:///{e2e_dir / 'judge.db'}", config, e2e_dir)
    yield server
    server.client.close()
    stop_all([server.proc])


# -- helpers -----------------------------------------------------------------------


def _samples_held(prom: Prometheus, service: str, seconds: int) -> int:
    query = f'count_over_time({METRIC}{{service="{service}"}}[{seconds}s])'
    response = httpx.get(f"{prom.url}/api/v1/query", params={"query": query}, timeout=5.0)
    response.raise_for_status()
    result = response.json()["data"]["result"]
    return int(float(result[0]["value"][1])) if result else 0


def _wait_for(check: Any, what: str, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() >= deadline:
            pytest.fail(f"not within {timeout:.0f}s: {what}")
        time.sleep(POLL)


def _post_release(server: Autoticket, service: str, started_at: datetime) -> int:
    body = {
        "service": service,
        "environment": "prod",
        "version": "v2",
        "started_at": started_at.isoformat(),
    }
    response = server.client.post("/api/v1/releases", json=body)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


@pytest.fixture(scope="session")
def released(
    judge_server: Autoticket, sli_prometheus: Prometheus, exporter: Exporter
) -> dict[str, int]:
    """Once Prometheus holds a baseline: checkout's errors go up and both services release."""
    _wait_for(
        lambda: _samples_held(sli_prometheus, "checkout", BASELINE_S + 5) >= BASELINE_S + 1,
        f"{BASELINE_S + 1} scrapes of the exporter in Prometheus",
        timeout=BASELINE_S + 30,
    )
    started_at = datetime.now(UTC)
    exporter.set_level("checkout", HIGH)
    return {
        "checkout": _post_release(judge_server, "checkout", started_at),
        "search": _post_release(judge_server, "search", started_at),
        "ghost": _post_release(judge_server, "ghost", started_at),
    }


def _decided(server: Autoticket, release_id: int) -> dict[str, Any]:
    """The release once the judge has decided (early, or at the window's end)."""

    def decided() -> dict[str, Any] | None:
        view = server.get(f"/api/v1/releases/{release_id}")
        return view if view["decided_at"] is not None else None

    return dict(_wait_for(decided, f"a verdict on release {release_id}", WINDOW_S + 30))


def _metrics(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["name"]: m for m in view["metrics"]}


# -- tests ---------------------------------------------------------------------------


def test_a_regression_seen_by_prometheus_fails_the_release(
    judge_server: Autoticket, released: dict[str, int]
) -> None:
    view = _decided(judge_server, released["checkout"])
    metrics = _metrics(view)
    assert (view["verdict"], view["action"]) == ("fail", "rollback"), view["reasons"]
    assert view["decided_by"] in ("early_fail", "window_end")
    ratio = metrics["http_error_ratio"]
    assert (ratio["classification"], ratio["critical"], ratio["beyond_critical"]) == (
        "high",
        True,
        True,
    )
    # Five-fold, give or take the noise and a scrape that lags the release.
    assert 3.0 < ratio["ratio"] < 6.0
    assert ratio["before"]["count"] >= BASELINE_S - 2
    assert LOW * 0.9 < ratio["before"]["mean"] < LOW * 1.1
    assert ratio["after"]["count"] >= 5
    assert ratio["test"]["interval"][0] > 0  # the whole interval of the shift is above 0


def test_a_flat_service_passes_on_the_same_prometheus(
    judge_server: Autoticket, released: dict[str, int]
) -> None:
    view = _decided(judge_server, released["search"])
    ratio = _metrics(view)["http_error_ratio"]
    assert (view["verdict"], view["action"]) == ("pass", "continue"), view["reasons"]
    assert ratio["classification"] == "pass"
    assert ratio["before"]["count"] >= BASELINE_S - 2
    assert ratio["after"]["count"] >= 8


def test_the_worker_stores_the_verdict_and_opens_the_incident(
    judge_server: Autoticket, released: dict[str, int]
) -> None:
    """The checks read the SLIs from Prometheus before each round: the verdict is
    stored on the release row (the list shows only stored ones) and the
    regression, seen only in Prometheus, opens the judge's incident."""

    def stored() -> dict[str, Any] | None:
        items = judge_server.get("/api/v1/releases", service="checkout")["items"]
        mine = [i for i in items if i["id"] == released["checkout"]]
        return mine[0] if mine and mine[0]["verdict"] is not None else None

    row = _wait_for(stored, "the checkout verdict stored by the worker", WINDOW_S + 30)
    assert (row["verdict"], row["action"]) == ("fail", "rollback")
    [incident] = _wait_for(
        lambda: judge_server.incidents("ReleaseRegression"), "the judge's incident", 30
    )
    assert incident["group_labels"]["service"] == "checkout"


def test_prometheus_errors_and_empty_answers_are_no_data_with_the_reason(
    judge_server: Autoticket, released: dict[str, int]
) -> None:
    checkout = _metrics(judge_server.get(f"/api/v1/releases/{released['checkout']}"))
    broken = checkout["broken_ratio"]
    assert broken["classification"] == "no_data"
    assert broken["reason"].startswith("Prometheus: HTTP 400: bad_data: ")
    assert "parse error" in broken["reason"]
    ghost = judge_server.get(f"/api/v1/releases/{released['ghost']}")
    assert ghost["verdict"] == "no_data"
    reasons = {m["name"]: m["reason"] for m in ghost["metrics"]}
    assert reasons["http_error_ratio"] == "Prometheus: no series for ghost/prod"
    assert reasons["broken_ratio"].startswith("Prometheus: HTTP 400: bad_data: ")


def test_the_judge_logged_the_failing_query_once(
    judge_server: Autoticket, released: dict[str, int]
) -> None:
    _decided(judge_server, released["checkout"])
    for release_id in released.values():  # each judged (and its broken query sent) again
        judge_server.get(f"/api/v1/releases/{release_id}")
    log = judge_server.proc.log_path.read_text(errors="replace")
    # Polled many times for two releases: one line per service, not one per poll.
    failed = [line for line in log.splitlines() if "release SLI broken_ratio" in line]
    assert len(failed) == 3, failed  # checkout, search, ghost


def test_the_reader_asks_for_a_coarser_step_the_real_server_accepts(
    sli_prometheus: Prometheus, released: dict[str, int]
) -> None:
    """Three days at 1s would be 259,200 points, past Prometheus's limit: the
    reader asks for 25.92s steps, as a plain number the server parses."""
    sli = SliSpec(
        name="http_error_ratio",
        query=f'max({METRIC}{{service="{{service}}",environment="{{environment}}"}})',
    )
    settings = PrometheusSettings(url=sli_prometheus.url, step=timedelta(seconds=1))
    reader = PrometheusReader(settings, [sli])
    try:
        end = datetime.now(UTC)
        reading = reader.read("search", "prod", end - timedelta(days=3), end)
    finally:
        reader.close()
    assert reading.missing == {}
    ((key, _, points),) = reading.series
    assert key == "http_error_ratio"
    assert points and all(LOW * 0.9 < v < LOW * 1.1 for _, v in points)
    gaps = {round((b[0] - a[0]).total_seconds(), 2) for a, b in pairwise(points)}
    assert gaps <= {25.92}
