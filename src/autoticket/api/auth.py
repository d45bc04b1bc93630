"""Who is asking, and may they: people's tokens and roles (docs/security.md).

The API takes a person's token as `Authorization: Bearer <token>`; the UI
takes it once at /login and keeps it in an HttpOnly session cookie. Ingest
and release posts use the separate ingest credential (api/ingest.py), never
these tokens.

While no token exists at all (a fresh `make run`, which binds loopback only)
an anonymous caller is a responder: the UI and the API work as before. Admin
actions (dead-letter replay) always need an admin token.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from fastapi import Request

from autoticket.api.deps import runtime_of
from autoticket.api.errors import ApiError
from autoticket.service.runtime import Runtime
from autoticket.store import read_only
from autoticket.store.tokens import (
    ROLES,
    active_token_count,
    find_token,
    needs_touch,
    touch_token,
)

__all__ = [
    "ANONYMOUS",
    "SESSION_COOKIE",
    "Principal",
    "anonymous_allowed",
    "as_admin",
    "as_responder",
    "as_viewer",
    "csrf_token",
    "is_json",
    "principal_from_secret",
    "require_role",
    "role_allows",
]

SESSION_COOKIE = "autoticket_session"
Via = Literal["token", "session", "anonymous"]


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: str
    via: Via
    secret: str | None = None

    def may(self, role: str) -> bool:
        return role_allows(self.role, role)


ANONYMOUS = Principal("anonymous", "responder", "anonymous")


def role_allows(have: str, need: str) -> bool:
    return ROLES.index(have) >= ROLES.index(need)


def csrf_token(secret: str) -> str:
    """The form token of a session: derived from its secret, so every process
    checks it without shared state, and it dies with the token."""
    return hmac.new(secret.encode(), b"autoticket-csrf", hashlib.sha256).hexdigest()


def is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media in ("application/json", "text/json") or (
        media.startswith("application/") and media.endswith("+json")
    )


def _bearer(request: Request) -> str | None:
    given = request.headers.get("authorization")
    if given is None:
        return None
    return given[7:].strip() if given[:7].lower() == "bearer " else ""


def principal_from_secret(runtime: Runtime, secret: str, via: Via) -> Principal | None:
    """The owner of an active token with this secret, recording its use; None if none.

    The lookup is a read; only a due `last_used_at` takes a write transaction
    (on SQLite every write transaction queues on the one write lock)."""
    with read_only(runtime.engine) as conn:
        token = find_token(conn, secret)
    if token is None:
        return None
    now = runtime.clock.now()
    if needs_touch(token, now):
        with runtime.engine.begin() as conn:
            touch_token(conn, token, now)
    return Principal(token.name, token.role, via, secret)


def anonymous_allowed(runtime: Runtime) -> bool:
    """True while no person has a token: the service is still in its open, loopback mode."""
    with read_only(runtime.engine) as conn:
        return active_token_count(conn) == 0


def _api_principal(request: Request) -> Principal:
    runtime = runtime_of(request)
    secret = _bearer(request)
    if secret is None:
        if anonymous_allowed(runtime):
            return ANONYMOUS
        raise ApiError(
            401,
            "unauthorized",
            "this endpoint needs a token: Authorization: Bearer <token> (autoticket token create)",
            "authorization",
        )
    principal = principal_from_secret(runtime, secret, "token") if secret else None
    if principal is None:
        raise ApiError(401, "unauthorized", "unknown or revoked token", "authorization")
    return principal


def require_role(role: str, writes: bool = False) -> Callable[[Request], Principal]:
    """A FastAPI dependency: the caller, who must hold `role` or more.

    With `writes`, a call without a bearer token must also send JSON: a
    browser cannot send that cross-site without a CORS preflight (which this
    server never grants), so a cross-site form post cannot change anything.
    """

    def dependency(request: Request) -> Principal:
        principal = _api_principal(request)
        if not principal.may(role):
            if principal.via == "anonymous":
                raise ApiError(
                    401,
                    "unauthorized",
                    f"this action needs a token with the {role} role, even on loopback",
                    "authorization",
                )
            raise ApiError(
                403,
                "forbidden",
                f"token of {principal.name!r} has role {principal.role}; this needs {role}",
                "authorization",
                role=principal.role,
                needs=role,
            )
        if writes and principal.via == "anonymous":
            content_type = request.headers.get("content-type", "")
            if not is_json(content_type):
                raise ApiError(
                    415,
                    "unsupported_media_type",
                    f"content type {content_type or '(none)'!r} is not JSON; state-changing "
                    "calls without a token must send application/json",
                    "content-type",
                )
        request.state.principal = principal  # for the access log: who made the call
        return principal

    return dependency


as_viewer = require_role("viewer")
as_responder = require_role("responder", writes=True)
as_admin = require_role("admin", writes=True)
