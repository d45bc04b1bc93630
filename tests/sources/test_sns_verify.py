"""sources/sns.verify_message on anything: a SignatureError with a reason, never
another exception, and never a pass without the right key."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from autoticket.sources.signature import SignatureError
from autoticket.sources.sns import FUTURE_SKEW, canonical_string, check_timestamp, verify_message
from sources.vendor_samples import sample


def _certificate(key: Any) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
CERT = _certificate(KEY)
EC_CERT = _certificate(ec.generate_private_key(ec.SECP256R1()))


def _signed(message: dict[str, Any], version: str = "2") -> dict[str, Any]:
    message = {**message, "SignatureVersion": version}
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    raw = KEY.sign(canonical_string(message), padding.PKCS1v15(), algorithm)
    return {**message, "Signature": base64.b64encode(raw).decode()}


def test_a_non_rsa_certificate_is_skipped_and_the_rsa_one_used() -> None:
    message = _signed(sample("cloudwatch", "alarm"))
    verify_message(message, [EC_CERT, CERT])
    try:
        verify_message(message, [EC_CERT])
    except SignatureError as exc:
        assert "does not match" in str(exc)
    else:
        raise AssertionError("an EC certificate cannot have signed an RSA signature")


def test_no_certificate_accepts_nothing() -> None:
    message = _signed(sample("cloudwatch", "subscription_confirmation"), "1")
    verify_message(message, [CERT])
    try:
        verify_message(message, [])
    except SignatureError:
        pass
    else:
        raise AssertionError("accepted without a certificate")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=12,
)
FIELDS = ["Type", "Message", "MessageId", "Timestamp", "TopicArn", "Signature", "SignatureVersion"]


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        JSON,
        st.fixed_dictionaries({}, optional={f: JSON | st.text(max_size=30) for f in FIELDS}),
        st.sampled_from(FIELDS).flatmap(
            lambda field: JSON.map(lambda v: _signed(sample("cloudwatch", "alarm")) | {field: v})
        ),
    )
)
def test_arbitrary_messages_are_refused_with_a_reason(message: Any) -> None:
    try:
        verify_message(message, [CERT])
    except SignatureError as exc:
        assert str(exc)
    else:  # only an untouched signed message (a field set to its own value) passes
        assert message == _signed(sample("cloudwatch", "alarm"))


NOW = datetime(2026, 5, 14, 12, 0, tzinfo=UTC)
TWO_HOURS = timedelta(hours=2)


def _stamped(value: Any) -> dict[str, Any]:
    return {"Type": "Notification", "Timestamp": value}


def test_check_timestamp_accepts_up_to_max_age_and_skew_inclusive() -> None:
    check_timestamp(_stamped("2026-05-14T10:00:00.000Z"), NOW, TWO_HOURS)  # exactly max_age
    check_timestamp(_stamped((NOW + FUTURE_SKEW).isoformat()), NOW, TWO_HOURS)
    check_timestamp(_stamped("2026-05-14T11:59:59"), NOW, TWO_HOURS)  # naive: read as UTC
    check_timestamp(_stamped("2020-01-01T00:00:00Z"), NOW, timedelta(0))  # age check off


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("2026-05-14T09:59:59.999Z", "older than sns.max_age (2:00:00)"),
        ("2026-05-14T12:05:00.001Z", "is in the future"),
        ("yesterday", "Timestamp: not an ISO 8601 time: 'yesterday'"),
        (None, "Timestamp: required field is missing"),
        (1715680000, "Timestamp: required field is missing"),
    ],
)
def test_check_timestamp_refuses_old_future_or_unreadable_times(value: Any, fragment: str) -> None:
    with pytest.raises(SignatureError, match=re.escape(fragment)):
        check_timestamp(_stamped(value), NOW, TWO_HOURS)


def test_an_expired_matching_certificate_is_named_not_silently_skipped() -> None:
    message = _signed(sample("cloudwatch", "alarm"))
    verify_message(message, [CERT], at=CERT.not_valid_before_utc)
    verify_message(message, [CERT], at=CERT.not_valid_after_utc)
    for outside in (
        CERT.not_valid_after_utc + timedelta(seconds=1),
        CERT.not_valid_before_utc - timedelta(seconds=1),
    ):
        with pytest.raises(SignatureError, match="valid only from"):
            verify_message(message, [CERT], at=outside)
