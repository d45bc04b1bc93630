"""uvicorn's h11 protocol with a deadline on a request's line and headers.

uvicorn times out idle keep-alive connections, but not a connection that never
completes its headers: a client sending a header byte every few seconds (or
nothing at all after connecting) holds a connection, and a place under
`server.max_connections`, for as long as it likes. This protocol closes such a
connection once `server.header_timeout` has passed since it opened or since
its last response: with a 408 if part of a request came, silently (as the
keep-alive timeout does) if nothing did, so a pooled idle connection never
reads a response it did not ask for. The body has its own deadline, in ingest.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["with_header_deadline"]

_TIMED_OUT = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"connection: close\r\n"
    b"content-length: 37\r\n\r\n"
    b"request headers not received in time\n"
)


class _HeaderDeadlineProtocol(H11Protocol):
    header_timeout: ClassVar[float] = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None
        self._got_data = False  # since the deadline was armed

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        self._got_data = True
        super().data_received(data)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request's headers get the same time

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._got_data = False
        self._header_deadline = self.loop.call_later(self.header_timeout, self._expired)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _expired(self) -> None:
        self._header_deadline = None
        # IDLE: h11 has not seen a whole request line and headers yet. A request
        # being read or answered is not ours to cut (ingest bounds its body).
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            if self._got_data:
                self.transport.write(_TIMED_OUT)
            self.transport.close()


def with_header_deadline(seconds: float) -> type[H11Protocol]:
    """The protocol class to hand to uvicorn (`http=`), with this header deadline."""
    return type("HeaderDeadlineProtocol", (_HeaderDeadlineProtocol,), {"header_timeout": seconds})
