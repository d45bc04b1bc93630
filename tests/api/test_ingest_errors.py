"""Every bad input gets its status and an explaining JSON body; readable ones are kept."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from autoticket.api.app import create_app
from autoticket.config import load_config, parse_config_text
from autoticket.service.runtime import Runtime
from autoticket.sources import known_sources
from autoticket.store.dead_letters import get_dead_letter
from autoticket.store.tables import inbox
from conftest import am_alert, am_payload, token_headers


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    config = parse_config_text("ingest: {max_body_bytes: 2048}\n")
    runtime = Runtime(config, engine, start_worker=False)
    with TestClient(
        create_app(runtime), base_url="http://localhost", raise_server_exceptions=False
    ) as c:
        c.headers.update(token_headers(runtime.engine))  # replay needs an admin token
        c.runtime = runtime  # type: ignore[attr-defined]
        yield c


JSON = {"content-type": "application/json"}
CASES = [
    # (name, source, body, headers, status, code, field, fragment of message, kept?)
    (
        "malformed json",
        "alertmanager",
        b'{"alerts": [',
        JSON,
        400,
        "malformed_json",
        "body",
        "malformed JSON",
        True,
    ),
    ("not utf-8", "generic", b"\xff\xfe{", JSON, 400, "malformed_json", "body", "malformed", True),
    (
        "alerts missing",
        "alertmanager",
        b'{"version": "4"}',
        JSON,
        422,
        "invalid_payload",
        "alerts",
        "",
        True,
    ),
    (
        "labels not strings",
        "alertmanager",
        b'{"alerts": [{"status": "firing", "labels": {"a": 1},'
        b' "startsAt": "2026-01-01T00:00:00Z"}]}',
        JSON,
        422,
        "invalid_payload",
        "alerts[0].labels.a",
        "",
        True,
    ),
    (
        "generic without title",
        "generic",
        b'{"severity": "critical"}',
        JSON,
        422,
        "invalid_payload",
        "title",
        "",
        True,
    ),
    (
        "generic nothing usable",
        "generic",
        b'{"tags": ["a"], "count": 3}',
        JSON,
        422,
        "invalid_payload",
        "title",
        "nothing usable",
        True,
    ),
    ("unknown source", "nagios", b"{}", JSON, 404, "unknown_source", "source", "nagios", True),
    (
        "wrong content type",
        "generic",
        b'{"title": "x"}',
        {"content-type": "text/plain"},
        415,
        "unsupported_media_type",
        "content-type",
        "text/plain",
        True,
    ),
    (
        "no content type",
        "generic",
        b'{"title": "x"}',
        {},
        415,
        "unsupported_media_type",
        "content-type",
        "(none)",
        True,
    ),
    (
        "too large",
        "generic",
        b'{"title": "' + b"x" * 4096 + b'"}',
        JSON,
        413,
        "payload_too_large",
        "body",
        "2048",
        False,
    ),
]


@pytest.mark.parametrize(
    ("source", "body", "headers", "status", "code", "field", "fragment", "kept"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_bad_input(
    client: TestClient,
    source: str,
    body: bytes,
    headers: dict[str, str],
    status: int,
    code: str,
    field: str,
    fragment: str,
    kept: bool,
) -> None:
    r = client.post(f"/api/v1/ingest/{source}", content=body, headers=headers)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["status"] == status
    assert error["code"] == code
    assert error["field"] == field
    assert fragment in error["message"]
    letters = client.get("/api/v1/dead-letters").json()["items"]
    if kept:
        assert error["dead_letter_id"] == letters[0]["id"]
        assert letters[0]["status_code"] == status
        kept_body = client.get(f"/api/v1/dead-letters/{letters[0]['id']}").json()["body"]
        assert kept_body["size"] == len(body)
        if kept_body["encoding"] == "utf-8":
            assert kept_body["text"].encode() == body
        else:  # not text: described, never shown
            assert kept_body == {"encoding": "binary", "size": len(body), "text": None}
        assert _stored_body(client, error["dead_letter_id"]) == body  # kept whole, for replay
    else:
        assert letters == []


def _stored_body(client: TestClient, dead_letter_id: int) -> bytes:
    runtime = client.runtime  # type: ignore[attr-defined]
    with runtime.engine.connect() as conn:
        row = get_dead_letter(conn, dead_letter_id)
    assert row is not None
    return bytes(row.body)


def test_unknown_source_lists_the_known_ones(client: TestClient) -> None:
    r = client.post("/api/v1/ingest/nagios", json={})
    known = r.json()["error"]["known_sources"]
    assert known == known_sources()
    assert {"alertmanager", "generic", "grafana", "prometheus"} <= set(known)


def test_token_required_when_configured(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOTICKET_INGEST_TOKEN", "s3cret-token")
    r = client.post("/api/v1/ingest/alertmanager", json=am_payload(am_alert()))
    assert r.status_code == 401
    assert r.json()["error"]["field"] == "authorization"
    assert "s3cret" not in r.text
    r = client.post(
        "/api/v1/ingest/alertmanager",
        json=am_payload(am_alert()),
        headers={"authorization": "Bearer s3cret-token"},
    )
    assert r.status_code == 202


def test_dead_letter_replay_after_the_cause_is_fixed(client: TestClient) -> None:
    """A payload rejected as unknown source is kept; replaying it still fails with reason."""
    r = client.post("/api/v1/ingest/nagios", json={"title": "x"})
    dead_id = r.json()["error"]["dead_letter_id"]
    r = client.post(f"/api/v1/dead-letters/{dead_id}/replay")
    assert r.status_code == 422
    assert "nagios" in r.json()["error"]["message"]
    letter = client.get(f"/api/v1/dead-letters/{dead_id}").json()
    assert letter["replay_count"] == 1
    assert letter["replay_result"].startswith("failed")


def test_dead_letter_replay_feeds_the_pipeline(client: TestClient) -> None:
    """A readable payload kept at ingest is fed in on replay once it parses."""
    from datetime import UTC, datetime

    from autoticket.model import DeadLetter, Delivery
    from autoticket.store.dead_letters import add_dead_letters

    runtime = client.runtime  # type: ignore[attr-defined]
    body = b'{"title": "Disk almost full", "service": "search", "severity": "high"}'
    with runtime.engine.begin() as conn:
        [dead_id] = add_dead_letters(
            conn,
            [
                DeadLetter(
                    Delivery("d-1", "generic", datetime.now(UTC), body, {}),
                    "normalize",
                    "simulated failure",
                )
            ],
        )
    r = client.post(f"/api/v1/dead-letters/{dead_id}/replay")
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1
    runtime.worker.drain()
    [ticket] = client.get("/api/v1/tickets").json()["items"]
    assert ticket["title"] == "Disk almost full"
    assert ticket["priority"] == "P2"  # high -> P2 by the default priority map


def test_unknown_routes_and_ids_answer_json(client: TestClient) -> None:
    r = client.get("/api/v1/incidents/12345")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = client.get("/api/v1/incidents/abc")
    assert r.status_code == 422 and r.json()["error"]["field"] == "path.incident_id"
    r = client.get("/api/v1/tickets/7")
    assert r.status_code == 404


def test_health_ready_metrics_openapi(client: TestClient) -> None:
    client.post("/api/v1/ingest/alertmanager", json=am_payload(am_alert()))
    client.post("/api/v1/ingest/alertmanager", content=b"{", headers=JSON)
    client.runtime.worker.drain()  # type: ignore[attr-defined]
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"
    text = client.get("/metrics").text
    assert 'autoticket_events_received_total{outcome="accepted",source="alertmanager"} 1.0' in text
    assert 'autoticket_dead_letters_total{source="alertmanager",stage="ingest"} 1.0' in text
    assert 'autoticket_tickets_total{action="open",sink="builtin"} 1.0' in text
    assert 'autoticket_incidents_total{kind="opened"} 1.0' in text
    assert "autoticket_event_to_ticket_seconds_count 1.0" in text
    assert 'autoticket_stage_duration_seconds_count{stage="correlate"} 1.0' in text
    assert "autoticket_inbox_pending 0.0" in text
    paths = client.get("/openapi.json").json()["paths"]
    assert "/api/v1/ingest/{source}" in paths and "/api/v1/incidents/{incident_id}" in paths


def test_bundled_config_loads() -> None:
    assert load_config(None).routes[-1].name == "default"


def test_storage_failure_answers_503_so_the_sender_retries(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from autoticket.store import inbox as inbox_store

    def broken(*_: object, **__: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(inbox_store, "append", broken)
    r = client.post("/api/v1/ingest/alertmanager", json=am_payload(am_alert()))
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "storage_unavailable"
    monkeypatch.undo()
    r = client.post("/api/v1/ingest/alertmanager", json=am_payload(am_alert()))
    assert r.status_code == 202  # the committer thread survived the failure


def test_long_source_name_is_kept_as_a_dead_letter(client: TestClient) -> None:
    """dead_letters.source is 64 characters: a longer name in the URL is clipped, not a 500."""
    source = "s" * 70
    r = client.post(f"/api/v1/ingest/{source}", content=b'{"title": "x"}', headers=JSON)
    assert r.status_code == 404, r.text
    error = r.json()["error"]
    assert error["code"] == "unknown_source"
    dead_id = error["dead_letter_id"]
    assert isinstance(dead_id, int)
    letter = client.get(f"/api/v1/dead-letters/{dead_id}").json()
    assert letter["source"] == source[:64]
    assert _stored_body(client, dead_id) == b'{"title": "x"}'


def test_long_field_path_is_kept_as_a_dead_letter(client: TestClient) -> None:
    """dead_letters.field is 256 characters: a longer field path is clipped, not a 500."""
    key = "k" * 300
    r = client.post("/api/v1/ingest/generic", json={"title": "x", "labels": {key: 1}})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["field"] == f"labels.{key}"  # the answer names the whole field
    letter = client.get(f"/api/v1/dead-letters/{error['dead_letter_id']}").json()
    assert letter["field"] == f"labels.{key}"[:256]


def test_dead_letter_storage_failure_still_answers_the_4xx(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The sender learns what is wrong with its request, not the storage error."""
    from autoticket.service import committer

    def broken(*_: object, **__: object) -> list[int]:
        raise RuntimeError("INSERT INTO dead_letters ... [parameters: {'body': b'payload-bits'}]")

    monkeypatch.setattr(committer, "add_dead_letters", broken)
    with caplog.at_level(logging.ERROR, logger="autoticket.api"):
        r = client.post("/api/v1/ingest/nagios", json={"title": "payload-bits"})
    assert r.status_code == 404, r.text
    error = r.json()["error"]
    assert error["code"] == "unknown_source"
    assert error["dead_letter_id"] is None
    assert "INSERT" not in r.text and "parameters" not in r.text
    assert any(rec.exc_info and "INSERT INTO" in str(rec.exc_info[1]) for rec in caplog.records)
    monkeypatch.undo()
    r = client.post("/api/v1/ingest/nagios", json={"title": "x"})
    assert isinstance(r.json()["error"]["dead_letter_id"], int)  # the committer survived


def test_unexpected_error_answers_500_without_its_text(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Exception text can hold SQL and payload data: it goes to the log, not the client."""
    from autoticket.api import incidents

    def broken(*_: object, **__: object) -> None:
        raise ValueError("SELECT * FROM incidents WHERE secret='payload-bits'")

    monkeypatch.setattr(incidents, "incident_detail", broken)
    with caplog.at_level(logging.ERROR, logger="autoticket.api"):
        r = client.get("/api/v1/incidents/1")
    assert r.status_code == 500
    assert r.json() == {
        "error": {
            "status": 500,
            "code": "internal_error",
            "message": "internal error (ValueError); see the server log",
        }
    }
    [record] = [rec for rec in caplog.records if rec.name == "autoticket.api"]
    assert record.exc_info is not None and record.exc_info[0] is ValueError
    assert record.exc_info[2] is not None  # with its traceback
    assert "/api/v1/incidents/1" in record.getMessage()


def test_readyz_names_the_worker_failure_without_its_sql(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/readyz gives a reason code; the SQL and values of the error stay in the log."""
    import threading

    from sqlalchemy.exc import OperationalError

    runtime: Runtime = client.runtime  # type: ignore[attr-defined]
    failed = threading.Event()

    def broken() -> object:
        failed.set()
        raise OperationalError("SELECT secret_column FROM t WHERE k = 'v'", {}, Exception("down"))

    monkeypatch.setattr(runtime.worker, "run_once", broken)
    runtime.worker.start()
    try:
        assert failed.wait(10), "the worker never ran a round"
        for _ in range(200):
            if runtime.worker.last_error:
                break
            failed.wait(0.01)
    finally:
        runtime.worker.stop()
    assert runtime.worker.last_error == "OperationalError/Exception"
    monkeypatch.setattr(runtime, "start_worker", True)
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["worker"] == "failing: OperationalError/Exception"
    assert "secret_column" not in ready.text


def test_chunked_body_over_the_limit_is_refused_while_streaming(client: TestClient) -> None:
    """No Content-Length to trust: the limit must hold on the bytes as they arrive."""
    alerts = [am_alert(instance=f"host-{i:03d}") for i in range(40)]
    body = json.dumps(am_payload(*alerts)).encode()
    assert len(body) >= 10_000  # 5x the 2 KB limit, and a valid payload otherwise
    sent: list[int] = []

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 512):
            sent.append(start)
            yield body[start : start + 512]

    request = client.build_request(
        "POST", "/api/v1/ingest/alertmanager", content=chunks(), headers=JSON
    )
    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"
    r = client.send(request)
    assert len(sent) > 1  # it was streamed, in several chunks
    assert r.status_code == 413, r.text
    error = r.json()["error"]
    assert error["code"] == "payload_too_large"
    assert error["limit"] == 2048
    # A 413 is refused before anything is stored: no dead letter, nothing to process.
    assert client.get("/api/v1/dead-letters").json()["items"] == []
    runtime = client.runtime  # type: ignore[attr-defined]
    with runtime.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(inbox)).scalar_one() == 0
    runtime.worker.drain()
    assert client.get("/api/v1/tickets").json()["items"] == []


def test_too_many_events_in_one_delivery_are_refused_and_kept(engine: Engine) -> None:
    """A storm notification is refused (413, naming the field and the limit) before it
    becomes one enormous batch, and kept as a dead letter for replay."""
    config = parse_config_text("ingest: {max_events_per_delivery: 3}\n")
    runtime = Runtime(config, engine, start_worker=False)
    with TestClient(create_app(runtime), base_url="http://localhost") as client:
        alerts = [am_alert(alertname=f"A{i}") for i in range(4)]
        r = client.post("/api/v1/ingest/alertmanager", json=am_payload(*alerts))
        assert r.status_code == 413, r.text
        error = r.json()["error"]
        assert (error["code"], error["field"]) == ("too_many_events", "alerts")
        assert "4 in one delivery (at most 3" in error["message"]
        letter = client.get(f"/api/v1/dead-letters/{error['dead_letter_id']}").json()
        assert letter["field"] == "alerts"
        r = client.post("/api/v1/ingest/alertmanager", json=am_payload(*alerts[:3]))
        assert r.status_code == 202 and r.json()["accepted"] == 3


def test_rejections_are_counted_as_ingest_dead_letters_by_known_source(
    client: TestClient,
) -> None:
    """An unknown source name is counted as "unknown": the URL never becomes a label value."""
    client.post("/api/v1/ingest/nagios", json={"title": "x"})
    client.post("/api/v1/ingest/generic", json={"title": 1})
    [first, second] = client.get("/api/v1/dead-letters").json()["items"]
    assert {first["stage"], second["stage"]} == {"ingest"}
    metrics = client.get("/metrics").text
    assert 'autoticket_dead_letters_total{source="unknown",stage="ingest"} 1.0' in metrics
    assert 'autoticket_dead_letters_total{source="generic",stage="ingest"} 1.0' in metrics
    assert 'source="nagios"' not in metrics


def test_a_lost_dead_letter_is_logged_with_its_delivery_and_status(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from autoticket.service import committer

    def broken(*_: object, **__: object) -> list[int]:
        raise RuntimeError("disk full")

    monkeypatch.setattr(committer, "add_dead_letters", broken)
    with caplog.at_level(logging.ERROR, logger="autoticket.api"):
        client.post("/api/v1/ingest/nagios", json={"title": "x"})
    [record] = [r for r in caplog.records if r.name == "autoticket.api"]
    assert re.fullmatch(
        r"could not store the dead letter of delivery [0-9a-f]{32} \(404 unknown_source\)",
        record.getMessage(),
    )
    assert "autoticket_dead_letters_total{" not in client.get("/metrics").text


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("application/json", 202),
        ("Application/JSON; charset=utf-8", 202),
        ("application/json; charset=utf-8; boundary=x", 202),
        ("text/json", 202),
        ("application/vnd.autoticket+json", 202),
        ("application/xml", 415),
        ("text/plain+json", 415),
        ("application/jsonp", 415),
    ],
)
def test_json_media_types(client: TestClient, content_type: str, status: int) -> None:
    """JSON is application/json, text/json or any application/*+json, parameters aside."""
    r = client.post(
        "/api/v1/ingest/generic", content=b'{"title": "x"}', headers={"content-type": content_type}
    )
    assert r.status_code == status, r.text


def _sized_body(size: int) -> bytes:
    head, tail = b'{"title": "', b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


def test_a_body_of_exactly_the_limit_is_accepted(client: TestClient) -> None:
    body = _sized_body(2048)
    r = client.post("/api/v1/ingest/generic", content=body, headers=JSON)
    assert r.status_code == 202, r.text


def test_a_declared_length_over_the_limit_is_refused_before_reading(client: TestClient) -> None:
    r = client.post("/api/v1/ingest/generic", content=_sized_body(2049), headers=JSON)
    assert r.status_code == 413
    error = r.json()["error"]
    assert error["message"] == "body of 2049 bytes exceeds the limit of 2048 bytes"
    assert error["limit"] == 2048
    assert error["field"] == "body"


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", "Token: s3cret-token", "s3cret-token", "Bearer "],
)
def test_only_the_bearer_token_is_accepted(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, authorization: str | None
) -> None:
    monkeypatch.setenv("AUTOTICKET_INGEST_TOKEN", "s3cret-token")
    headers = {} if authorization is None else {"authorization": authorization}
    r = client.post("/api/v1/ingest/alertmanager", json=am_payload(am_alert()), headers=headers)
    assert r.status_code == 401
    error = r.json()["error"]
    assert error["code"] == "unauthorized"
    # None: the client's own API token (a wrong ingest token) is what goes out.
    missing = authorization in ("Bearer ", "s3cret-token", "Token: s3cret-token")
    assert error["reason"] == ("missing_token" if missing else "wrong_token")
    assert error["message"].startswith(
        "missing ingest token for source 'alertmanager'" if missing else "wrong ingest token"
    )
    r = client.post(
        "/api/v1/ingest/alertmanager",
        json=am_payload(am_alert()),
        headers={"authorization": "bearer s3cret-token"},  # the scheme in any case
    )
    assert r.status_code == 202
