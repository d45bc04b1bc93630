"""sources/sns.verify_message on anything: a SignatureError with a reason, never
another exception, and never a pass without the right key."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from autoticket.sources.signature import SignatureError
from autoticket.sources.sns import canonical_string, verify_message
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
