"""Amazon SNS HTTP(S) delivery: the envelope, its signature's canonical string, the check.

SNS signs a message by the fields below, each as `name\\nvalue\\n`, in this
order (absent optional fields are left out). Signature version 1 signs with
SHA1withRSA, version 2 with SHA256withRSA, by the key of the certificate at
`SigningCertURL`. `verify_message` checks that against certificates the
caller supplies (api/sns.py reads the configured PEM file, or fetches an
allowlisted SigningCertURL when the operator opted in); nothing here does I/O.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509 import Certificate

from autoticket.errors import PayloadError
from autoticket.sources.base import json_type
from autoticket.sources.signature import SignatureError

__all__ = [
    "FUTURE_SKEW",
    "SIGNATURE_VERSIONS",
    "SIGNED_FIELDS",
    "canonical_string",
    "check_timestamp",
    "verify_message",
]

FUTURE_SKEW = timedelta(minutes=5)
"""How far ahead of our clock a message's Timestamp may be (clock skew)."""

SIGNATURE_VERSIONS: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
"""SNS's SignatureVersion: the hash of the RSA PKCS#1 v1.5 signature."""

SIGNED_FIELDS: dict[str, tuple[str, ...]] = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
    "UnsubscribeConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
_OPTIONAL = frozenset({"Subject"})


def canonical_string(envelope: dict[str, Any]) -> bytes:
    """The bytes SNS signed for this envelope; PayloadError names a missing field."""
    kind = envelope.get("Type")
    fields = SIGNED_FIELDS.get(kind) if type(kind) is str else None
    if fields is None:
        raise PayloadError("Type", f"expected one of {', '.join(SIGNED_FIELDS)}, got {kind!r:.64}")
    parts: list[str] = []
    for name in fields:
        value = envelope.get(name)
        if value is None and name in _OPTIONAL:
            continue
        if type(value) is not str:
            reason = (
                "required field is missing"
                if value is None
                else (f"expected a string, got {json_type(value)}")
            )
            raise PayloadError(name, reason)
        parts.append(f"{name}\n{value}\n")
    return "".join(parts).encode()


def check_timestamp(envelope: dict[str, Any], now: datetime, max_age: timedelta) -> None:
    """Raise SignatureError for a message older than `max_age` or from the future.

    A valid signature proves who wrote a message, not when it was sent: an
    old capture posted again would still verify. `max_age` of zero turns the
    age check off (the future check stays).
    """
    raw = envelope.get("Timestamp")
    if type(raw) is not str:
        raise SignatureError("Timestamp: required field is missing")
    try:
        sent = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise SignatureError(f"Timestamp: not an ISO 8601 time: {raw[:64]!r}") from None
    if sent.tzinfo is None:
        sent = sent.replace(tzinfo=UTC)
    if sent > now + FUTURE_SKEW:
        raise SignatureError(
            f"Timestamp {raw} is in the future (our clock: {now:%Y-%m-%dT%H:%M:%SZ})"
        )
    if max_age > timedelta(0) and now - sent > max_age:
        raise SignatureError(
            f"Timestamp {raw} is older than sns.max_age ({max_age}): a replayed message?"
        )


def _in_validity(certificate: Certificate, at: datetime) -> bool:
    return certificate.not_valid_before_utc <= at <= certificate.not_valid_after_utc


def verify_message(
    envelope: Any, certificates: Sequence[Certificate], at: datetime | None = None
) -> None:
    """Raise SignatureError unless one of `certificates` signed this SNS message.

    The reason names what is wrong: no signature, an unknown SignatureVersion,
    a missing signed field, a signature no certificate's key matches (altered
    message or another signer), or, with `at`, a matching certificate that is
    not valid at that instant (expired or not yet valid).
    """
    if type(envelope) is not dict:
        raise SignatureError(f"expected a signed SNS message object, got {json_type(envelope)}")
    version = envelope.get("SignatureVersion")
    algorithm = SIGNATURE_VERSIONS.get(version) if type(version) is str else None
    if algorithm is None:
        raise SignatureError(
            f"SignatureVersion must be '1' (SHA1withRSA) or '2' (SHA256withRSA), "
            f"got {version!r:.64}"
        )
    signature = envelope.get("Signature")
    if type(signature) is not str or not signature:
        raise SignatureError("missing Signature")
    try:
        raw = base64.b64decode(signature, validate=True)
    except (ValueError, binascii.Error):
        raise SignatureError("Signature is not base64") from None
    try:
        signed = canonical_string(envelope)
    except PayloadError as exc:
        raise SignatureError(f"cannot check the signature: {exc.field}: {exc.reason}") from None
    outside: Certificate | None = None
    for certificate in certificates:
        key = certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            continue
        try:
            key.verify(raw, signed, padding.PKCS1v15(), algorithm())
        except InvalidSignature:
            continue
        if at is None or _in_validity(certificate, at):
            return
        outside = certificate
    if outside is not None:
        raise SignatureError(
            "the certificate that signed the message is valid only from "
            f"{outside.not_valid_before_utc:%Y-%m-%d} to {outside.not_valid_after_utc:%Y-%m-%d}: "
            "replace the configured certificate"
        )
    raise SignatureError(
        f"Signature (version {version}) does not match the message for the configured "
        "certificate (altered message or another signer)"
    )
