"""One access log line per HTTP request, for every route, in one place.

`GET /api/v1/incidents?status=all 200 3.1ms 127.0.0.1 ops`: method, path as
received (percent-encoded, so no line breaks), the query with the values of
secret-looking keys masked, status, duration, client address and the name of
the token's owner (`anonymous`, or `-` before or without authentication).
Never a token, a cookie or an Authorization header. A plain ASGI middleware,
as `security.py`: it only reads the status on the way out.
"""

from __future__ import annotations

import logging
import re
import time
from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["AccessLogMiddleware", "loggable_query"]

log = logging.getLogger("autoticket.access")

MAX_PATH = 300  # characters of path and query kept: a 64 KiB URL is not a log line
_SECRET_KEY = re.compile(r"token|secret|pass|key|auth|sig|session|csrf|code|cred", re.I)


def loggable_query(raw: bytes) -> str:
    """`status=all&token=***`: the query with the values of secret-looking keys masked."""
    if not raw:
        return ""
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    masked = [(k, "***" if _SECRET_KEY.search(k) else v) for k, v in pairs]
    return "?" + urlencode(masked, safe="*/:,")


def _who(scope: Scope) -> str:
    principal = scope.get("state", {}).get("principal")
    return principal.name if principal is not None else "-"


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            raw_path = scope.get("raw_path")
            path = raw_path.decode("latin-1") if raw_path else scope["path"]
            target = (path + loggable_query(scope.get("query_string", b"")))[:MAX_PATH]
            client = scope.get("client")
            log.info(
                "%s %s %d %.1fms %s %s",
                scope["method"],
                target,
                status,
                (time.perf_counter() - started) * 1000,
                client[0] if client else "-",
                _who(scope),
            )
