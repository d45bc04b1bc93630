"""One writer at a time per SQLite engine, queued in Python instead of in SQLite.

SQLite has one write lock per database. A writer that finds it taken is put
to sleep by SQLite's busy handler in growing steps (1, 2, 5, 10 ... 100 ms)
and only then tries again, so a lock held for 2 ms can cost the next writer
25 ms or more. The ingest group-commit thread and the worker write to the
same file all the time, and those sleeps were the tail of event->ticket
latency. Here writers of one engine first take a Python lock, which hands over
the moment the holder commits or rolls back; SQLite's own lock and busy
timeout still order this process against other processes.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["WRITE_LOCK_TIMEOUT", "locking_connection_class"]

#: How long a writer waits for the Python lock before it goes on to SQLite's
#: own lock (and its busy timeout), as it would without this module.
WRITE_LOCK_TIMEOUT = 30.0


def locking_connection_class() -> type[sqlite3.Connection]:
    """A `sqlite3.Connection` subclass whose instances share one new write lock.

    Pass it as `factory` to `sqlite3.connect`; call `begin_write()` before
    `BEGIN IMMEDIATE`. The lock is let go after COMMIT or ROLLBACK has run, or
    when the connection closes, whichever comes first.
    """
    lock = threading.Lock()

    class LockingConnection(sqlite3.Connection):
        write_lock = lock
        _holds_write_lock = False

        def begin_write(self) -> None:
            if not self._holds_write_lock:
                self._holds_write_lock = lock.acquire(timeout=WRITE_LOCK_TIMEOUT)

        def end_write(self) -> None:
            if self._holds_write_lock:
                self._holds_write_lock = False
                lock.release()

        commit = _then_end_write(sqlite3.Connection.commit)
        rollback = _then_end_write(sqlite3.Connection.rollback)
        close = _then_end_write(sqlite3.Connection.close)

    return LockingConnection


def _then_end_write(method: Callable[[sqlite3.Connection], None]) -> Callable[..., None]:
    """`method`, then let go of the write lock, even if `method` failed."""

    def wrapped(self: Any) -> None:
        try:
            method(self)
        finally:
            self.end_write()

    return wrapped
