"""Is the database reachable? One small state tracker shared by the API and the worker.

During an outage every request and every worker round fails the same way; a
traceback for each (1,367 lines in 6 s) buries the one fact an operator needs.
`DatabaseHealth` turns the failures into state changes: one line when the
database becomes unavailable (with the reason, no traceback), at most one
reminder per `remind_every` while it stays down, and one line when it is back,
with how long it was down and how many requests were refused meanwhile.

A statement that succeeds marks it available again (`watch` hooks the
engine), so an API-only process recovers on its next query, whoever makes it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

__all__ = ["UNAVAILABLE", "DatabaseHealth", "is_unavailable", "reason_of"]

log = logging.getLogger("autoticket.database")

# What a database that is down, unreachable, locked or out of connections raises.
# SQLite reports an unopenable or locked file as OperationalError as well.
UNAVAILABLE: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    DisconnectionError,
    PoolTimeoutError,
)


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the database cannot be reached (not that a query is wrong)."""
    if isinstance(exc, UNAVAILABLE):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


# Short, safe phrases for the usual causes: they go to clients and /readyz,
# which must not see host names, user names or SQL.
_KNOWN = (
    ("connection refused", "connection refused"),
    ("could not connect", "cannot connect"),
    ("timeout expired", "connection timed out"),
    ("timed out", "connection timed out"),
    ("server closed the connection", "connection lost"),
    ("connection is closed", "connection lost"),
    ("terminating connection", "connection terminated by the server"),
    ("the database system is", "server starting up or shutting down"),
    ("database is locked", "database is locked"),
    ("unable to open database", "database file cannot be opened"),
    ("disk i/o error", "disk I/O error"),
    ("readonly database", "database is read-only"),
    ("disk is full", "disk full"),
    ("too many clients", "too many connections"),
    ("queuepool limit", "connection pool exhausted"),
)


def reason_of(exc: BaseException) -> str:
    """`OperationalError: connection refused`: the class and a safe phrase for clients."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    text = str(cause).lower()  # not str(exc): that ends with the SQL and its parameters
    name = type(exc).__name__
    for needle, phrase in _KNOWN:
        if needle in text:
            return f"{name}: {phrase}"
    return name


def detail_of(exc: BaseException) -> str:
    """The driver's first line (for the log only): no SQL, no parameters."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0] if lines else ''}"[:300]


class DatabaseHealth:
    """Available or not, since when, and why; logs only when that changes
    (and a reminder every `remind_every` seconds while it is down)."""

    def __init__(
        self, remind_every: float = 30.0, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.remind_every = remind_every
        self._now = monotonic
        self._lock = threading.Lock()
        self.down = False  # read without the lock on the hot path: a bool is atomic
        self.reason = ""
        self._since = 0.0
        self._last_line = 0.0
        self.refused = 0

    def failed(self, exc: BaseException, who: str, refused: bool = False) -> None:
        """Record a failure seen by `who` (`api`, `worker`, `ingest`, ...);
        `refused`: a request was answered 503 because of it."""
        now = self._now()
        with self._lock:
            if refused:
                self.refused += 1
            if not self.down:
                self.down, self.reason = True, reason_of(exc)
                self._since = self._last_line = now
                log.error(
                    "database unavailable (%s, seen by %s): %s; answering 503 until it is back",
                    self.reason,
                    who,
                    detail_of(exc),
                )
                return
            self.reason = reason_of(exc)
            if now - self._last_line < self.remind_every:
                return
            self._last_line = now
            log.warning(
                "database still unavailable after %.0fs (%s), %d requests refused so far",
                now - self._since,
                self.reason,
                self.refused,
            )

    def available(self) -> None:
        """A statement succeeded: if the database was down, it is back."""
        if not self.down:
            return
        now = self._now()
        with self._lock:
            if not self.down:
                return
            down_for, refused = now - self._since, self.refused
            self.down, self.reason, self.refused = False, "", 0
        log.warning("database available again after %.0fs, %d requests refused", down_for, refused)

    def watch(self, engine: Engine) -> None:
        """Mark the database available after every statement that succeeds on `engine`."""
        event.listen(engine, "after_cursor_execute", self._after_statement)

    def _after_statement(self, *_: Any) -> None:
        if self.down:  # one attribute read per statement while all is well
            self.available()
