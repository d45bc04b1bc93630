"""HMAC request signatures: how a sender signs its body, and the check.

Shared by sources (their adapters' schemes) and sinks' two-way sync webhooks
(GitHub's and Jira Cloud's `X-Hub-Signature[-256]`).

An adapter whose tool signs its webhooks declares the scheme as a class
attribute (`signature = HmacScheme("X-Hub-Signature-256", prefix="sha256=")`);
the operator then only names the secret (`sources.<name>.hmac.secret_env`) and
may override header, prefix or algorithm there. Sources without a declared
scheme get GENERIC_SIGNATURE. The check is pure: api/source_auth.py reads the
config and the environment and calls `verify_signature`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = ["ALGORITHMS", "GENERIC_SIGNATURE", "HmacScheme", "SignatureError", "verify_signature"]

ALGORITHMS = ("sha256", "sha1", "sha512")
Encoding = Literal["hex", "base64"]


@dataclass(frozen=True, slots=True)
class HmacScheme:
    """Where a signature travels and how it is written.

    The header value is `prefix + encode(HMAC(secret, body))`; hex compares
    case-insensitively.
    """

    header: str
    algorithm: str = "sha256"
    prefix: str = ""
    encoding: Encoding = "hex"

    def sign(self, secret: bytes, body: bytes) -> str:
        """The header value a correct sender writes (for tests and docs)."""
        digest = hmac.new(secret, body, self.algorithm).digest()
        text = digest.hex() if self.encoding == "hex" else base64.b64encode(digest).decode()
        return self.prefix + text


GENERIC_SIGNATURE = HmacScheme("X-Autoticket-Signature", prefix="sha256=")
"""The signature header of sources whose tool has no scheme of its own."""


class SignatureError(Exception):
    """A missing or wrong signature; the message is the reason for the 401."""


def verify_signature(
    scheme: HmacScheme, secret: bytes, body: bytes, headers: Mapping[str, str]
) -> None:
    """Raise SignatureError unless `headers` carry the right signature of `body`.

    `headers` must look names up case-insensitively (Starlette's do).
    """
    given = headers.get(scheme.header)
    if not given:
        raise SignatureError(f"missing signature header {scheme.header}")
    given = given.strip()
    if scheme.prefix:
        if not given.startswith(scheme.prefix):
            raise SignatureError(
                f"{scheme.header} must start with {scheme.prefix!r} ({scheme.algorithm})"
            )
        given = given[len(scheme.prefix) :]
    try:
        raw = (
            bytes.fromhex(given)
            if scheme.encoding == "hex"
            else base64.b64decode(given, validate=True)
        )
    except (ValueError, binascii.Error):
        raise SignatureError(f"{scheme.header} is not {scheme.encoding}") from None
    expected = hmac.new(secret, body, getattr(hashlib, scheme.algorithm)).digest()
    if not hmac.compare_digest(raw, expected):
        raise SignatureError(
            f"{scheme.header} does not match the body (wrong secret or altered body)"
        )
