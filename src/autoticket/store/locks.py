"""Per-correlation-key locks, so N workers never interleave on one incident.

On PostgreSQL a transaction-scoped advisory lock per *slot*: a key hashes to
one of `SLOTS` slots, and the slots are taken in sorted order (no
deadlocks); they are released at commit, after which the next worker reads
what the first one wrote. Slots, not keys, bound the locks one transaction
holds: PostgreSQL's lock table is shared and small (max_locks_per_transaction
x max_connections, 6,400 by default), and one storm delivery with 28,000
distinct keys would otherwise exhaust it and fail every retry of its batch.
Two keys in one slot only make their workers take turns.

On SQLite, BEGIN IMMEDIATE already makes writers take turns, so nothing is
needed. The unique index on open_key stays the final guard either way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlalchemy import Connection, select, text

from autoticket.store.tables import incidents

__all__ = ["LOCK_NAMESPACE", "SLOTS", "lock_incident_keys", "lock_keys", "slot_of"]

SLOTS = 1024
# The first half of the two-int advisory lock key: keeps our locks apart from
# any other application's on a shared database ("AT" for autoticket).
LOCK_NAMESPACE = 0x4154

_LOCK = text(
    "SELECT pg_advisory_xact_lock(CAST(:ns AS integer), s) "
    "FROM unnest(CAST(:slots AS integer[])) AS s ORDER BY s"
)


def slot_of(key: str) -> int:
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % SLOTS


def lock_keys(conn: Connection, keys: Iterable[str]) -> bool:
    """Lock the slots of `keys` for the rest of the transaction; True when locks were taken."""
    if conn.dialect.name != "postgresql":
        return False
    slots = sorted({slot_of(k) for k in keys})
    if slots:
        conn.execute(_LOCK, {"ns": LOCK_NAMESPACE, "slots": slots})
    return bool(slots)


def lock_incident_keys(conn: Connection, incident_ids: Iterable[int]) -> None:
    """Lock the correlation keys of these incidents, as a batch touching them would.

    Timer kinds take it before they re-read their incidents, so a worker's
    batch and a firing never change one incident at the same time.
    """
    ids = sorted(set(incident_ids))
    query = select(incidents.c.correlation_key).where(incidents.c.id.in_(ids))
    lock_keys(conn, sorted(set(conn.execute(query).scalars())))
