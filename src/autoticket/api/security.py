"""Host check and security headers, for every request (docs/security.md).

A plain ASGI middleware rather than Starlette's BaseHTTPMiddleware: ingest
runs through it, and it only compares one header and appends a fixed list.
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["SECURITY_HEADERS", "SecurityMiddleware", "host_name"]

# No scripts at all, nothing from elsewhere, never framed. Referrer-Policy is
# same-origin, not no-referrer: under no-referrer browsers send `Origin: null`
# on form posts, and the UI's Origin check would refuse its own forms.
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]


MAX_SEEN_HOSTS = 64


def host_name(host: str) -> str:
    """`Example.com:8080` → `example.com`, `[::1]:80` → `::1`: the name, without the port."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host


class SecurityMiddleware:
    """Refuses a Host header not in `allowed_hosts` (DNS rebinding: a page of
    another site whose name now points at this server) and adds the security
    headers to every response."""

    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str]) -> None:
        self.app = app
        names = {host_name(h) for h in allowed_hosts}
        self.any_host = "*" in names
        self.allowed = frozenset(names)
        # Raw Host values already found allowed: the usual request skips parsing.
        self.seen_allowed: set[bytes] = set()

    def _allows(self, host: bytes) -> bool:
        if host_name(host.decode("latin-1")) not in self.allowed:
            return False
        if len(self.seen_allowed) < MAX_SEEN_HOSTS:
            self.seen_allowed.add(host)
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self.any_host:
            host = b""
            for name, value in scope["headers"]:
                if name == b"host":
                    host = value
                    break
            if host not in self.seen_allowed and not self._allows(host):
                await self._refuse(host.decode("latin-1"), send)
                return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _refuse(self, host: str, send: Send) -> None:
        body = orjson.dumps(
            {
                "error": {
                    "status": 400,
                    "code": "host_not_allowed",
                    "message": f"host {host[:100]!r} is not in server.allowed_hosts",
                    "field": "host",
                }
            }
        )
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *SECURITY_HEADERS,
        ]
        await send({"type": "http.response.start", "status": 400, "headers": headers})
        await send({"type": "http.response.body", "body": body})
