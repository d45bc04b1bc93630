"""The incident's correlation key as a remote system sees it.

The idempotency key (`incident:{ref}:v{version}:{action}:{sink}`) starts with
a reference that survives a crashed and retried batch (database ids may not,
see `engine.actions.incident_ref`), so remote lookups and dedup keys use it.
"""

from __future__ import annotations

import hashlib

from autoticket.sinks.base import OutboxItem

__all__ = ["action_marker", "correlation_key"]


def _incident_part(item: OutboxItem) -> str | None:
    parts = item.idempotency_key.split(":")
    if len(parts) >= 3 and parts[0] == "incident" and parts[1]:
        return parts[1]
    return None


def correlation_key(item: OutboxItem) -> str:
    """`autoticket-<ref>`, or `autoticket-<incident id>` for keys of another shape."""
    return f"autoticket-{_incident_part(item) or item.incident_id}"


def action_marker(item: OutboxItem) -> str:
    """A short stable tag of this one action (same on every attempt), to make repeats visible."""
    return hashlib.sha256(item.idempotency_key.encode()).hexdigest()[:10]
