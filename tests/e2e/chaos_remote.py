"""A remote ticket system behind the `webhook` sink that fails on purpose.

A tiny threaded HTTP server for a subprocess `autoticket serve`: it keeps one
ticket per incident, applies each idempotency key once (a repeat gets the
first answer), and fails `fail_rate` of the calls — 5xx, 429 with
`Retry-After`, a timeout (an answer later than the sink waits) or a reset
connection; half of the timeouts and resets happen *after* the ticket was
changed, the case where only the idempotency key prevents a double.
"""

from __future__ import annotations

import json
import random
import re
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["ChaosRemote", "HttpBridge", "RemoteTicket"]

_VERSION = re.compile(r":v(\d+):")
FAILURES = ("500", "503", "429", "timeout", "reset")


@dataclass
class RemoteTicket:
    ref: str
    incident_id: int
    title: str
    state: str = "open"
    # (version, action) of each applied action, in the order applied
    history: list[tuple[int, str]] = field(default_factory=list)
    opens: set[str] = field(default_factory=set)  # distinct keys that opened it


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the resets are on purpose


class ChaosRemote:
    def __init__(self, fail_rate: float = 0.3, seed: int = 0, hang: float = 1.5) -> None:
        self.fail_rate = fail_rate
        self.random = random.Random(seed)
        self.hang = hang  # seconds a "timeout" answer takes (more than the sink's timeout)
        self.lock = threading.Lock()
        self.tickets: dict[int, RemoteTicket] = {}
        self.answers: dict[str, dict[str, Any]] = {}
        self.calls = 0
        self.injected: Counter[str] = Counter()
        self.repeats = 0
        remote = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                remote.handle(self, json.loads(body))

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ChaosRemote:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _apply(self, doc: dict[str, Any]) -> dict[str, Any]:
        key = doc["idempotency_key"]
        if key in self.answers:
            self.repeats += 1
            return self.answers[key]
        incident = int(doc["incident_id"])
        action = doc["action"]
        ticket = self.tickets.get(incident)
        if ticket is None:
            ticket = RemoteTicket(f"T-{incident}", incident, doc["ticket"]["title"])
            self.tickets[incident] = ticket
        if action == "open":
            ticket.opens.add(key)
        ticket.state = {"resolve": "resolved", "reopen": "open"}.get(action, ticket.state)
        match = _VERSION.search(key)
        ticket.history.append((int(match.group(1)) if match else 0, action))
        answer = {"id": ticket.ref, "url": f"https://tracker.example/{ticket.ref}"}
        self.answers[key] = answer
        return answer

    def handle(self, request: BaseHTTPRequestHandler, doc: dict[str, Any]) -> None:
        with self.lock:
            self.calls += 1
            failure = None
            if self.random.random() < self.fail_rate:
                failure = self.random.choice(FAILURES)
                self.injected[failure] += 1
            applied_first = self.random.random() < 0.5
            if failure is None or (failure in ("timeout", "reset") and applied_first):
                answer = self._apply(doc)
        if failure in ("500", "503"):
            self._send(request, int(failure), {"error": "remote trouble"})
        elif failure == "429":
            self._send(request, 429, {"error": "slow down"}, {"Retry-After": "1"})
        elif failure == "timeout":
            time.sleep(self.hang)
            self._send(request, 504, {"error": "too late"})
        elif failure == "reset":
            linger = struct.pack("ii", 1, 0)  # RST instead of FIN
            request.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            request.connection.close()
            request.close_connection = True
        else:
            self._send(request, 200, answer)

    @staticmethod
    def _send(
        request: BaseHTTPRequestHandler,
        status: int,
        doc: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> None:
        raw = json.dumps(doc).encode()
        try:
            request.send_response(status)
            for k, v in (headers or {}).items():
                request.send_header(k, v)
            request.send_header("Content-Type", "application/json")
            request.send_header("Content-Length", str(len(raw)))
            request.end_headers()
            request.wfile.write(raw)
        except OSError:
            pass  # the caller gave up (its timeout) or was killed


class HttpBridge:
    """Serves an in-process fake (its `.transport`, an httpx.MockTransport) over real
    HTTP, for a subprocess service, every method with its query string and headers:
    an injected timeout becomes an answer later than the sink waits, an injected
    reset a reset connection."""

    def __init__(self, fake: Any, hang: float = 1.5) -> None:
        self.fake = fake
        self.hang = hang
        self.lock = threading.Lock()
        self.calls = 0
        bridge = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                bridge.handle(self, body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> HttpBridge:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(self, request: BaseHTTPRequestHandler, body: bytes) -> None:
        import httpx

        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        # request.path keeps the query string; the method is the client's own.
        outgoing = httpx.Request(
            request.command, self.base + request.path, headers=headers, content=body
        )
        try:
            with self.lock:
                self.calls += 1
                response = self.fake.transport.handle_request(outgoing)
                response.read()
        except httpx.TimeoutException:
            time.sleep(self.hang)
            ChaosRemote._send(request, 504, {"error": "too late"})
            return
        except httpx.TransportError:
            linger = struct.pack("ii", 1, 0)
            request.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            request.connection.close()
            request.close_connection = True
            return
        try:
            request.send_response(response.status_code)
            for k, v in response.headers.items():
                if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                    request.send_header(k, v)
            request.send_header("Content-Length", str(len(response.content)))
            request.end_headers()
            request.wfile.write(response.content)
        except OSError:
            pass
