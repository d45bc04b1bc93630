"""CloudEvents 1.0: structured, batch and binary mode; binary survives storage and replay."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from vendor_samples import RECEIVED, parse, refusal, sample

from autoticket.api.app import create_app
from autoticket.config import parse_config_text
from autoticket.model import AlertStatus, Delivery, Severity
from autoticket.service.runtime import Runtime
from autoticket.sources import parse_delivery
from autoticket.store.tables import inbox
from conftest import token_headers

BINARY_HEADERS = {
    "ce-specversion": "1.0",
    "ce-id": "b3f1c0de-binary",
    "ce-source": "//monitoring.example.com/checks/checkout-synthetic",
    "ce-type": "com.example.check.failed",
    "ce-subject": "checkout/login-flow",
    "ce-time": "2024-05-14T09:19:30Z",
}
BINARY_DATA = {
    "title": "Synthetic login flow fails",
    "severity": "critical",
    "service": "checkout",
    "environment": "prod",
}


def test_structured_firing_then_resolved() -> None:
    (fired,) = parse("cloudevents", sample("cloudevents", "structured_firing"))
    (resolved,) = parse("cloudevents", sample("cloudevents", "structured_resolved"))
    assert fired.status is AlertStatus.FIRING and fired.severity is Severity.CRITICAL
    assert fired.labels["alertname"] == "com.example.check.failed"
    assert fired.labels["service"] == "checkout"
    assert resolved.status is AlertStatus.RESOLVED
    assert resolved.fingerprint == fired.fingerprint
    assert resolved.ends_at == resolved.occurred_at


def test_batch_mode_and_base64_data() -> None:
    pipeline, backlog = parse("cloudevents", sample("cloudevents", "batch"))
    assert pipeline.title == "Release pipeline failed"
    assert pipeline.severity is Severity.HIGH
    assert backlog.title == "com.example.invoice.backlog"  # data_base64: attributes only
    assert backlog.severity is Severity.WARNING
    assert [pipeline.id, backlog.id] == ["d1-0", "d1-1"]


def test_binary_mode_reads_ce_headers() -> None:
    (event,) = parse("cloudevents", BINARY_DATA, BINARY_HEADERS)
    (structured,) = parse("cloudevents", sample("cloudevents", "structured_firing"))
    assert event.title == "Synthetic login flow fails"
    assert event.source_meta["ce_id"] == "b3f1c0de-binary"
    assert event.fingerprint == structured.fingerprint
    headers = {k.upper(): v for k, v in BINARY_HEADERS.items()}  # header names are case-blind
    assert parse("cloudevents", BINARY_DATA, headers)[0].fingerprint == event.fingerprint


@pytest.mark.parametrize(
    ("payload", "headers", "field", "fragment"),
    [
        ("x", {}, "body", "structured mode"),
        (sample("cloudevents", "structured_firing") | {"id": None}, {}, "id", "required"),
        (
            sample("cloudevents", "structured_firing") | {"specversion": "0.3"},
            {},
            "specversion",
            "'1.0'",
        ),
        (sample("cloudevents", "structured_firing") | {"time": "now"}, {}, "time", "RFC 3339"),
        (sample("cloudevents", "structured_firing") | {"subject": 1}, {}, "subject", "string"),
        (
            sample("cloudevents", "structured_firing") | {"data": {"status": "ok"}},
            {},
            "data.status",
            "firing",
        ),
        (
            sample("cloudevents", "structured_firing") | {"data": {"title": 5}},
            {},
            "data.title",
            "string",
        ),
        ([sample("cloudevents", "structured_firing"), 1], {}, "[1]", "object"),
        (
            BINARY_DATA,
            {k: v for k, v in BINARY_HEADERS.items() if k != "ce-type"},
            "ce-type",
            "required",
        ),
        (BINARY_DATA | {"severity": 3}, BINARY_HEADERS, "severity", "string"),
    ],
)
def test_malformed_names_the_attribute(
    payload: Any, headers: dict[str, str], field: str, fragment: str
) -> None:
    exc = refusal("cloudevents", payload, headers)
    assert exc.field == field
    assert fragment in exc.reason


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    runtime = Runtime(
        parse_config_text("ingest: {max_body_bytes: 65536}\n"), engine, start_worker=False
    )
    with TestClient(
        create_app(runtime), base_url="http://localhost", raise_server_exceptions=False
    ) as c:
        c.headers.update(token_headers(runtime.engine))
        yield c


def test_binary_mode_over_http_keeps_the_ce_headers_for_replay(
    client: TestClient, engine: Engine
) -> None:
    response = client.post(
        "/api/v1/ingest/cloudevents",
        content=json.dumps(BINARY_DATA),
        headers={"content-type": "application/json", **BINARY_HEADERS},
    )
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == 1
    with engine.connect() as conn:
        stored = conn.execute(
            select(inbox.c.headers).where(inbox.c.delivery_id == response.json()["delivery_id"])
        ).scalar_one()
    assert {k: v for k, v in stored.items() if k.startswith("ce-")} == BINARY_HEADERS
    structured = client.post(
        "/api/v1/ingest/cloudevents",
        content=json.dumps(sample("cloudevents", "structured_firing")),
        headers={"content-type": "application/cloudevents+json"},
    )
    assert structured.status_code == 202, structured.text


def test_replay_of_a_binary_delivery_uses_its_stored_headers() -> None:
    body = json.dumps(BINARY_DATA).encode()
    stored = Delivery("d1", "cloudevents", RECEIVED, body, dict(BINARY_HEADERS))
    assert parse_delivery(stored, 1000) == parse("cloudevents", BINARY_DATA, BINARY_HEADERS)
