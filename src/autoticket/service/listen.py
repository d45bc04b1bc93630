"""Bind the HTTP port before anything else starts.

uvicorn binds only after the app has started, so a port already in use used
to surface as a uvicorn traceback after "serving on ..." had been printed and
the database migrated. Binding first turns it into one clear line and exit 2,
and lets `--port 0` pick a free port whose number is then printed.
"""

from __future__ import annotations

import errno
import ipaddress
import socket

__all__ = ["ListenError", "bound_port", "is_loopback", "listen"]


class ListenError(Exception):
    """The address cannot be listened on; the message says which and why."""


def listen(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A listening TCP socket on (host, port), ready to hand to uvicorn."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        reason = exc.strerror or str(exc)
        if exc.errno == errno.EADDRINUSE:
            reason += " (is another autoticket running? pick another with --port)"
        raise ListenError(f"cannot listen on {host}:{port}: {reason}") from None
    return sock


def bound_port(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


def is_loopback(host: str) -> bool:
    """Whether `host` names only this machine: `localhost` or a loopback address."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
