"""A Kubernetes event and the same workload's Prometheus alert become one incident,
through HTTP ingest and the worker, with the service mapping from the config
(`sources.kubernetes.service_labels` / `namespace_as_service`)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from autoticket.api.app import create_app
from autoticket.clock import FixedClock
from autoticket.config import ConfigError, parse_config_text
from autoticket.service.runtime import Runtime
from conftest import token_headers
from sources.vendor_samples import sample

NOW = datetime(2024, 5, 14, 9, 25, tzinfo=UTC)
ROUTES = """
routes:
  - name: workloads
    group_by: [service, namespace]
"""


def _client(engine: Engine, sources_yaml: str) -> TestClient:
    config = parse_config_text(ROUTES + sources_yaml)
    runtime = Runtime(config, engine, start_worker=False, clock=FixedClock(NOW))
    client = TestClient(create_app(runtime), base_url="http://localhost")
    client.headers.update(token_headers(engine))
    return client


@pytest.fixture
def clients(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.delenv("AUTOTICKET_INGEST_TOKEN", raising=False)
    opened: list[TestClient] = []

    def make(sources_yaml: str = "") -> TestClient:
        client = _client(engine, sources_yaml)
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


def _prometheus(service: str, namespace: str = "shop") -> list[dict[str, Any]]:
    return [
        {
            "labels": {
                "alertname": "KubePodCrashLooping",
                "service": service,
                "namespace": namespace,
                "environment": "prod",
                "severity": "critical",
            },
            "annotations": {"summary": "pod is crash looping"},
            "startsAt": "2024-05-14T09:05:00Z",
            "endsAt": "2024-05-14T09:40:00Z",
        }
    ]


def _incidents(client: TestClient) -> list[dict[str, Any]]:
    client.app.state.runtime.worker.drain()  # type: ignore[attr-defined]
    r = client.get("/api/v1/incidents", params={"status": "all"})
    assert r.status_code == 200, r.text
    return r.json()["items"]


def _event_with_labels(labels: dict[str, str]) -> dict[str, Any]:
    event = copy.deepcopy(sample("kubernetes", "warning_backoff"))
    event["involvedObject"]["labels"] = {**labels, "environment": "prod"}
    event["involvedObject"]["name"] = "payments-worker-0"  # a StatefulSet's pod
    return event


def _send_both(client: TestClient, event: dict[str, Any], service: str) -> None:
    r = client.post("/api/v1/ingest/kubernetes", json=event)
    assert r.status_code == 202, r.text
    r = client.post("/api/v2/alerts", json=_prometheus(service))
    assert r.status_code == 200, r.text


def test_configured_service_labels_put_the_event_in_the_workloads_incident(clients: Any) -> None:
    event = _event_with_labels({"team.example.com/service": "payments"})
    client = clients("sources:\n  kubernetes:\n    service_labels: [team.example.com/service]\n")
    _send_both(client, event, "payments")
    [incident] = _incidents(client)
    assert incident["alert_count"] == 2


def test_without_the_setting_the_same_pair_stays_apart(clients: Any) -> None:
    """The control: the default labels do not know `team.example.com/service`."""
    event = _event_with_labels({"team.example.com/service": "payments"})
    client = clients()
    _send_both(client, event, "payments")
    assert len(_incidents(client)) == 2


def test_namespace_as_service_correlates_a_workload_without_service_labels(
    clients: Any,
) -> None:
    event = _event_with_labels({"tier": "backend"})
    client = clients("sources:\n  kubernetes:\n    namespace_as_service: true\n")
    _send_both(client, event, "shop")  # the namespace of the sample
    [incident] = _incidents(client)
    assert incident["alert_count"] == 2


def test_kubernetes_settings_belong_to_kubernetes() -> None:
    with pytest.raises(ConfigError, match="only apply to kubernetes"):
        parse_config_text("sources:\n  generic:\n    namespace_as_service: true\n")
