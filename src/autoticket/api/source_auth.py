"""Who may send to a source: a bearer token, an HMAC signature, or both.

`sources.<name>` in the config decides per source (docs/sources/auth.md);
a source without an entry falls back to AUTOTICKET_INGEST_TOKEN (and is open
when that is unset). A refused request is answered 401 with the reason,
counted in `autoticket_source_auth_failures{source,reason}` and not kept:
an unauthenticated body is anyone's, and keeping it as a dead letter would
let anyone fill the store.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from collections.abc import Mapping
from dataclasses import replace

from fastapi import Request

from autoticket.api.errors import ApiError
from autoticket.config import Config, HmacConfig, SourceAuthConfig
from autoticket.sources import SOURCES
from autoticket.sources.signature import (
    GENERIC_SIGNATURE,
    HmacScheme,
    SignatureError,
    verify_signature,
)

__all__ = [
    "DEFAULT_TOKEN_ENV",
    "auth_mode",
    "check_source_signature",
    "check_source_token",
    "refuse",
    "scheme_of",
]

DEFAULT_TOKEN_ENV = "AUTOTICKET_INGEST_TOKEN"


def _entry(config: Config, source: str) -> SourceAuthConfig | None:
    return config.sources.get(source)


def scheme_of(source: str, hmac_config: HmacConfig) -> HmacScheme:
    """The adapter's declared scheme (or the generic one) with the config's overrides."""
    cls = SOURCES.get(source)
    base = (cls.signature if cls is not None else None) or GENERIC_SIGNATURE
    overrides = {
        k: v
        for k, v in (
            ("header", hmac_config.header),
            ("algorithm", hmac_config.algorithm),
            ("prefix", hmac_config.prefix),
            ("encoding", hmac_config.encoding),
        )
        if v is not None
    }
    return replace(base, **overrides) if overrides else base


def auth_mode(config: Config, source: str) -> dict[str, object]:
    """What GET /api/v1/sources shows about a source's authentication (no secrets)."""
    entry = _entry(config, source)
    token_env = entry.token_env if entry is not None and entry.token_env else None
    if entry is None or (entry.token_env is None and entry.hmac is None and entry.sns is None):
        token_env = DEFAULT_TOKEN_ENV
    mode: dict[str, object] = {
        "token": token_env is not None and bool(os.environ.get(token_env)),
        "token_env": token_env,
    }
    if entry is not None and entry.hmac is not None:
        scheme = scheme_of(source, entry.hmac)
        mode["hmac"] = {
            "header": scheme.header,
            "algorithm": scheme.algorithm,
            "prefix": scheme.prefix,
            "encoding": scheme.encoding,
            "secret_env": entry.hmac.secret_env,
        }
    else:
        mode["hmac"] = None
    if entry is not None and entry.sns is not None:
        mode["sns_signature"] = {
            "certificate": entry.sns.certificate is not None,
            "fetch_certificate": entry.sns.fetch_certificate,
            "auto_confirm": entry.sns.auto_confirm,
        }
    return mode


def refuse(request: Request, source: str, reason: str, message: str, field: str) -> ApiError:
    """The counted 401 for a request `source` does not accept."""
    telemetry = request.app.state.runtime.telemetry
    telemetry.source_auth_failures.labels(source if source in SOURCES else "unknown", reason).inc()
    return ApiError(401, "unauthorized", message, field, reason=reason)


def _secret(name: str, source: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ApiError(
            503,
            "source_auth_unconfigured",
            f"sources.{source} names the secret {name}, which is not set in the environment",
            "authorization",
        )
    return value


def _given_token(headers: Mapping[str, str]) -> str | None:
    """The bearer token, or the password of HTTP basic auth (what Prometheus's
    `basic_auth` sends; the user name is ignored)."""
    given = headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        return value.strip() or None
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None


def check_source_token(request: Request, source: str) -> None:
    """Before the body is read: the token of `source`, when one is required."""
    config: Config = request.app.state.runtime.config
    entry = _entry(config, source)
    if entry is None or (entry.token_env is None and entry.hmac is None and entry.sns is None):
        name: str | None = DEFAULT_TOKEN_ENV
        expected = os.environ.get(DEFAULT_TOKEN_ENV)
        if not expected:
            return
    else:
        name = entry.token_env
        if name is None:
            return
        expected = _secret(name, source)
    token = _given_token(request.headers)
    if token is None:
        raise refuse(
            request,
            source,
            "missing_token",
            f"missing ingest token for source {source!r} "
            "(Authorization: Bearer <token>, or basic auth with the token as password)",
            "authorization",
        )
    if not secrets.compare_digest(token.encode(), expected.encode()):
        raise refuse(
            request,
            source,
            "wrong_token",
            f"wrong ingest token for source {source!r}",
            "authorization",
        )


def check_source_signature(request: Request, source: str, body: bytes) -> None:
    """After the body is read: its HMAC signature, when `sources.<source>.hmac` is set."""
    config: Config = request.app.state.runtime.config
    entry = _entry(config, source)
    if entry is None or entry.hmac is None:
        return
    scheme = scheme_of(source, entry.hmac)
    secret = _secret(entry.hmac.secret_env, source)
    try:
        verify_signature(scheme, secret.encode(), body, request.headers)
    except SignatureError as exc:
        raise refuse(request, source, "bad_signature", str(exc), scheme.header.lower()) from None
