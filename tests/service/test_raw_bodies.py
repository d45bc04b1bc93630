"""retention.raw_bodies: keep stores bodies as received; redact stores them masked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Literal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from autoticket.api.app import create_app
from autoticket.checks import parse_checked
from autoticket.clock import FixedClock
from autoticket.config import Config, ConfigError
from autoticket.service.runtime import Runtime
from autoticket.store.tables import dead_letters, inbox
from conftest import am_alert, am_payload

SECRET = "RawBodySecret0123"


def _runtime(engine: Engine, config: Config, t0: datetime, mode: str) -> Runtime:
    retention = config.retention.model_copy(update={"raw_bodies": mode})
    return Runtime(
        config.model_copy(update={"retention": retention}),
        engine,
        clock=FixedClock(t0),
        start_worker=False,
    )


@pytest.fixture(params=["keep", "redact"])
def mode(request: pytest.FixtureRequest) -> Literal["keep", "redact"]:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def client(engine: Engine, config: Config, t0: datetime, mode: str) -> Iterator[TestClient]:
    runtime = _runtime(engine, config, t0, mode)
    try:
        with TestClient(create_app(runtime), base_url="http://localhost") as c:
            yield c
    finally:
        runtime.stop()


def _leaky_body() -> bytes:
    alert = am_alert(alertname="RawLeak", db_password=SECRET)
    annotations = alert["annotations"]
    assert isinstance(annotations, dict)
    annotations["description"] = f"login with token={SECRET} failed"
    return json.dumps(am_payload(alert)).encode()


def test_inbox_body_is_kept_or_masked(client: TestClient, engine: Engine, mode: str) -> None:
    body = _leaky_body()
    r = client.post(
        "/api/v1/ingest/alertmanager", content=body, headers={"content-type": "application/json"}
    )
    assert r.status_code == 202, r.text
    client.app.state.runtime.worker.drain()  # type: ignore[attr-defined]
    with engine.connect() as conn:
        [(stored, status)] = conn.execute(select(inbox.c.body, inbox.c.status)).all()
    assert status == "done"  # a masked body is processed like any other
    if mode == "keep":
        assert bytes(stored) == body
    else:
        assert SECRET.encode() not in bytes(stored)
        alert = json.loads(bytes(stored))["alerts"][0]
        assert alert["labels"]["db_password"] == "[REDACTED:password]"
        assert alert["annotations"]["description"] == "login with token=[REDACTED:token] failed"
    tickets = client.get("/api/v1/tickets").json()["items"]
    assert [t["title"] for t in tickets] == ["RawLeak on checkout"]


def test_only_bodies_with_secrets_change(client: TestClient, engine: Engine, mode: str) -> None:
    clean = json.dumps(am_payload(am_alert()), indent=2).encode()
    ids = []
    for body in (clean, _leaky_body()):
        r = client.post(
            "/api/v1/ingest/alertmanager",
            content=body,
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 202, r.text
        ids.append(r.json()["delivery_id"])
    with engine.connect() as conn:
        stored = dict(conn.execute(select(inbox.c.delivery_id, inbox.c.body)).all())
    assert bytes(stored[ids[0]]) == clean  # byte for byte: replay stays exact
    assert (SECRET.encode() in bytes(stored[ids[1]])) == (mode == "keep")


def test_dead_letter_body_and_headers_are_kept_or_masked(
    client: TestClient, engine: Engine, mode: str
) -> None:
    body = f'{{"alerts": [ password={SECRET} '.encode()  # malformed JSON: a dead letter
    r = client.post(
        "/api/v1/ingest/alertmanager",
        content=body,
        headers={"content-type": "application/json", "user-agent": f"probe token={SECRET}"},
    )
    assert r.status_code == 400, r.text
    with engine.connect() as conn:
        [(stored, headers)] = conn.execute(select(dead_letters.c.body, dead_letters.c.headers))
    if mode == "keep":
        assert bytes(stored) == body and SECRET in headers["user-agent"]
    else:
        assert bytes(stored) == b'{"alerts": [ password=[REDACTED:password] '
        assert headers["user-agent"] == "probe token=[REDACTED:token]"


def test_redacting_raw_bodies_needs_redaction_enabled() -> None:
    text = "redaction: {enabled: false}\nretention: {raw_bodies: redact}\n"
    with pytest.raises(ConfigError, match=r"retention\.raw_bodies.*redaction\.enabled"):
        parse_checked(text)
    with pytest.raises(ConfigError, match="raw_bodies"):
        parse_checked("retention: {raw_bodies: scrub}\n")
