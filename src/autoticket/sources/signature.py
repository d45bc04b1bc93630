"""HMAC request signatures of sources: the shared scheme and check now live in
`autoticket.signature` (sinks' webhooks use them too); re-exported here so
source adapters and api/source_auth.py keep importing them from here."""

from __future__ import annotations

from autoticket.signature import (
    ALGORITHMS,
    GENERIC_SIGNATURE,
    HmacScheme,
    SignatureError,
    verify_signature,
)

__all__ = ["ALGORITHMS", "GENERIC_SIGNATURE", "HmacScheme", "SignatureError", "verify_signature"]
