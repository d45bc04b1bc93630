"""People's API tokens: create, list, revoke, and look one up by its secret.

Only the SHA-256 of a secret is stored. A secret is 32 random bytes
(`secrets.token_urlsafe`), so it cannot be guessed or brute-forced from its
hash: a slow password hash (bcrypt, argon2) buys nothing here, and a plain
hash lets every request find its token with one indexed lookup. A stolen
database copy therefore holds no usable credential.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from autoticket.store.tables import api_tokens

__all__ = [
    "ROLES",
    "TOKEN_PREFIX",
    "StoredToken",
    "active_token_count",
    "create_token",
    "find_token",
    "hash_token",
    "list_tokens",
    "needs_touch",
    "revoke_token",
    "touch_token",
]

# Ordered from least to most: each role may do all that the ones before it may.
ROLES = ("viewer", "responder", "admin")
TOKEN_PREFIX = "at_"
# last_used_at is a hint for people auditing tokens; writing it on every
# request would make every read a write.
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class StoredToken:
    id: int
    name: str
    role: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


def _stored(row: Any) -> StoredToken:
    return StoredToken(row.id, row.name, row.role, row.created_at, row.revoked_at, row.last_used_at)


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def create_token(conn: Connection, name: str, role: str, now: datetime) -> tuple[StoredToken, str]:
    """A new token for `name`; the secret is returned once and never stored."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    name = name.strip()
    if not name or len(name) > 128:
        raise ValueError("name must be 1 to 128 characters")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token_id = conn.execute(
        insert(api_tokens)
        .values(name=name, role=role, token_hash=hash_token(secret), created_at=now)
        .returning(api_tokens.c.id)
    ).scalar_one()
    return StoredToken(token_id, name, role, now, None, None), secret


def find_token(conn: Connection, secret: str) -> StoredToken | None:
    """The active (not revoked) token with this secret, if any."""
    row = conn.execute(
        select(api_tokens).where(
            api_tokens.c.token_hash == hash_token(secret), api_tokens.c.revoked_at.is_(None)
        )
    ).first()
    return None if row is None else _stored(row)


def needs_touch(token: StoredToken, now: datetime) -> bool:
    return token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY


def touch_token(conn: Connection, token: StoredToken, now: datetime) -> None:
    """Record a use, at most once a minute per token."""
    if needs_touch(token, now):
        conn.execute(update(api_tokens).where(api_tokens.c.id == token.id).values(last_used_at=now))


def list_tokens(conn: Connection, include_revoked: bool = False) -> list[StoredToken]:
    query = select(api_tokens).order_by(api_tokens.c.id)
    if not include_revoked:
        query = query.where(api_tokens.c.revoked_at.is_(None))
    return [_stored(r) for r in conn.execute(query)]


def active_token_count(conn: Connection) -> int:
    return int(
        conn.execute(
            select(func.count()).select_from(api_tokens).where(api_tokens.c.revoked_at.is_(None))
        ).scalar_one()
    )


def revoke_token(conn: Connection, token_id: int, now: datetime) -> bool:
    """Revoke a token by id; False when there is no active token with that id."""
    result = conn.execute(
        update(api_tokens)
        .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return result.rowcount == 1
