"""End-to-end fixtures: real Prometheus Alertmanager (and Prometheus) in front of
real `autoticket serve` processes.

One session starts:

- one autoticket server on SQLite and, when PostgreSQL is reachable at
  AUTOTICKET_TEST_PG_URL, one on a fresh PostgreSQL database; both use a test
  config with short timers (resolve_after 2s, reopen_within 1h) and ticket
  updates coalesced at every 2nd alert, at most one a second;
- two Alertmanagers run unclustered (`--cluster.listen-address=`), the harsh
  HA case: each notifies every webhook on its own, so autoticket receives
  every notification twice and must deduplicate. Their one receiver fans out
  to every autoticket server, so the same real payloads exercise both
  databases at no extra wall time.

- for the release judge (test_prometheus_judge.py), a Prometheus scraping a
  test exporter every second (`start_scraping_prometheus`) and an
  autoticket server configured to query it.

Everything binds to 127.0.0.1 on free ports and runs from a temporary
directory. Processes are stopped by PID. A failing test gets the tail of each
process log attached to its report. Missing software skips the tests, or
fails them when AUTOTICKET_REQUIRE_SERVICES=1 (run tests/e2e/setup.sh first).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import make_url, text

from autoticket.config import bundled_config_path
from autoticket.store import make_engine

REQUIRE_SERVICES = os.environ.get("AUTOTICKET_REQUIRE_SERVICES") == "1"
PG_URL = os.environ.get("AUTOTICKET_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
HOST = "127.0.0.1"
START_TIMEOUT = 30.0
LOG_TAIL_LINES = 60

# Alertmanager timers of the test route (the brief's: fast, but real).
GROUP_WAIT = "1s"
GROUP_INTERVAL = "2s"
REPEAT_INTERVAL = "4s"
# autoticket timers of the test config.
RESOLVE_AFTER = "2s"
REOPEN_WITHIN = "1h"

ALERTMANAGER_BIN = "prometheus-alertmanager"
AMTOOL_BIN = "amtool"
PROMETHEUS_BIN = "prometheus"


# -- pytest plumbing -----------------------------------------------------------


def unavailable(message: str) -> None:
    """Skip, or fail when the environment promises every service is there."""
    if REQUIRE_SERVICES:
        pytest.fail(message + " (AUTOTICKET_REQUIRE_SERVICES=1; run tests/e2e/setup.sh)")
    pytest.skip(message)


def require_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} is not installed (tests/e2e/setup.sh installs it)")
    assert path is not None
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


# -- processes -----------------------------------------------------------------


@dataclass
class Proc:
    """A child process we started, with its combined output in a log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    stopped: bool = False

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text_ = self.log_path.read_text(errors="replace")
        except OSError as exc:
            return f"(no log: {exc})"
        tail = text_.splitlines()[-lines:]
        return "\n".join(tail) if tail else "(empty log)"

    def describe(self) -> str:
        state = "running" if self.alive() else f"exited with {self.popen.returncode}"
        return f"{self.name} (pid {self.pid}, {state}, log {self.log_path})"

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM by PID, then SIGKILL if it does not go; return its exit code."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout)
        self.stopped = True
        return self.popen.returncode


# Every process of the session, for failure reports.
PROCS: list[Proc] = []


def start_process(
    name: str,
    argv: list[str],
    log_dir: Path,
    env: dict[str, str] | None = None,
) -> Proc:
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=log_dir,
            start_new_session=True,  # a Ctrl-C of pytest does not race our own stop()
        )
    proc = Proc(name, popen, log_path)
    PROCS.append(proc)
    return proc


def wait_ready(proc: Proc, url: str, ok: Callable[[httpx.Response], bool] | None = None) -> None:
    """Poll `url` until it answers 200 (and `ok`), or fail with the process log."""
    deadline = time.monotonic() + START_TIMEOUT
    last = "no answer yet"
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if not proc.alive():
                break
            try:
                response = client.get(url)
                if response.status_code == 200 and (ok is None or ok(response)):
                    return
                last = f"HTTP {response.status_code}: {response.text[:200]}"
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(0.1)
    proc.stop()
    pytest.fail(
        f"{proc.describe()} did not become ready at {url} within {START_TIMEOUT:.0f}s "
        f"({last})\n--- log ---\n{proc.log_tail()}",
        pytrace=False,
    )


def stop_all(procs: list[Proc]) -> None:
    """Stop `procs` (last started first); fail if one had died on its own."""
    died = [p for p in procs if not p.alive() and not p.stopped]
    for proc in reversed(procs):
        proc.stop()
    if died:
        report = "\n".join(f"{p.describe()}\n--- log ---\n{p.log_tail()}" for p in died)
        pytest.fail(f"process(es) exited during the session:\n{report}", pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.failed and PROCS:
        for proc in PROCS:
            report.sections.append((f"log of {proc.describe()}", proc.log_tail()))


# -- autoticket ------------------------------------------------------------------


@dataclass
class Autoticket:
    """One running `autoticket serve` and a client for its API."""

    name: str
    url: str
    proc: Proc
    client: httpx.Client = field(repr=False)

    @property
    def ingest_url(self) -> str:
        return f"{self.url}/api/v1/ingest/alertmanager"

    def get(self, path: str, **params: Any) -> Any:
        response = self.client.get(path, params=params)
        response.raise_for_status()
        return response.json()

    def incidents(self, alertname: str) -> list[dict[str, Any]]:
        """Incidents grouped under `alertname` (its group labels), any status."""
        items = self.get("/api/v1/incidents", limit=1000)["items"]
        return [i for i in items if (i.get("group_labels") or {}).get("alertname") == alertname]

    def incident(self, incident_id: int) -> dict[str, Any]:
        return dict(self.get(f"/api/v1/incidents/{incident_id}"))

    def tickets(self, alertname: str) -> list[dict[str, Any]]:
        """Tickets of the incidents grouped under `alertname`."""
        ids = {i["id"] for i in self.incidents(alertname)}
        items = self.get("/api/v1/tickets", limit=1000)["items"]
        return [t for t in items if t["incident_id"] in ids]

    def metrics(self) -> str:
        response = self.client.get("/metrics")
        response.raise_for_status()
        return response.text


def write_test_config(directory: Path) -> Path:
    """The bundled config with timers short enough for a test."""
    data = yaml.safe_load(bundled_config_path().read_text())
    data["timers"] = {"resolve_after": RESOLVE_AFTER, "reopen_within": REOPEN_WITHIN}
    # A group's second alert is worth an update here (the default is every 10th).
    data["tickets"] = {"update_interval": "1s", "update_every_alerts": 2}
    path = directory / "autoticket.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def start_autoticket(
    name: str,
    database_url: str,
    config: Path,
    log_dir: Path,
    extra_args: list[str] | None = None,
) -> Autoticket:
    port = free_port()
    env = dict(os.environ)
    env.pop("AUTOTICKET_INGEST_TOKEN", None)  # Alertmanager posts without a token
    env.pop("AUTOTICKET_CONFIG", None)
    env["PYTHONUNBUFFERED"] = "1"
    if not database_url.startswith("sqlite"):
        # As in production: the schema is migrated as a step of its own, and
        # serve on PostgreSQL only checks it.
        subprocess.run(
            [sys.executable, "-m", "autoticket.cli", "migrate", "--database-url", database_url],
            env=env,
            check=True,
            capture_output=True,
            timeout=START_TIMEOUT,
        )
    proc = start_process(
        f"autoticket-{name}",
        [
            sys.executable,
            "-m",
            "autoticket.cli",
            "serve",
            "--host",
            HOST,
            "--port",
            str(port),
            "--database-url",
            database_url,
            "--config",
            str(config),
            *(extra_args or []),
        ],
        log_dir,
        env,
    )
    url = f"http://{HOST}:{port}"
    wait_ready(proc, f"{url}/readyz")
    return Autoticket(name, url, proc, httpx.Client(base_url=url, timeout=10.0))


@pytest.fixture(scope="session")
def e2e_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@contextmanager
def fresh_pg_database(prefix: str) -> Iterator[str | None]:
    """A new PostgreSQL database (dropped after), or None when PostgreSQL is unreachable."""
    try:
        admin = make_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        if REQUIRE_SERVICES:
            pytest.fail(
                f"PostgreSQL at {PG_URL} is not reachable: {exc} (AUTOTICKET_REQUIRE_SERVICES=1)"
            )
        yield None
        return
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str | None]:
    """A fresh PostgreSQL database for the session, or None."""
    with fresh_pg_database("autoticket_e2e") as url:
        yield url


@pytest.fixture(scope="session")
def servers(e2e_dir: Path, pg_database: str | None) -> Iterator[list[Autoticket]]:
    """autoticket on SQLite and, if PostgreSQL is reachable, on PostgreSQL."""
    require_binary(ALERTMANAGER_BIN)  # no point starting servers nothing will feed
    config = write_test_config(e2e_dir)
    started: list[Autoticket] = []
    try:
        started.append(
            start_autoticket("sqlite", f"sqlite:///{e2e_dir / 'autoticket.db'}", config, e2e_dir)
        )
        if pg_database is not None:
            started.append(start_autoticket("postgresql", pg_database, config, e2e_dir))
        yield started
    finally:
        for server in started:
            server.client.close()
        stop_all([s.proc for s in started])


# -- Alertmanager ----------------------------------------------------------------


@dataclass
class Alertmanager:
    name: str
    url: str
    proc: Proc

    @property
    def address(self) -> str:
        return self.url.removeprefix("http://")


@dataclass
class AlertmanagerPair:
    """Two Alertmanagers that each get every alert, as Prometheus does in HA."""

    members: list[Alertmanager]
    client: httpx.Client = field(repr=False)

    def post(self, alerts: list[dict[str, Any]]) -> None:
        """POST /api/v2/alerts to every member."""
        for am in self.members:
            response = self.client.post(f"{am.url}/api/v2/alerts", json=alerts)
            assert response.status_code == 200, (
                f"{am.name} refused the alerts: HTTP {response.status_code} {response.text}"
            )

    def alerts(self, member: int, alertname: str) -> list[dict[str, Any]]:
        """What one member holds for `alertname` (GET /api/v2/alerts)."""
        response = self.client.get(
            f"{self.members[member].url}/api/v2/alerts",
            params={"filter": f'alertname="{alertname}"'},
        )
        response.raise_for_status()
        return list(response.json())

    def metrics(self, member: int) -> str:
        response = self.client.get(f"{self.members[member].url}/metrics")
        response.raise_for_status()
        return response.text


def _alertmanager_config(servers: list[Autoticket]) -> dict[str, Any]:
    return {
        "route": {
            "receiver": "autoticket",
            "group_by": ["alertname", "service"],
            "group_wait": GROUP_WAIT,
            "group_interval": GROUP_INTERVAL,
            "repeat_interval": REPEAT_INTERVAL,
        },
        "receivers": [
            {
                "name": "autoticket",
                "webhook_configs": [{"url": s.ingest_url, "send_resolved": True} for s in servers],
            }
        ],
    }


@pytest.fixture(scope="session")
def alertmanagers(servers: list[Autoticket], e2e_dir: Path) -> Iterator[AlertmanagerPair]:
    binary = require_binary(ALERTMANAGER_BIN)
    amtool = require_binary(AMTOOL_BIN)
    config = e2e_dir / "alertmanager.yml"
    config.write_text(yaml.safe_dump(_alertmanager_config(servers), sort_keys=False))
    check = subprocess.run(
        [amtool, "check-config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert check.returncode == 0, f"amtool check-config failed:\n{check.stdout}{check.stderr}"

    members: list[Alertmanager] = []
    client = httpx.Client(timeout=10.0)
    try:
        for index in (1, 2):
            port = free_port()
            storage = e2e_dir / f"alertmanager-{index}"
            storage.mkdir()
            url = f"http://{HOST}:{port}"
            proc = start_process(
                f"alertmanager-{index}",
                [
                    binary,
                    f"--config.file={config}",
                    f"--storage.path={storage}",
                    f"--web.listen-address={HOST}:{port}",
                    f"--web.external-url={url}",
                    "--cluster.listen-address=",  # unclustered: both notify
                    "--log.level=debug",
                ],
                e2e_dir,
            )
            members.append(Alertmanager(f"alertmanager-{index}", url, proc))
            wait_ready(proc, f"{url}/-/ready")
        yield AlertmanagerPair(members, client)
    finally:
        client.close()
        stop_all([m.proc for m in members])


# -- Prometheus ------------------------------------------------------------------


@dataclass
class Prometheus:
    url: str
    proc: Proc


def start_prometheus(
    e2e_dir: Path, alertmanagers: AlertmanagerPair, rules: dict[str, Any], name: str
) -> Prometheus:
    """Start Prometheus evaluating `rules` every second, alerting both Alertmanagers."""
    binary = require_binary(PROMETHEUS_BIN)
    directory = e2e_dir / name
    (directory / "data").mkdir(parents=True)
    rules_file = directory / "rules.yml"
    rules_file.write_text(yaml.safe_dump(rules, sort_keys=False))
    config = directory / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"evaluation_interval": "1s", "scrape_interval": "15s"},
                "rule_files": [str(rules_file)],
                "alerting": {
                    "alertmanagers": [
                        {
                            "api_version": "v2",
                            "static_configs": [
                                {"targets": [am.address for am in alertmanagers.members]}
                            ],
                        }
                    ]
                },
            },
            sort_keys=False,
        )
    )
    port = free_port()
    url = f"http://{HOST}:{port}"
    proc = start_process(
        name,
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={directory / 'data'}",
            f"--web.listen-address={HOST}:{port}",
            f"--web.external-url={url}",
            # The first evaluation may run before the notifier has discovered the
            # Alertmanagers (its alerts are then dropped); resend soon, not in 1m.
            "--rules.alert.resend-delay=1s",
        ],
        e2e_dir,
    )
    wait_ready(proc, f"{url}/-/ready")
    return Prometheus(url, proc)


@pytest.fixture
def prometheus_factory(
    e2e_dir: Path, alertmanagers: AlertmanagerPair
) -> Iterator[Callable[[dict[str, Any]], Prometheus]]:
    """Start Prometheus with a rule file; stopped when the test ends."""
    require_binary(PROMETHEUS_BIN)
    started: list[Prometheus] = []

    def start(rules: dict[str, Any]) -> Prometheus:
        prom = start_prometheus(e2e_dir, alertmanagers, rules, f"prometheus-{len(started) + 1}")
        started.append(prom)
        return prom

    yield start
    stop_all([p.proc for p in started])


def start_scraping_prometheus(e2e_dir: Path, name: str, targets: list[str]) -> Prometheus:
    """Start Prometheus scraping `targets` (host:port) every second, with its own storage."""
    binary = require_binary(PROMETHEUS_BIN)
    directory = e2e_dir / name
    (directory / "data").mkdir(parents=True)
    config = directory / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
                "scrape_configs": [{"job_name": name, "static_configs": [{"targets": targets}]}],
            },
            sort_keys=False,
        )
    )
    port = free_port()
    url = f"http://{HOST}:{port}"
    proc = start_process(
        name,
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={directory / 'data'}",
            f"--web.listen-address={HOST}:{port}",
            f"--web.external-url={url}",
        ],
        e2e_dir,
    )
    wait_ready(proc, f"{url}/-/ready")
    return Prometheus(url, proc)
