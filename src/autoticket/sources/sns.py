"""Amazon SNS HTTP(S) delivery: the envelope, and its signature's canonical string.

SNS signs a message by the fields below, each as `name\\nvalue\\n`, in this
order (absent optional fields are left out). Signature version 1 signs with
SHA1withRSA, version 2 with SHA256withRSA, by the key of the certificate at
`SigningCertURL`. Verifying needs an RSA library (`cryptography`, not a
dependency yet): this module builds the signed bytes so that a verifier
against a configured certificate file (never a download) can be added.
"""

from __future__ import annotations

from typing import Any

from autoticket.errors import PayloadError
from autoticket.sources.base import json_type

__all__ = ["SIGNED_FIELDS", "canonical_string"]

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
