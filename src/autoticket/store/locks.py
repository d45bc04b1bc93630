"""Per-correlation-key locks, so N workers never interleave on one incident.

On PostgreSQL a transaction-scoped advisory lock per key, taken in sorted
order (no deadlocks); it is released at commit, after which the next worker
reads what the first one wrote. On SQLite, BEGIN IMMEDIATE already makes
writers take turns, so nothing is needed. The unique index on open_key stays
the final guard either way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlalchemy import Connection, text

__all__ = ["lock_keys"]


def _key_id(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)


def lock_keys(conn: Connection, keys: Iterable[str]) -> bool:
    """Lock `keys` for the rest of the transaction; True when locks were taken."""
    if conn.dialect.name != "postgresql":
        return False
    ids = sorted({_key_id(k) for k in keys})
    if ids:
        conn.execute(
            text(
                "SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:ids AS bigint[])) AS k "
                "ORDER BY k"
            ),
            {"ids": ids},
        )
    return bool(ids)
