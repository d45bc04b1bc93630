"""Log lines of the long-running commands: plain, one per record, on stderr.

Without this, only warnings reached stderr (Python's last-resort handler) and
the access and ticket-action lines, at INFO, went nowhere.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

__all__ = ["configure_logging"]

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """Ours, so a second call does not add a second one. Without a stream of its
    own it writes to `sys.stderr` as it is at each record, not as it was when
    configured (a test runner swaps it per command)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._own = stream
        super().__init__(stream)

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return self._own if self._own is not None else sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        if value is not sys.stderr:
            self._own = value


def configure_logging(level: str | None = None, stream: TextIO | None = None) -> None:
    """Send the `autoticket.*` loggers to `stream` (stderr) at `level`
    (default `$AUTOTICKET_LOG_LEVEL` or INFO)."""
    logger = logging.getLogger("autoticket")
    name = (level or os.environ.get("AUTOTICKET_LOG_LEVEL") or "INFO").upper()
    logger.setLevel(getattr(logging, name, logging.INFO))
    if any(isinstance(h, _Handler) for h in logger.handlers):
        return
    handler = _Handler(stream)
    handler.setFormatter(logging.Formatter(FORMAT))
    logger.addHandler(handler)
