"""Amazon SNS messages (the cloudwatch source): RSA signatures checked against a
configured certificate, and subscription confirmation behind an allowlist.

Each test makes its own throwaway RSA key and self-signed certificate and signs
real-shaped messages with them, as SNS signs with its own key.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from autoticket.api import sns as sns_api
from autoticket.api.app import create_app
from autoticket.api.sns import origin_allowed
from autoticket.config import ConfigError, parse_config_text
from autoticket.service.runtime import Runtime
from autoticket.sources.sns import canonical_string
from autoticket.store.tables import dead_letters, inbox
from sources.vendor_samples import sample

URL = "/api/v1/ingest/cloudwatch"
HEADERS = {"content-type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": "Notification"}


class Signer:
    """A throwaway RSA key and its self-signed certificate."""

    def __init__(self, name: str, valid_from_days: int = -1, valid_to_days: int = 30) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.now(UTC)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now + timedelta(days=valid_from_days))
            .not_valid_after(now + timedelta(days=valid_to_days))
            .sign(self.key, hashes.SHA256())
        )
        self.pem = self.certificate.public_bytes(serialization.Encoding.PEM)

    def sign(
        self, message: dict[str, Any], version: str = "2", sent: datetime | None = None
    ) -> dict[str, Any]:
        """Sign as SNS would now (or at `sent`): the samples' 2024 Timestamp is replaced."""
        when = sent or datetime.now(UTC)
        stamp = when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
        signed = {**message, "SignatureVersion": version, "Timestamp": stamp}
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        raw = self.key.sign(canonical_string(signed), padding.PKCS1v15(), algorithm)
        return {**signed, "Signature": base64.b64encode(raw).decode()}


@pytest.fixture(scope="module")
def sns_signer() -> Signer:
    return Signer("sns.eu-west-1.amazonaws.com")


@pytest.fixture(scope="module")
def stranger() -> Signer:
    return Signer("not-sns.example")


class FakeSns:
    """A local HTTP server standing in for SNS: serves the certificate, records GETs."""

    def __init__(self, pem: bytes) -> None:
        self.requests: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.requests.append(self.path)
                body = pem if self.path.endswith(".pem") else b"<ConfirmSubscriptionResponse/>"
                self.send_response(200)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def fake_sns(sns_signer: Signer) -> Iterator[FakeSns]:
    fake = FakeSns(sns_signer.pem)
    yield fake
    fake.close()


ClientFactory = Callable[[str], TestClient]


@pytest.fixture
def make_client(
    engine: Engine, tmp_path: Path, sns_signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ClientFactory]:
    monkeypatch.delenv("AUTOTICKET_INGEST_TOKEN", raising=False)
    monkeypatch.setattr(sns_api, "_FETCHED", {})
    cert = tmp_path / "sns.pem"
    cert.write_bytes(sns_signer.pem)
    opened: list[TestClient] = []

    def make(sns_yaml: str) -> TestClient:
        text = f"sources:\n  cloudwatch:\n    sns: {sns_yaml.replace('CERT', str(cert))}\n"
        runtime = Runtime(parse_config_text(text), engine, start_worker=False)
        client = TestClient(create_app(runtime), base_url="http://localhost")
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


def _count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def _post(client: TestClient, message: dict[str, Any]) -> Any:
    return client.post(URL, content=orjson.dumps(message), headers=HEADERS)


def _failures(client: TestClient) -> float:
    telemetry = client.app.state.runtime.telemetry  # type: ignore[attr-defined]
    return float(telemetry.source_auth_failures.labels("cloudwatch", "bad_signature")._value.get())


@pytest.mark.parametrize("version", ["1", "2"])
def test_a_notification_signed_by_the_configured_certificate_is_accepted(
    make_client: ClientFactory, engine: Engine, sns_signer: Signer, version: str
) -> None:
    client = make_client("{certificate: CERT}")
    r = _post(client, sns_signer.sign(sample("cloudwatch", "alarm"), version))
    assert r.status_code == 202, r.text
    assert r.json()["accepted"] == 1
    assert _count(engine, inbox) == 1


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda m: m.update(Message=m["Message"].replace("ALARM", "OK")), "does not match"),
        (lambda m: m.update(TopicArn=m["TopicArn"] + "-other"), "does not match"),
        (lambda m: m.update(SignatureVersion="1"), "does not match"),  # signed as 2
        (lambda m: m.update(SignatureVersion="3"), "SignatureVersion must be '1'"),
        (lambda m: m.pop("SignatureVersion"), "SignatureVersion must be '1'"),
        (lambda m: m.pop("Signature"), "missing Signature"),
        (lambda m: m.update(Signature="%%%"), "not base64"),
        (lambda m: m.pop("MessageId"), "MessageId: required field is missing"),
    ],
)
def test_a_tampered_or_badly_signed_notification_is_refused_and_counted(
    make_client: ClientFactory,
    engine: Engine,
    sns_signer: Signer,
    change: Callable[[dict[str, Any]], Any],
    fragment: str,
) -> None:
    client = make_client("{certificate: CERT}")
    message = sns_signer.sign(sample("cloudwatch", "alarm"))
    change(message)
    before = _failures(client)
    r = _post(client, message)
    assert r.status_code == 401, r.text
    error = r.json()["error"]
    assert error["reason"] == "bad_signature"
    assert fragment in error["message"]
    assert _failures(client) == before + 1
    assert _count(engine, inbox) == 0 and _count(engine, dead_letters) == 0


def test_a_message_signed_by_another_key_is_refused(
    make_client: ClientFactory, engine: Engine, stranger: Signer
) -> None:
    client = make_client("{certificate: CERT}")
    r = _post(client, stranger.sign(sample("cloudwatch", "alarm")))
    assert r.status_code == 401
    assert "configured certificate" in r.json()["error"]["message"]
    assert _count(engine, inbox) == 0


def test_a_body_that_is_no_signed_message_is_refused(make_client: ClientFactory) -> None:
    client = make_client("{certificate: CERT}")
    for body in (b"not json", b"[1, 2]"):
        r = client.post(URL, content=body, headers=HEADERS)
        assert r.status_code == 401
        assert "not a signed SNS message" in r.json()["error"]["message"]


def test_without_the_opt_in_no_certificate_is_downloaded(
    make_client: ClientFactory, fake_sns: FakeSns, stranger: Signer
) -> None:
    """Offline by default: SigningCertURL is never fetched, whatever it says."""
    client = make_client("{certificate: CERT}")
    message = stranger.sign(sample("cloudwatch", "alarm"))
    message["SigningCertURL"] = f"{fake_sns.base}/stranger.pem"
    assert _post(client, message).status_code == 401
    assert fake_sns.requests == []


def test_an_opted_in_certificate_download_must_come_from_an_allowed_host(
    make_client: ClientFactory, fake_sns: FakeSns, sns_signer: Signer
) -> None:
    message = sns_signer.sign(sample("cloudwatch", "alarm"))
    message["SigningCertURL"] = f"{fake_sns.base}/SimpleNotificationService-test.pem"
    default = make_client("{fetch_certificate: true}")
    r = _post(default, message)
    assert r.status_code == 401
    assert "not an allowed certificate location" in r.json()["error"]["message"]
    assert fake_sns.requests == []
    allowed = make_client("{fetch_certificate: true, allowed_hosts: ['http://127.0.0.1:*']}")
    assert _post(allowed, message).status_code == 202
    assert _post(allowed, {**message, "MessageId": "again"}).status_code == 401  # altered
    assert fake_sns.requests == ["/SimpleNotificationService-test.pem"]  # fetched once


def _confirmation(fake: FakeSns) -> dict[str, Any]:
    message = sample("cloudwatch", "subscription_confirmation")
    message["SubscribeURL"] = f"{fake.base}/?Action=ConfirmSubscription&Token={message['Token']}"
    return message


def test_a_subscription_is_recorded_and_logged_but_not_confirmed_by_default(
    make_client: ClientFactory,
    engine: Engine,
    fake_sns: FakeSns,
    sns_signer: Signer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = make_client("{certificate: CERT, allowed_hosts: ['http://127.0.0.1:*']}")
    message = sns_signer.sign(_confirmation(fake_sns))
    with caplog.at_level(logging.WARNING, logger="autoticket.api.sns"):
        r = _post(client, message)
    assert r.status_code == 202, r.text
    assert r.json()["subscription"]["confirmed"] is False
    assert _count(engine, inbox) == 1
    assert message["SubscribeURL"] in caplog.text
    assert fake_sns.requests == []


def test_auto_confirm_gets_the_subscribe_url_after_the_signature_check(
    make_client: ClientFactory, fake_sns: FakeSns, sns_signer: Signer, stranger: Signer
) -> None:
    client = make_client(
        "{certificate: CERT, auto_confirm: true, allowed_hosts: ['http://127.0.0.1:*']}"
    )
    forged = stranger.sign(_confirmation(fake_sns))
    assert _post(client, forged).status_code == 401
    assert fake_sns.requests == []  # a forged confirmation makes no call
    r = _post(client, sns_signer.sign(_confirmation(fake_sns)))
    assert r.status_code == 202, r.text
    assert r.json()["subscription"] == {"confirmed": True}
    token = sample("cloudwatch", "subscription_confirmation")["Token"]
    assert fake_sns.requests == [f"/?Action=ConfirmSubscription&Token={token}"]


def test_auto_confirm_never_calls_a_host_outside_the_allowlist(
    make_client: ClientFactory, fake_sns: FakeSns, sns_signer: Signer
) -> None:
    client = make_client("{certificate: CERT, auto_confirm: true}")  # default: SNS only
    r = _post(client, sns_signer.sign(_confirmation(fake_sns)))
    assert r.status_code == 202
    assert r.json()["subscription"]["confirmed"] is False
    assert "allowed_hosts" in r.json()["subscription"]["reason"]
    assert fake_sns.requests == []


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription", True),
        ("https://SNS.us-east-1.amazonaws.com:443/cert.pem", True),
        ("http://sns.eu-west-1.amazonaws.com/", False),
        ("https://sns.eu-west-1.amazonaws.com:8443/", False),
        ("https://sns.evil.example/", False),
        ("https://sns.a.b.amazonaws.com/", False),
        ("https://sns.eu-west-1.amazonaws.com.evil.example/", False),
        ("https://sns.eu-west-1.amazonaws.com@evil.example/", False),
        ("https://evil.example/sns.eu-west-1.amazonaws.com", False),
        ("ftp://sns.eu-west-1.amazonaws.com/", False),
        ("https://sns.eu-west-1.amazonaws.com:99999/", False),
    ],
)
def test_the_default_allowlist_is_sns_over_https_only(url: str, allowed: bool) -> None:
    assert origin_allowed(url, ["https://sns.*.amazonaws.com"]) is allowed


def test_sns_settings_need_a_certificate_and_belong_to_cloudwatch() -> None:
    with pytest.raises(ConfigError, match="certificate"):
        parse_config_text("sources:\n  cloudwatch:\n    sns: {auto_confirm: true}\n")
    with pytest.raises(ConfigError, match="sns only applies to cloudwatch"):
        parse_config_text("sources:\n  generic:\n    sns: {fetch_certificate: true}\n")


def test_check_config_names_an_unusable_certificate(tmp_path: Path, sns_signer: Signer) -> None:
    from autoticket.checks import check_config_text

    good, junk = tmp_path / "sns.pem", tmp_path / "junk.pem"
    good.write_bytes(sns_signer.pem)
    junk.write_text("not a certificate\n")
    for path, fragment in ((tmp_path / "missing.pem", "cannot read"), (junk, "no PEM")):
        text = f"sources:\n  cloudwatch:\n    sns: {{certificate: {path}}}\n"
        [problem] = check_config_text(text, "t.yaml", {}).errors
        assert problem.path == "sources.cloudwatch.sns.certificate"
        assert fragment in problem.message
    text = f"sources:\n  cloudwatch:\n    sns: {{certificate: {good}}}\n"
    assert not check_config_text(text, "t.yaml", {}).errors
    expired = tmp_path / "expired.pem"
    expired.write_bytes(Signer("old", -60, -2).pem)
    text = f"sources:\n  cloudwatch:\n    sns: {{certificate: {expired}}}\n"
    [problem] = check_config_text(text, "t.yaml", {}).errors
    assert "every certificate in" in problem.message and "has expired" in problem.message
    both = tmp_path / "rotation.pem"
    both.write_bytes(Signer("old", -60, -2).pem + sns_signer.pem)
    text = f"sources:\n  cloudwatch:\n    sns: {{certificate: {both}}}\n"
    assert not check_config_text(text, "t.yaml", {}).errors


def test_a_confirmation_with_another_subscribe_url_is_refused_and_not_called(
    make_client: ClientFactory, fake_sns: FakeSns, sns_signer: Signer
) -> None:
    """SubscribeURL is signed: pointing a good confirmation elsewhere breaks it."""
    client = make_client(
        "{certificate: CERT, auto_confirm: true, allowed_hosts: ['http://127.0.0.1:*']}"
    )
    message = sns_signer.sign(sample("cloudwatch", "subscription_confirmation"))
    message["SubscribeURL"] = f"{fake_sns.base}/?Action=ConfirmSubscription&Token=evil"
    r = _post(client, message)
    assert r.status_code == 401
    assert r.json()["error"]["reason"] == "bad_signature"
    assert fake_sns.requests == []


def test_the_sources_list_shows_the_sns_check(make_client: ClientFactory) -> None:
    client = make_client("{certificate: CERT, auto_confirm: true}")
    r = client.get("/api/v1/sources")
    assert r.status_code == 200, r.text
    [cloudwatch] = [s for s in r.json()["items"] if s["name"] == "cloudwatch"]
    assert cloudwatch["auth"]["sns_signature"] == {
        "certificate": True,
        "fetch_certificate": False,
        "auto_confirm": True,
    }
    assert cloudwatch["auth"]["token"] is False  # the signature replaces the default token


@pytest.mark.parametrize(
    ("age", "fragment"),
    [
        (timedelta(hours=3), "older than sns.max_age (2:00:00): a replayed message?"),
        (-timedelta(minutes=30), "is in the future"),
    ],
)
def test_a_stale_or_future_message_is_refused_even_with_a_good_signature(
    make_client: ClientFactory, engine: Engine, sns_signer: Signer, age: timedelta, fragment: str
) -> None:
    client = make_client("{certificate: CERT}")
    message = sns_signer.sign(sample("cloudwatch", "alarm"), sent=datetime.now(UTC) - age)
    r = _post(client, message)
    assert r.status_code == 401, r.text
    assert r.json()["error"]["reason"] == "bad_signature"
    assert fragment in r.json()["error"]["message"]
    assert _count(engine, inbox) == 0


def test_max_age_is_configurable_and_zero_turns_the_age_check_off(
    make_client: ClientFactory, engine: Engine, sns_signer: Signer
) -> None:
    hour_old = sns_signer.sign(
        sample("cloudwatch", "alarm"), sent=datetime.now(UTC) - timedelta(hours=1)
    )
    assert _post(make_client("{certificate: CERT, max_age: 30m}"), hour_old).status_code == 401
    old = sns_signer.sign(sample("cloudwatch", "alarm"), sent=datetime(2024, 5, 14, tzinfo=UTC))
    r = _post(make_client("{certificate: CERT, max_age: 0}"), old)
    assert r.status_code == 202, r.text
    assert _count(engine, inbox) == 1


@pytest.mark.parametrize(("valid_from", "valid_to"), [(-60, -1), (1, 60)])
def test_a_certificate_outside_its_validity_signs_nothing(
    engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    valid_from: int,
    valid_to: int,
) -> None:
    monkeypatch.delenv("AUTOTICKET_INGEST_TOKEN", raising=False)
    signer = Signer("sns.eu-west-1.amazonaws.com", valid_from, valid_to)
    cert = tmp_path / "sns.pem"
    cert.write_bytes(signer.pem)
    text = f"sources:\n  cloudwatch:\n    sns: {{certificate: {cert}}}\n"
    runtime = Runtime(parse_config_text(text), engine, start_worker=False)
    with TestClient(create_app(runtime), base_url="http://localhost") as client:
        r = _post(client, signer.sign(sample("cloudwatch", "alarm")))
    assert r.status_code == 401, r.text
    message = r.json()["error"]["message"]
    assert "the certificate that signed the message is valid only from" in message
    assert "replace the configured certificate" in message
    assert _count(engine, inbox) == 0
