"""The source alerts of inhibition rules: kept, dropped, looked up (policy/inhibit.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, select

from autoticket.store.tables import inhibit_sources
from autoticket.store.upsert import upsert

__all__ = ["drop_source", "keep_source", "sources_in_scope"]


def keep_source(conn: Connection, rule: str, fingerprint: str, scope: str, since: datetime) -> None:
    row = {"rule": rule, "fingerprint": fingerprint, "scope": scope, "since": since}
    upsert(conn, inhibit_sources, [row], ["rule", "fingerprint"])


def drop_source(conn: Connection, fingerprint: str) -> None:
    conn.execute(delete(inhibit_sources).where(inhibit_sources.c.fingerprint == fingerprint))


def sources_in_scope(conn: Connection, rule: str, scope: str) -> list[str]:
    """The fingerprints kept for `rule` with these `equal` values, oldest first."""
    query = (
        select(inhibit_sources.c.fingerprint)
        .where(inhibit_sources.c.rule == rule, inhibit_sources.c.scope == scope)
        .order_by(inhibit_sources.c.since, inhibit_sources.c.fingerprint)
    )
    return list(conn.execute(query).scalars())
