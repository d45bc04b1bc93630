"""The dead-letter API: redacted views, and replays that feed events in once.

Fake secrets are assembled from pieces at runtime so that no literal in this
file looks like a live credential to secret scanners.
"""

from __future__ import annotations

import string
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from autoticket.api import dead_letters as dead_letters_api
from autoticket.api.app import create_app
from autoticket.config import load_config
from autoticket.errors import PayloadError
from autoticket.model import DeadLetter, Delivery
from autoticket.service.runtime import Runtime
from autoticket.sources import parse_delivery
from autoticket.store.dead_letters import add_dead_letters, get_dead_letter
from autoticket.store.tables import inbox
from conftest import token_headers

ALNUM = string.ascii_letters + string.digits
GHP = "gh" + "p_" + "".join(ALNUM[(i * 17 + i * i + 7) % len(ALNUM)] for i in range(36))
PASSWORD = "hunter" + "2"
JSON = {"content-type": "application/json"}
VALID = b'{"title": "Disk almost full", "service": "search", "severity": "high"}'


@pytest.fixture
def runtime(engine: Engine) -> Runtime:
    return Runtime(load_config(None), engine, start_worker=False)


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(
        create_app(runtime), base_url="http://localhost", raise_server_exceptions=False
    ) as c:
        c.headers.update(token_headers(runtime.engine))  # replay needs an admin token
        yield c


def _store(
    runtime: Runtime,
    body: bytes,
    headers: dict[str, str] | None = None,
    error: str = "simulated failure",
    delivery_id: str = "d-1",
) -> int:
    delivery = Delivery(delivery_id, "generic", datetime.now(UTC), body, headers or {})
    with runtime.engine.begin() as conn:
        [dead_id] = add_dead_letters(conn, [DeadLetter(delivery, "normalize", error)])
    return dead_id


def _inbox_ids(runtime: Runtime) -> list[str]:
    with runtime.engine.connect() as conn:
        return list(conn.execute(select(inbox.c.delivery_id).order_by(inbox.c.id)).scalars())


# --- views --------------------------------------------------------------------------


def test_views_mask_secrets_in_the_body(client: TestClient, runtime: Runtime) -> None:
    body = f'{{"title": "db down password={PASSWORD}", "severity": 7, "tag": "{GHP}"}}'.encode()
    r = client.post("/api/v1/ingest/generic", content=body, headers=JSON)
    assert r.status_code == 422, r.text
    dead_id = r.json()["error"]["dead_letter_id"]
    listed = client.get("/api/v1/dead-letters")
    detail = client.get(f"/api/v1/dead-letters/{dead_id}")
    for response in (listed, detail):
        assert PASSWORD not in response.text and GHP not in response.text
    [item] = listed.json()["items"]
    view = detail.json()
    preview = item.pop("preview")
    assert item == {k: v for k, v in view.items() if k != "body"}
    assert preview == {**view["body"], "truncated": False}  # a short body: preview is all
    assert view["redacted"] == {"password": 1, "github_token": 1}
    assert view["body"]["encoding"] == "utf-8"
    assert "password=[REDACTED:password]" in view["body"]["text"]
    assert "[REDACTED:github_token]" in view["body"]["text"]
    assert view["size"] == view["body"]["size"] == len(body)
    with runtime.engine.connect() as conn:
        row = get_dead_letter(conn, dead_id)
    assert bytes(row.body) == body  # the raw body stays stored, for replay


def test_views_leave_out_credential_headers(client: TestClient, runtime: Runtime) -> None:
    headers = {
        "authorization": "Bearer " + GHP,
        "Proxy-Authorization": "Basic " + PASSWORD,
        "cookie": "session=" + PASSWORD,
        "x-api-key": PASSWORD,
        "X-Gitlab-Token": PASSWORD,
        "x-hub-signature-256": "sha256=" + PASSWORD,
        "content-type": "application/json",
        "user-agent": "Alertmanager/0.27.0",
        "x-request-id": "req-1",
        "x-forwarded-for": "10.0.0.1",
    }
    dead_id = _store(runtime, b'{"title": "x"}', headers)
    view = client.get(f"/api/v1/dead-letters/{dead_id}").json()
    assert view["headers"] == {
        "content-type": "application/json",
        "user-agent": "Alertmanager/0.27.0",
        "x-request-id": "req-1",
        "x-forwarded-for": "10.0.0.1",
    }
    assert view["redacted"] == {}
    assert PASSWORD not in str(view) and GHP not in str(view)


def test_views_mask_secrets_in_the_error(client: TestClient, runtime: Runtime) -> None:
    dead_id = _store(runtime, b"{}", error=f"invalid timestamp 'password={PASSWORD}'")
    view = client.get(f"/api/v1/dead-letters/{dead_id}").json()
    assert PASSWORD not in view["error"]
    assert view["redacted"] == {"password": 1}


def test_binary_bodies_are_described_not_shown(client: TestClient, runtime: Runtime) -> None:
    body = b"\xff\xfe" + PASSWORD.encode()
    dead_id = _store(runtime, body)
    view = client.get(f"/api/v1/dead-letters/{dead_id}").json()
    assert view["body"] == {"encoding": "binary", "size": len(body), "text": None}
    assert view["size"] == len(body)


def test_replay_uses_the_raw_body(client: TestClient, runtime: Runtime) -> None:
    body = f'{{"title": "Disk full", "service": "search", "description": "{GHP}"}}'.encode()
    dead_id = _store(runtime, body)
    r = client.post(f"/api/v1/dead-letters/{dead_id}/replay")
    assert r.status_code == 200, r.text
    with runtime.engine.connect() as conn:
        [stored] = conn.execute(select(inbox.c.body)).scalars()
    assert bytes(stored) == body


# --- replay ---------------------------------------------------------------------------


def test_second_replay_is_refused(client: TestClient, runtime: Runtime) -> None:
    dead_id = _store(runtime, VALID)
    first = client.post(f"/api/v1/dead-letters/{dead_id}/replay")
    assert first.status_code == 200, first.text
    assert first.json()["delivery_id"] == "d-1-r1"
    second = client.post(f"/api/v1/dead-letters/{dead_id}/replay")
    assert second.status_code == 409, second.text
    error = second.json()["error"]
    assert error["code"] == "already_replayed"
    assert error["delivery_id"] == "d-1-r1"
    assert "d-1-r1" in error["message"] and "force=true" in error["message"]
    assert _inbox_ids(runtime) == ["d-1-r1"]
    letter = client.get(f"/api/v1/dead-letters/{dead_id}").json()
    assert letter["replay_count"] == 1
    assert letter["replay_result"] == "accepted 1 event(s) as d-1-r1"


def test_forced_replay_is_accepted_again(client: TestClient, runtime: Runtime) -> None:
    dead_id = _store(runtime, VALID)
    assert client.post(f"/api/v1/dead-letters/{dead_id}/replay").status_code == 200
    r = client.post(f"/api/v1/dead-letters/{dead_id}/replay", params={"force": "true"})
    assert r.status_code == 200, r.text
    assert r.json()["delivery_id"] == "d-1-r2"
    assert _inbox_ids(runtime) == ["d-1-r1", "d-1-r2"]
    r = client.post(f"/api/v1/dead-letters/{dead_id}/replay")
    assert r.status_code == 409
    assert r.json()["error"]["delivery_id"] == "d-1-r2"


def test_failed_replays_may_be_repeated(client: TestClient, runtime: Runtime) -> None:
    dead_id = _store(runtime, b'{"severity": "high"}')
    for _ in range(2):
        r = client.post(f"/api/v1/dead-letters/{dead_id}/replay")
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "replay_failed"
    assert client.get(f"/api/v1/dead-letters/{dead_id}").json()["replay_count"] == 2


def test_acceptance_is_remembered_after_a_failed_forced_replay(
    client: TestClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead_id = _store(runtime, VALID)
    assert client.post(f"/api/v1/dead-letters/{dead_id}/replay").status_code == 200

    def unknown(delivery: Any, *limits: Any) -> Any:
        raise PayloadError("source", f"unknown source {delivery.source!r}", status=404)

    monkeypatch.setattr(dead_letters_api, "parse_delivery", unknown)
    r = client.post(f"/api/v1/dead-letters/{dead_id}/replay", params={"force": "true"})
    assert r.status_code == 422, r.text
    monkeypatch.undo()
    r = client.post(f"/api/v1/dead-letters/{dead_id}/replay")
    assert r.status_code == 409
    assert r.json()["error"]["delivery_id"] == "d-1-r1"


def test_replay_delivery_id_fits_the_inbox(client: TestClient, runtime: Runtime) -> None:
    dead_id = _store(runtime, VALID, delivery_id="x" * 64)
    r = client.post(f"/api/v1/dead-letters/{dead_id}/replay")
    assert r.status_code == 200, r.text
    assert r.json()["delivery_id"] == "x" * 61 + "-r1"


def _slow_parse(delivery: Delivery, *limits: Any) -> Any:
    """A parse that takes a while: two replays overlap unless they take turns."""
    time.sleep(0.3)
    return parse_delivery(delivery, *limits)


def test_concurrent_replays_feed_events_in_once(
    client: TestClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead_id = _store(runtime, VALID)
    monkeypatch.setattr(dead_letters_api, "parse_delivery", _slow_parse)
    start = threading.Barrier(2)
    responses: list[httpx.Response] = []

    errors: list[BaseException] = []

    def replay() -> None:
        try:
            start.wait(timeout=60)
            responses.append(client.post(f"/api/v1/dead-letters/{dead_id}/replay"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=replay) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
        assert not t.is_alive(), "a replay never returned"
    assert errors == []
    assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
    conflict = next(r for r in responses if r.status_code == 409).json()["error"]
    assert conflict["code"] == "already_replayed"
    assert conflict["delivery_id"] == "d-1-r1"
    assert _inbox_ids(runtime) == ["d-1-r1"]
    assert client.get(f"/api/v1/dead-letters/{dead_id}").json()["replay_count"] == 1


def test_a_lone_surrogate_escape_in_a_refused_body_lists_without_a_500(
    client: TestClient,
) -> None:
    """The preview undoes JSON escapes; `\\udc00` alone is no character UTF-8 can carry."""
    body = b'[{"labels": {"\\udc00": 1}}]'
    r = client.post("/api/v1/ingest/generic", content=body, headers=JSON)
    assert r.status_code == 400, r.text
    listed = client.get("/api/v1/dead-letters")
    assert listed.status_code == 200, listed.text
    assert "\\udc00" in listed.json()["items"][0]["preview"]["text"]
