"""Who is signed in to the UI, and whether a form post really came from it.

The session cookie holds the person's token (HttpOnly, SameSite=Strict), so a
revoked token ends its sessions at once. Forms carry a CSRF token derived
from it, and a signed-in form post must carry a same-origin `Origin`.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from fastapi import Request

from autoticket.api.auth import (
    ANONYMOUS,
    SESSION_COOKIE,
    Principal,
    anonymous_allowed,
    csrf_token,
    principal_from_secret,
)
from autoticket.api.deps import runtime_of

__all__ = [
    "LoginRequired",
    "csrf_of",
    "csrf_ok",
    "safe_next",
    "same_origin",
    "session_principal",
    "signed_in",
]


class LoginRequired(Exception):
    """Raised by `signed_in` when a page needs a session; answered with a redirect to /login."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def session_principal(request: Request) -> Principal | None:
    """The owner of the session cookie; anonymous while no token exists; else None."""
    runtime = runtime_of(request)
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        principal = principal_from_secret(runtime, secret, "session")
        if principal is not None:
            return principal
    return ANONYMOUS if anonymous_allowed(runtime) else None


def signed_in(request: Request) -> Principal:
    """A dependency of every UI page: the viewer, or a redirect to the login page."""
    principal = session_principal(request)
    if principal is None:
        raise LoginRequired(request.url.path)
    request.state.principal = principal
    return principal


def csrf_of(principal: Principal | None) -> str | None:
    if principal is None or principal.secret is None:
        return None
    return csrf_token(principal.secret)


def csrf_ok(principal: Principal, form: dict[str, list[str]]) -> bool:
    """A signed-in post must carry its session's form token; anonymous ones have none."""
    expected = csrf_of(principal)
    if expected is None:
        return True
    given = (form.get("csrf") or [""])[0]
    return hmac.compare_digest(given.encode(), expected.encode())


def same_origin(request: Request, required: bool) -> bool:
    """Whether a form post came from this site: its Origin names the Host it was sent to.

    The Host itself was checked against server.allowed_hosts by the middleware.
    A post without Origin passes only when not `required` (no session cookie
    to ride on); browsers send Origin on every form post.
    """
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return not required and origin is None
    return urlsplit(origin).netloc == request.headers.get("host", "")


def safe_next(raw: str | None) -> str:
    """Where to go after signing in: a path on this site only (never `//evil`)."""
    if not raw or not raw.startswith("/") or raw.startswith("//") or "\\" in raw:
        return "/"
    return raw
