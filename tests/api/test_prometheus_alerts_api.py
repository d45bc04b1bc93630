"""POST /api/v2/alerts (Prometheus straight to autoticket) and per-source auth."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from autoticket.api.app import create_app
from autoticket.clock import FixedClock
from autoticket.config import parse_config_text
from autoticket.model import Delivery
from autoticket.service.runtime import Runtime
from autoticket.sources import parse_delivery
from autoticket.sources.signature import GENERIC_SIGNATURE, HmacScheme
from autoticket.store.tables import dead_letters, inbox
from conftest import token_headers

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
CONFIG = """
ingest: {unchanged_resend_window: 2m}
sources:
  generic:
    hmac: {secret_env: TEST_GENERIC_HMAC}
  alertmanager:
    token_env: TEST_AM_TOKEN
"""


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def prom_alert(
    name: str = "HighLatency", ends_in: timedelta = timedelta(minutes=4), **extra: Any
) -> dict[str, Any]:
    alert: dict[str, Any] = {
        "labels": {"alertname": name, "service": "checkout", "severity": "critical"},
        "annotations": {"summary": f"{name} on checkout"},
        "startsAt": _iso(T0 - timedelta(minutes=1)),
        "endsAt": _iso(T0 + ends_in),
        "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
    }
    alert.update(extra)
    return alert


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    runtime = Runtime(parse_config_text(CONFIG), engine, start_worker=False, clock=FixedClock(T0))
    with TestClient(
        create_app(runtime), base_url="http://localhost", raise_server_exceptions=False
    ) as c:
        c.headers.update(token_headers(runtime.engine))
        c.runtime = runtime  # type: ignore[attr-defined]
        yield c


def _rows(client: TestClient, table: Any) -> int:
    with client.runtime.engine.connect() as conn:  # type: ignore[attr-defined]
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _stored_bodies(client: TestClient) -> list[Any]:
    with client.runtime.engine.connect() as conn:  # type: ignore[attr-defined]
        return [orjson.loads(bytes(b)) for b in conn.execute(select(inbox.c.body)).scalars()]


def _advance(client: TestClient, by: timedelta) -> None:
    client.runtime.clock.current += by  # type: ignore[attr-defined]


def test_prometheus_alerts_are_accepted_with_200_and_stored(client: TestClient) -> None:
    r = client.post("/api/v2/alerts", json=[prom_alert(), prom_alert("Down")])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == 2 and body["unchanged"] == 0
    assert _rows(client, inbox) == 1
    assert (
        'autoticket_deliveries_total{code="200",source="prometheus"} 1.0'
        in client.get("/metrics").text
    )


def test_an_unchanged_resend_is_not_stored_but_a_change_or_the_window_passes(
    client: TestClient,
) -> None:
    assert client.post("/api/v2/alerts", json=[prom_alert()]).json()["accepted"] == 1
    # Prometheus re-sends a minute later with endsAt moved on and nothing else changed.
    _advance(client, timedelta(minutes=1))
    resend = prom_alert(ends_in=timedelta(minutes=5))
    r = client.post("/api/v2/alerts", json=[resend])
    assert r.status_code == 200
    assert r.json() == {"accepted": 0, "ids": [], "delivery_id": None, "unchanged": 1}
    assert _rows(client, inbox) == 1
    # A changed annotation is news: only that alert of the batch is stored.
    changed = prom_alert(annotations={"summary": "worse"})
    r = client.post("/api/v2/alerts", json=[resend, changed, prom_alert("New")])
    assert r.json()["accepted"] == 2 and r.json()["unchanged"] == 1
    assert [a["labels"]["alertname"] for a in _stored_bodies(client)[-1]] == [
        "HighLatency",
        "New",
    ]
    assert _rows(client, inbox) == 2
    # Past the window an unchanged copy is stored again, so last seen moves on.
    _advance(client, timedelta(minutes=3))
    r = client.post("/api/v2/alerts", json=[prom_alert("New", ends_in=timedelta(minutes=9))])
    assert r.json()["accepted"] == 1
    assert _rows(client, inbox) == 3


def test_a_resolve_always_gets_through_and_parses_as_resolved(client: TestClient) -> None:
    client.post("/api/v2/alerts", json=[prom_alert()])
    _advance(client, timedelta(seconds=30))
    resolved = prom_alert(endsAt=_iso(T0 + timedelta(seconds=20)))
    r = client.post("/api/v2/alerts", json=[resolved])
    assert r.json()["accepted"] == 1
    # Prometheus repeats the resolved copy: that repeat is dropped.
    assert client.post("/api/v2/alerts", json=[resolved]).json()["unchanged"] == 1
    with client.runtime.engine.connect() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(select(inbox).order_by(inbox.c.id)).all()
    last = rows[-1]
    events = parse_delivery(
        Delivery(
            id="x",
            source=last.source,
            received_at=T0 + timedelta(seconds=30),
            body=bytes(last.body),
            headers={},
        )
    )
    assert [e.status.value for e in events] == ["resolved"]


def test_bad_alerts_are_refused_naming_the_entry_and_kept(client: TestClient) -> None:
    r = client.post("/api/v2/alerts", json=[prom_alert(), {"annotations": {}}])
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "[1].labels"
    assert _rows(client, dead_letters) == 1
    r = client.post("/api/v2/alerts", json={"labels": {}})
    assert r.status_code == 422
    assert "expected a JSON array" in r.json()["error"]["message"]
    # A refused batch is not remembered: the good alert of it still counts as new.
    assert client.post("/api/v2/alerts", json=[prom_alert()]).json()["accepted"] == 1


def test_the_default_token_works_as_bearer_and_as_basic_password(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOTICKET_INGEST_TOKEN", "pr0m-token")
    basic = base64.b64encode(b"prometheus:pr0m-token").decode()
    wrong = base64.b64encode(b"prometheus:nope").decode()
    cases = [
        (f"Basic {basic}", 200),
        ("Bearer pr0m-token", 200),
        (f"Basic {wrong}", 401),
        ("Basic !!!", 401),
        ("Bearer nope", 401),
    ]
    for index, (authorization, status) in enumerate(cases):
        alert = prom_alert(f"A{index}")
        r = client.post("/api/v2/alerts", json=[alert], headers={"authorization": authorization})
        assert r.status_code == status, (authorization, r.text)
    metrics = client.get("/metrics").text
    assert (
        'autoticket_source_auth_failures_total{reason="wrong_token",source="prometheus"} 2.0'
        in metrics
    )
    assert (
        'autoticket_source_auth_failures_total{reason="missing_token",source="prometheus"} 1.0'
        in metrics
    )


def test_a_source_with_its_own_token_ignores_the_default(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOTICKET_INGEST_TOKEN", "default-token")
    payload = {"alerts": [{"status": "firing", "labels": {"alertname": "X"}}]}
    r = client.post(
        "/api/v1/ingest/alertmanager", json=payload, headers={"authorization": "Bearer am"}
    )
    assert r.status_code == 503
    assert "TEST_AM_TOKEN" in r.json()["error"]["message"]
    monkeypatch.setenv("TEST_AM_TOKEN", "am")
    r = client.post(
        "/api/v1/ingest/alertmanager", json=payload, headers={"authorization": "Bearer am"}
    )
    assert r.status_code == 202, r.text
    r = client.post(
        "/api/v1/ingest/alertmanager",
        json=payload,
        headers={"authorization": "Bearer default-token"},
    )
    assert r.status_code == 401


def test_a_signed_source_rejects_a_bad_signature_and_accepts_the_right_one(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_GENERIC_HMAC", "hush")
    body = orjson.dumps({"title": "disk full", "severity": "critical"})
    headers = {"content-type": "application/json"}
    good = GENERIC_SIGNATURE.sign(b"hush", body)
    bad = GENERIC_SIGNATURE.sign(b"wrong", body)
    for signature, status, fragment in [
        (None, 401, "missing signature header X-Autoticket-Signature"),
        (bad, 401, "does not match the body"),
        (good[len("sha256=") :], 401, "must start with 'sha256='"),
        ("sha256=zz", 401, "is not hex"),
        (good, 202, ""),
        (good.upper().replace("SHA256=", "sha256="), 202, ""),
    ]:
        sent = dict(headers)
        if signature is not None:
            sent["x-autoticket-signature"] = signature
        r = client.post("/api/v1/ingest/generic", content=body, headers=sent)
        assert r.status_code == status, (signature, r.text)
        if status == 401:
            assert fragment in r.json()["error"]["message"]
            assert r.json()["error"]["reason"] == "bad_signature"
    # Refused requests are not kept.
    assert _rows(client, dead_letters) == 0
    assert _rows(client, inbox) == 2


def test_hmac_scheme_round_trip_in_base64_and_other_algorithms() -> None:
    from autoticket.sources.signature import SignatureError, verify_signature

    scheme = HmacScheme("Sentry-Hook-Signature", algorithm="sha512", encoding="base64")
    value = scheme.sign(b"k", b"body")
    verify_signature(scheme, b"k", b"body", {"Sentry-Hook-Signature": value})
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature(scheme, b"k", b"body!", {"Sentry-Hook-Signature": value})


def test_sources_list_paths_content_types_auth_and_examples(client: TestClient) -> None:
    items = {i["name"]: i for i in client.get("/api/v1/sources").json()["items"]}
    assert {"alertmanager", "generic", "prometheus"} <= set(items)
    prom = items["prometheus"]
    assert prom["paths"][0] == "/api/v2/alerts"
    assert prom["content_types"] == ["application/json"]
    assert prom["auth"] == {"token": False, "token_env": "AUTOTICKET_INGEST_TOKEN", "hmac": None}
    assert prom["example"][0]["labels"]["alertname"] == "CheckoutHighErrorRate"
    assert items["generic"]["auth"]["hmac"]["header"] == "X-Autoticket-Signature"
    assert items["generic"]["auth"]["hmac"]["secret_env"] == "TEST_GENERIC_HMAC"
    assert items["generic"]["auth"]["token_env"] is None
    assert items["alertmanager"]["auth"]["token_env"] == "TEST_AM_TOKEN"
    # Every example is what its own source accepts.
    for name, item in items.items():
        r = client.post(item["paths"][-1].replace("{source}", name), json=item["example"])
        if name in ("generic", "alertmanager"):  # their secrets' variables are not set here
            assert r.status_code == 503
            assert r.json()["error"]["code"] == "source_auth_unconfigured"
        else:
            assert r.status_code in (200, 202), (name, r.text)


def test_check_config_names_unknown_sources_and_unset_secrets() -> None:
    from autoticket.checks import check_config_text

    text = "sources:\n  prometeus: {token_env: A}\n  generic:\n    hmac: {secret_env: B}\n"
    report = check_config_text(text, "t.yaml", {"A": "x"})
    assert [(p.path, p.line) for p in report.errors] == [
        ("sources.prometeus", 2),
        ("sources.generic.hmac.secret_env", 4),
    ]
    assert "known: " in report.errors[0].message and "prometheus" in report.errors[0].message
    assert not check_config_text(
        text.replace("prometeus", "prometheus"), "t", {"A": "x", "B": "y"}
    ).errors
