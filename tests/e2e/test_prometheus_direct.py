"""A real Prometheus alerting straight to autoticket's /api/v2/alerts (no Alertmanager).

Prometheus scrapes a tiny exporter whose gauge the test sets, evaluates one
rule every second and posts its alerts to every autoticket server of the
session (`alerting.alertmanagers` with their host:port as targets). Raising
the gauge opens one ticket per server; Prometheus re-sends the firing alert
every second (`--rules.alert.resend-delay=1s`), which autoticket drops as
unchanged; lowering the gauge makes Prometheus send the alert with `endsAt`
in the past, and the ticket resolves after the test config's resolve_after.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from .conftest import (
    HOST,
    PROMETHEUS_BIN,
    Autoticket,
    Prometheus,
    free_port,
    require_binary,
    start_process,
    stop_all,
    wait_ready,
)
from .exposition import ExpositionServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

T = TypeVar("T")
WAIT = 30.0
POLL = 0.2
METRIC = "e2e_direct_queue_stuck"
ALERTNAME = "E2EDirectQueueStuck"


@dataclass
class Gauge:
    """Serves /metrics with one gauge at the value the test sets."""

    value: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ExpositionServer | None = None

    def set(self, value: float) -> None:
        with self.lock:
            self.value = value

    def exposition(self) -> bytes:
        with self.lock:
            value = self.value
        return f'# TYPE {METRIC} gauge\n{METRIC}{{service="checkout"}} {value}\n'.encode()

    @property
    def address(self) -> str:
        assert self.server is not None
        return self.server.address

    def start(self) -> None:
        self.server = ExpositionServer(self.exposition)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


@pytest.fixture(scope="session")
def gauge() -> Iterator[Gauge]:
    require_binary(PROMETHEUS_BIN)
    served = Gauge()
    served.start()
    yield served
    served.stop()


@pytest.fixture(scope="session")
def direct_prometheus(
    e2e_dir: Path, gauge: Gauge, servers: list[Autoticket]
) -> Iterator[Prometheus]:
    binary = require_binary(PROMETHEUS_BIN)
    directory = e2e_dir / "prometheus-direct"
    (directory / "data").mkdir(parents=True)
    rules = {
        "groups": [
            {
                "name": "direct",
                "rules": [
                    {
                        "alert": ALERTNAME,
                        "expr": f"{METRIC} > 0",
                        "for": "1s",
                        "labels": {"severity": "critical"},
                        "annotations": {"summary": "checkout queue is stuck"},
                    }
                ],
            }
        ]
    }
    (directory / "rules.yml").write_text(yaml.safe_dump(rules, sort_keys=False))
    targets = [s.url.removeprefix("http://") for s in servers]
    config = {
        "global": {"evaluation_interval": "1s", "scrape_interval": "1s", "scrape_timeout": "1s"},
        "rule_files": [str(directory / "rules.yml")],
        "scrape_configs": [{"job_name": "gauge", "static_configs": [{"targets": [gauge.address]}]}],
        # autoticket in the place of an Alertmanager: Prometheus posts to /api/v2/alerts.
        "alerting": {
            "alertmanagers": [{"api_version": "v2", "static_configs": [{"targets": targets}]}]
        },
    }
    (directory / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    port = free_port()
    url = f"http://{HOST}:{port}"
    proc = start_process(
        "prometheus-direct",
        [
            binary,
            f"--config.file={directory / 'prometheus.yml'}",
            f"--storage.tsdb.path={directory / 'data'}",
            f"--web.listen-address={HOST}:{port}",
            "--rules.alert.resend-delay=1s",
        ],
        e2e_dir,
    )
    try:
        wait_ready(proc, f"{url}/-/ready")
        yield Prometheus(url, proc)
    finally:
        stop_all([proc])


def eventually(check: Callable[[], T], what: str) -> T:
    deadline = time.monotonic() + WAIT
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise AssertionError(f"not within {WAIT:g}s: {what}") from None
            time.sleep(POLL)


def the_ticket(server: Autoticket) -> dict[str, Any]:
    tickets = server.tickets(ALERTNAME)
    assert len(tickets) <= 1, f"[{server.name}] more than one ticket: {tickets}"
    assert tickets, f"[{server.name}] no ticket yet"
    return tickets[0]


def unchanged_resends(server: Autoticket) -> float:
    pattern = r'autoticket_events_received_total\{outcome="unchanged",source="prometheus"\} (\S+)'
    found = re.search(pattern, server.metrics())
    return float(found.group(1)) if found else 0.0


def test_a_rule_firing_opens_one_ticket_and_clearing_resolves_it(
    servers: list[Autoticket], gauge: Gauge, direct_prometheus: Prometheus
) -> None:
    gauge.set(1)
    for server in servers:
        ticket = eventually(lambda s=server: the_ticket(s), f"[{server.name}] a ticket")
        assert ticket["status"] != "resolved"
    # Prometheus keeps re-sending the firing alert every second: dropped, not stored.
    for server in servers:

        def dropped(s: Autoticket = server) -> None:
            assert unchanged_resends(s) >= 2, f"[{s.name}] no unchanged re-send dropped yet"

        eventually(dropped, f"[{server.name}] re-sends dropped")
        (incident,) = server.incidents(ALERTNAME)
        (alert,) = server.incident(incident["id"])["alerts"]
        assert alert["labels"]["alertname"] == ALERTNAME
        assert alert["labels"]["service"] == "checkout"

    gauge.set(0)
    for server in servers:

        def resolved(s: Autoticket = server) -> dict[str, Any]:
            ticket = the_ticket(s)
            assert ticket["status"] == "resolved", f"[{s.name}] ticket is {ticket['status']}"
            return ticket

        eventually(resolved, f"[{server.name}] the ticket resolved")
