"""Drop unchanged re-sends of Prometheus alerts before they cost anything.

Prometheus re-sends every active alert every minute (`resend_delay`), each
time with `endsAt` moved forward and nothing else changed. Storing and
correlating each copy would only bump the alert's last seen. This filter
remembers, per alert (its label set), a hash of everything but `endsAt` plus
whether it is resolved, and when it was last let through; a copy with the
same hash within `ingest.unchanged_resend_window` is dropped before the inbox.
A copy past the window is let through, so the alert's last seen and count
still move (at the window's pace) and nothing waits on a dropped copy: the
resolve timer runs from the resolve, which always changes the hash.

The memory is per process and bounded (MAX_ENTRIES, oldest forgotten
first); forgetting only means the next copy is stored, as without the filter.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from autoticket.errors import PayloadError
from autoticket.sources.base import parse_optional_time

__all__ = ["MAX_ENTRIES", "ResendFilter", "Sieved"]

MAX_ENTRIES = 100_000


@dataclass(slots=True)
class Sieved:
    """The body to store (None: every alert was an unchanged re-send), how many
    alerts were dropped, and what to remember once the body is stored."""

    body: bytes | None
    dropped: int
    pending: list[tuple[bytes, bytes]]


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


class ResendFilter:
    """Per-process memory of the Prometheus alerts recently let through."""

    def __init__(self, window: timedelta, max_entries: int = MAX_ENTRIES) -> None:
        self.window = window
        self.max_entries = max_entries
        # label-set digest -> (content digest, when last let through)
        self._seen: dict[bytes, tuple[bytes, datetime]] = {}

    def __len__(self) -> int:
        return len(self._seen)

    def sieve(self, body: bytes, now: datetime) -> Sieved:
        """Split `body` (an /api/v2/alerts array) into what must be stored.

        Anything that is not a well-formed array of alert objects is passed
        through whole, for the adapter to refuse with its precise error.
        """
        if self.window <= timedelta(0):
            return Sieved(body, 0, [])
        try:
            alerts = orjson.loads(body)
        except orjson.JSONDecodeError:
            return Sieved(body, 0, [])
        if type(alerts) is not list:
            return Sieved(body, 0, [])
        kept: list[Any] = []
        pending: list[tuple[bytes, bytes]] = []
        for alert in alerts:
            keys = self._keys(alert, now)
            if keys is None:
                return Sieved(body, 0, [])
            key, content = keys
            seen = self._seen.get(key)
            if seen is not None and seen[0] == content and now - seen[1] < self.window:
                continue
            kept.append(alert)
            pending.append((key, content))
        dropped = len(alerts) - len(kept)
        if not kept and alerts:
            return Sieved(None, dropped, [])
        return Sieved(body if not dropped else orjson.dumps(kept), dropped, pending)

    def remember(self, pending: list[tuple[bytes, bytes]], now: datetime) -> None:
        """Record alerts that were stored (only then: a 503 must not hide the retry)."""
        seen = self._seen
        for key, content in pending:
            seen.pop(key, None)
            seen[key] = (content, now)
        while len(seen) > self.max_entries:
            del seen[next(iter(seen))]

    @staticmethod
    def _keys(alert: Any, now: datetime) -> tuple[bytes, bytes] | None:
        if type(alert) is not dict or type(alert.get("labels")) is not dict:
            return None
        try:
            ends_at = parse_optional_time(alert.get("endsAt"), "endsAt")
            key = _digest(orjson.dumps(alert["labels"], option=orjson.OPT_SORT_KEYS))
            rest = {k: v for k, v in alert.items() if k != "endsAt"}
            rest["resolved"] = ends_at is not None and ends_at <= now
            content = _digest(orjson.dumps(rest, option=orjson.OPT_SORT_KEYS))
        except (PayloadError, TypeError, orjson.JSONEncodeError):
            return None
        return key, content
