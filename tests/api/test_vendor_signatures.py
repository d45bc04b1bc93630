"""Sentry, GitHub and Grafana sign their webhooks with their own headers: autoticket checks them."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from autoticket.api.app import create_app
from autoticket.config import parse_config_text
from autoticket.service.runtime import Runtime
from autoticket.sources.github_actions import GitHubActionsSource
from autoticket.sources.grafana import GrafanaSource
from autoticket.sources.sentry import SentrySource
from autoticket.sources.signature import HmacScheme
from autoticket.store.tables import dead_letters, inbox
from sources.vendor_samples import sample

CONFIG = """
sources:
  sentry: {hmac: {secret_env: TEST_SENTRY_SECRET}}
  github-actions: {hmac: {secret_env: TEST_GITHUB_SECRET}}
  grafana: {hmac: {secret_env: TEST_GRAFANA_SECRET}}
"""


@pytest.fixture
def client(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("TEST_SENTRY_SECRET", "sentry-client-secret")
    monkeypatch.setenv("TEST_GITHUB_SECRET", "github-hook-secret")
    monkeypatch.setenv("TEST_GRAFANA_SECRET", "grafana-contact-point-secret")
    monkeypatch.delenv("AUTOTICKET_INGEST_TOKEN", raising=False)
    runtime = Runtime(parse_config_text(CONFIG), engine, start_worker=False)
    with TestClient(create_app(runtime), base_url="http://localhost") as c:
        yield c


def _count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("source", "sample_name", "secret", "header", "scheme"),
    [
        (
            "sentry",
            "issue_created",
            b"sentry-client-secret",
            "Sentry-Hook-Signature",
            SentrySource.signature,
        ),
        (
            "github-actions",
            "failure",
            b"github-hook-secret",
            "X-Hub-Signature-256",
            GitHubActionsSource.signature,
        ),
        (
            "grafana",
            "firing",
            b"grafana-contact-point-secret",
            "X-Grafana-Alerting-Signature",
            GrafanaSource.signature,
        ),
    ],
)
def test_a_vendor_signature_is_checked_in_its_own_header(
    client: TestClient,
    engine: Engine,
    source: str,
    sample_name: str,
    secret: bytes,
    header: str,
    scheme: HmacScheme | None,
) -> None:
    assert scheme is not None
    body = orjson.dumps(sample(source, sample_name))
    base = {"content-type": "application/json", "X-GitHub-Event": "workflow_run"}
    url = f"/api/v1/ingest/{source}"
    missing = client.post(url, content=body, headers=base)
    assert missing.status_code == 401
    assert header in missing.json()["error"]["message"]
    wrong = client.post(url, content=body, headers={**base, header: scheme.sign(b"x", body)})
    assert wrong.status_code == 401
    assert wrong.json()["error"]["reason"] == "bad_signature"
    assert _count(engine, inbox) == 0 and _count(engine, dead_letters) == 0
    right = client.post(url, content=body, headers={**base, header: scheme.sign(secret, body)})
    assert right.status_code == 202, right.text
    assert _count(engine, inbox) == 1


def test_grafana_signs_with_a_bare_lowercase_hex_digest(client: TestClient) -> None:
    """Grafana's contact point writes hex(HMAC-SHA256(secret, body)), no prefix."""
    body = orjson.dumps(sample("grafana", "firing"))
    digest = hmac.new(b"grafana-contact-point-secret", body, hashlib.sha256).hexdigest()
    headers = {"content-type": "application/json", "X-Grafana-Alerting-Signature": digest}
    assert client.post("/api/v1/ingest/grafana", content=body, headers=headers).status_code == 202
    prefixed = {**headers, "X-Grafana-Alerting-Signature": "sha256=" + digest}
    refused = client.post("/api/v1/ingest/grafana", content=body, headers=prefixed)
    assert refused.status_code == 401
    assert refused.json()["error"]["reason"] == "bad_signature"
