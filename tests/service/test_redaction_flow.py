"""Secrets planted in alerts never come out of the service, whatever the view.

One secret of every built-in pattern kind (and of the custom pattern of the
bundled config), and every string of the leak corpus (tests/leak_corpus.py),
goes in through the HTTP API; tickets, incidents, explain, timeline, the web
pages, the logs, the stored rows and the dead-letter views must show the
`[REDACTED:<kind>]` marker and never the secret itself.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from autoticket.api.app import create_app
from autoticket.clock import FixedClock
from autoticket.config import Config
from autoticket.pipeline.redact import Redactor
from autoticket.pipeline.secret_patterns import PATTERN_KINDS
from autoticket.service.runtime import Runtime
from autoticket.store.tables import (
    alerts,
    decisions,
    events,
    incidents,
    outbox,
    tickets,
    timeline,
)
from conftest import am_alert, am_payload
from leak_corpus import KEYED_LEAKS, LEAKS, NEAR_MISSES

# (kind, text planted, the part of it that is secret)
SECRETS: list[tuple[str, str, str]] = [
    (
        "private_key",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEpkEYbodyQ9xZ\n-----END RSA PRIVATE KEY-----",
        "MIIEpkEYbodyQ9xZ",
    ),
    ("aws_access_key_id", "key AKIAIOSFODNN7EXAMPLE used", "AKIAIOSFODNN7EXAMPLE"),
    (
        "github_token",
        "token ghp_abcdefghijklmnopqrstuvwxyz0123456789 leaked",
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    ),
    ("gitlab_token", "glpat-Abcdefghij0123456789", "glpat-Abcdefghij0123456789"),
    ("slack_token", "xoxb-1234567890-SlackTokenValue", "xoxb-1234567890-SlackTokenValue"),
    (
        "slack_webhook",
        "posted to https://hooks.slack.com/services/T0001/B0002/WebhookSecret99",
        "T0001/B0002/WebhookSecret99",
    ),
    ("stripe_key", "sk_live_StripeKey0123456789abcd", "sk_live_StripeKey0123456789abcd"),
    (
        "google_api_key",
        "AIzaSyA0123456789abcdefghijklmnopqrstuv",
        "AIzaSyA0123456789abcdefghijklmnopqrstuv",
    ),
    (
        "openai_key",
        "sk-proj-Abcdefghij0123456789Klmnopqrstuv",
        "sk-proj-Abcdefghij0123456789Klmnopqrstuv",
    ),
    (
        "npm_token",
        "npm_abcdefghijklmnopqrstuvwxyz0123456789",
        "npm_abcdefghijklmnopqrstuvwxyz0123456789",
    ),
    ("pypi_token", "pypi-AgE" + "PypiTokenBody0" * 4, "PypiTokenBody0PypiTokenBody0"),
    (
        "jwt",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.SignaturePart123",
        "eyJzdWIiOiJ4In0.SignaturePart123",
    ),
    ("url_password", "dsn postgres://app:UrlPassw0rdX@db.internal/app", "UrlPassw0rdX"),
    ("bearer_token", "Authorization: Bearer BearerValue0123456789", "BearerValue0123456789"),
    ("basic_auth", "Authorization: Basic QmFzaWNWYWx1ZTpzZWNyZXQ=", "QmFzaWNWYWx1ZTpzZWNyZXQ="),
    (
        "aws_secret_access_key",
        "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    ),
    ("client_secret", "client_secret=ClientSecretValue1", "ClientSecretValue1"),
    ("access_key", "access_key=AccessKeyValue22", "AccessKeyValue22"),
    ("api_key", "api_key=ApiKeyValue333", "ApiKeyValue333"),
    ("secret", "secret=PlainSecretValue4444", "PlainSecretValue4444"),
    ("password", "password=PasswordValue55555", "PasswordValue55555"),
    ("token", "token=TokenValue666666", "TokenValue666666"),
    (
        "google_oauth_token",
        "ya29.A0AfH6SMBgoogleAccess0123456789",
        "A0AfH6SMBgoogleAccess0123456789",
    ),
    ("azure_key", "AccountKey=QXp1cmVLZXkwMTIzNDU2Nzg5YWJjZA==", "QXp1cmVLZXkwMTIzNDU2Nzg5YWJjZA"),
    ("url_signature", "blob?sv=1&sig=SasSignature0123456789%3D", "SasSignature0123456789"),
    (
        "authorization",
        "Authorization: Digest response=DigestResp0123456789",
        "DigestResp0123456789",
    ),
    ("cookie", "Cookie: sid=CookieValue0123456789", "CookieValue0123456789"),
    ("credential", "credentials=CredentialValue77", "CredentialValue77"),
    ("session", "session_id=SessionValue8888", "SessionValue8888"),
    ("auth", "auth=AuthValue99999", "AuthValue99999"),
    ("private_key_id", "private_key_id=PrivateKeyIdValue0", "PrivateKeyIdValue0"),
    (
        "high_entropy",
        "signing_key=Hi9hEntr0pyV4lue0123456789abcd",
        "Hi9hEntr0pyV4lue0123456789abcd",
    ),
    # The custom pattern of the bundled config's `redaction:` section.
    ("internal_session", "session sess_CustomSessionId0123456789AB", "CustomSessionId0123456789AB"),
]


@pytest.fixture
def clock(t0: datetime) -> FixedClock:
    return FixedClock(t0)


@pytest.fixture
def runtime(engine: Engine, config: Config, clock: FixedClock) -> Iterator[Runtime]:
    rt = Runtime(config, engine, clock=clock, start_worker=False)
    yield rt
    rt.stop()


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime), base_url="http://localhost") as c:
        yield c


# Every secret that must never show, with a name for the failure message.
ALL_SECRETS: list[tuple[str, str]] = [
    *((kind, secret) for kind, _, secret in SECRETS),
    *((f"corpus:{leak.family}", leak.secret) for leak in LEAKS),
    *((f"corpus:{k.where}.{k.key}", k.value) for k in KEYED_LEAKS),
    ("generic fingerprint", "GenericFpSecret99"),
]


def _leaks(text: str) -> list[str]:
    return [name for name, secret in ALL_SECRETS if secret in text]


def test_every_planted_secret_is_one_its_kind_recognises(config: Config) -> None:
    """Guards the samples themselves: each is masked, under its own kind, whole."""
    assert {kind for kind, _, _ in SECRETS} == PATTERN_KINDS | {
        p.name for p in config.redaction.patterns
    }
    redactor = Redactor(config.redaction)
    for kind, text, secret in SECRETS:
        masked, counts = redactor.redact(text)
        assert kind in counts, (kind, counts)
        assert secret not in masked, kind


def _leaky_alert(i: int, kind: str, text: str) -> dict[str, object]:
    alert = am_alert(alertname=f"Leak{i:02d}", service=f"svc{i:02d}", leak=text)
    annotations = alert["annotations"]
    assert isinstance(annotations, dict)
    annotations["summary"] = f"L{i:02d} | {text}"
    annotations["description"] = f"details {text}"
    annotations["runbook_url"] = f"https://runbooks.example.com/x?{text}"
    alert["generatorURL"] = f"http://prometheus.example:9090/graph?g0.expr={text}"
    return alert


def _corpus_alert(i: int, text: str) -> dict[str, object]:
    alert = _leaky_alert(i, "corpus", text)
    labels = alert["labels"]
    assert isinstance(labels, dict)
    labels["alertname"] = f"Corpus{i:03d}"
    annotations = alert["annotations"]
    assert isinstance(annotations, dict)
    annotations["summary"] = f"C{i:03d} | {text}"
    return alert


def _rows(engine: Engine) -> str:
    """Every stored row that derives from events (raw bodies excluded: kept for replay)."""
    dumped: list[str] = []
    with engine.connect() as conn:
        for table in (events, alerts, incidents, timeline, decisions, outbox, tickets):
            dumped.extend(repr(tuple(row)) for row in conn.execute(select(table)))
    return "\n".join(dumped)


def test_secrets_are_masked_from_ingest_to_every_view(
    client: TestClient,
    runtime: Runtime,
    clock: FixedClock,
    t0: datetime,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # quieted by the sinks; its lines count here
    planted = [_leaky_alert(i, kind, text) for i, (kind, text, _) in enumerate(SECRETS)]
    corpus = [_corpus_alert(i, leak.text) for i, leak in enumerate(LEAKS)]
    r = client.post("/api/v1/ingest/alertmanager", json=am_payload(*planted))
    assert r.status_code == 202, r.text
    assert r.json()["accepted"] == len(SECRETS)
    keyed = am_alert(alertname="KeyedLeaks", service="keyed")
    for leak in KEYED_LEAKS:
        where = keyed[leak.where]
        assert isinstance(where, dict)
        where[leak.key] = leak.value
    # The near-misses ride along, and must come out as they went in.
    near = {f"note_{i:02d}": text for i, text in enumerate(NEAR_MISSES)}
    keyed_annotations = keyed["annotations"]
    assert isinstance(keyed_annotations, dict)
    keyed_annotations.update(near)
    r = client.post("/api/v1/ingest/alertmanager", json=am_payload(*corpus, keyed))
    assert r.status_code == 202, r.text
    generic = {"title": "GenericLeak", "fingerprint": "password=GenericFpSecret99"}
    assert client.post("/api/v1/ingest/generic", json=generic).status_code == 202
    runtime.worker.drain()
    clock.set(t0 + timedelta(minutes=1))  # a resolution puts the title in the timeline too
    resolved = [dict(a, status="resolved", endsAt="2026-01-05T10:00:30Z") for a in planted[:3]]
    assert client.post("/api/v1/ingest/alertmanager", json=am_payload(*resolved)).status_code == 202
    runtime.worker.drain()

    items = client.get("/api/v1/tickets?limit=1000").json()["items"]
    # One incident per alertname: the planted kinds, the corpus, the keyed one, the generic one.
    assert len(items) == len(SECRETS) + len(LEAKS) + 2
    by_title = {t["title"].split(" | ", 1)[0]: t for t in items}
    for i, (kind, _, _) in enumerate(SECRETS):
        ticket = by_title[f"L{i:02d}"]
        assert f"[REDACTED:{kind}]" in ticket["title"]
        assert _leaks(ticket["title"]) == []

    seen: list[str] = []
    for ticket in items:
        detail = client.get(f"/api/v1/tickets/{ticket['id']}")
        incident = client.get(f"/api/v1/incidents/{ticket['incident_id']}")
        page = client.get(f"/incidents/{ticket['incident_id']}")
        assert detail.status_code == incident.status_code == page.status_code == 200
        body = incident.json()
        assert body["timeline"] and body["explain"]["events"]
        stages = {d["stage"] for e in body["explain"]["events"] for d in e["decisions"]}
        assert "redact" in stages
        seen += [detail.text, incident.text, page.text]
    for path in (
        "/api/v1/tickets?limit=1000",
        "/api/v1/incidents?limit=1000",
        "/",
        "/tickets",
        "/?status=resolved",
    ):
        response = client.get(path)
        assert response.status_code == 200
        seen.append(response.text)
    text = "\n".join(seen)
    assert _leaks(text) == []
    # The views say what was masked, kind by kind (JSON escapes aside, the marker is plain).
    assert [k for k, _, _ in SECRETS if f"[REDACTED:{k}]" not in text] == []

    stored = _rows(runtime.engine)
    assert _leaks(stored) == []
    with runtime.engine.connect() as conn:
        notes = [
            {k: v for k, v in a.items() if k.startswith("note_")}
            for (a,) in conn.execute(select(events.c.annotations))
        ]
    assert near in notes
    with runtime.engine.connect() as conn:
        payloads = [json.dumps(p) for (p,) in conn.execute(select(outbox.c.payload))]
    assert len(payloads) >= len(SECRETS)
    assert _leaks("\n".join(payloads)) == []
    assert "[REDACTED:" in "\n".join(payloads)

    assert caplog.records  # the flow logs something, so the check below can fail
    assert _leaks(caplog.text) == []


def test_dead_letter_views_mask_secrets_of_a_rejected_payload(
    client: TestClient, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    """A payload that cannot be parsed is kept whole for replay, but never shown as it came."""
    caplog.set_level(logging.DEBUG)
    # One per line: a header value (Cookie:, Authorization: Digest) runs to the end of its line.
    planted = "\n".join([*(text for _, text, _ in SECRETS), *(leak.text for leak in LEAKS)])
    keyed = {
        where: {k.key: k.value for k in KEYED_LEAKS if k.where == where}
        for where in ("labels", "annotations")
    }
    body = json.dumps(
        {"version": "4", "alerts": "not a list", "note": planted, "common": keyed}
    ).encode()
    r = client.post(
        "/api/v1/ingest/alertmanager",
        content=body,
        headers={
            "content-type": "application/json",
            "user-agent": "probe token=TokenValue666666",
            "authorization": "Bearer BearerValue0123456789",
        },
    )
    assert r.status_code in (400, 422), r.text
    assert _leaks(r.text) == []
    dead_id = r.json()["error"]["dead_letter_id"]
    assert isinstance(dead_id, int)

    listed = client.get("/api/v1/dead-letters")
    one = client.get(f"/api/v1/dead-letters/{dead_id}")
    assert listed.status_code == one.status_code == 200
    view = one.json()
    assert view["size"] == len(body)
    assert "authorization" not in {k.lower() for k in view["headers"]}
    assert "[REDACTED:token]" in view["headers"]["user-agent"]
    shown = view["body"]["text"]
    assert shown is not None
    for kind, _, _ in SECRETS:
        assert f"[REDACTED:{kind}]" in shown, kind
        assert view["redacted"].get(kind, 0) >= 1, kind
    assert _leaks(listed.text + one.text) == []
    page = client.get("/")
    assert page.status_code == 200 and _leaks(page.text) == []
    assert _leaks(caplog.text) == []
