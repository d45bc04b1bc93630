"""Payloads that could not be processed, kept with the reason for replay."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, LargeBinary, String, func, insert, select, update

from autoticket.model import DeadLetter
from autoticket.store.tables import dead_letters, inbox

__all__ = [
    "DeadLetterSummary",
    "accepted_result",
    "add_dead_letters",
    "clip",
    "count_dead_letters",
    "earlier_replay_id",
    "failed_result",
    "get_dead_letter",
    "list_dead_letters",
    "mark_replayed",
    "replay_delivery_id",
]


def _length(column: Any) -> int | None:
    return column.type.length if isinstance(column.type, String) else None


_DELIVERY_ID_MAX = _length(dead_letters.c.delivery_id) or 64
_SOURCE_MAX = _length(dead_letters.c.source) or 64
_STAGE_MAX = _length(dead_letters.c.stage) or 32
_FIELD_MAX = _length(dead_letters.c.field) or 256
_INBOX_DELIVERY_ID_MAX = _length(inbox.c.delivery_id) or 64


def clip(value: str | None, size: int) -> str | None:
    """`value` cut to `size` characters (a column's size), so storing never fails on length."""
    if value is None or len(value) <= size:
        return value
    return value[:size]


def add_dead_letters(
    conn: Connection, items: list[DeadLetter], status_code: int | None = None
) -> list[int]:
    """Store dead letters; strings are clipped to their column sizes.

    A dead letter exists to keep what could not be processed, so a value that
    does not fit (a 70-character source name in the URL, say) must not make
    keeping it fail: the full body is kept, only the labels are cut.
    """
    ids: list[int] = []
    for item in items:
        d = item.delivery
        ids.append(
            conn.execute(
                insert(dead_letters)
                .values(
                    delivery_id=clip(d.id, _DELIVERY_ID_MAX),
                    source=clip(d.source, _SOURCE_MAX),
                    received_at=d.received_at,
                    stage=clip(item.stage, _STAGE_MAX),
                    field=clip(item.field, _FIELD_MAX),
                    error=item.error,
                    status_code=status_code,
                    headers=d.headers,
                    body=d.body,
                    replay_count=0,
                )
                .returning(dead_letters.c.id)
            ).scalar_one()
        )
    return ids


_SUMMARY_COLUMNS = [c for c in dead_letters.c if c.name != "body"]


@dataclass(frozen=True, slots=True)
class DeadLetterSummary:
    """A dead letter without its body: the body's `size` and its first bytes, `head`."""

    id: int
    delivery_id: str
    source: str
    received_at: datetime
    stage: str
    field: str | None
    error: str
    status_code: int | None
    headers: dict[str, str]
    replay_count: int
    replayed_at: datetime | None
    replay_result: str | None
    size: int
    head: bytes


def list_dead_letters(
    conn: Connection,
    limit: int = 100,
    offset: int = 0,
    *,
    before_id: int | None = None,
    head_bytes: int = 1024,
) -> list[DeadLetterSummary]:
    """Newest first, without the bodies: a page of 1 MiB bodies costs a page of heads.

    Keyset paging: `before_id` (the last id of the previous page) is a seek on
    the primary key, however deep the page; `offset` still works. PostgreSQL
    cuts the head in SQL (`substr` reads only the first TOAST chunks); SQLite's
    `substr` would load every whole blob, so there the head is read through
    incremental blob I/O, a page or two per row.
    """
    body = dead_letters.c.body
    sqlite = conn.dialect.name == "sqlite"
    columns: list[Any] = [*_SUMMARY_COLUMNS, func.length(body).label("size")]
    if not sqlite:
        columns.append(func.substr(body, 1, head_bytes, type_=LargeBinary).label("head"))
    query = select(*columns)
    if before_id is not None:
        query = query.where(dead_letters.c.id < before_id)
    query = query.order_by(dead_letters.c.id.desc()).limit(limit).offset(offset)
    rows = [dict(row._mapping) for row in conn.execute(query)]
    if sqlite:
        rows = [row for row in rows if _add_sqlite_head(conn, row, head_bytes)]
    for row in rows:
        row["size"] = int(row["size"] or 0)
        row["head"] = bytes(row["head"] or b"")
    return [DeadLetterSummary(**row) for row in rows]


def _add_sqlite_head(conn: Connection, row: dict[str, Any], head_bytes: int) -> bool:
    """Set row["head"] from the blob itself; False if the row was deleted meanwhile."""
    raw = conn.connection.driver_connection
    try:
        blob = raw.blobopen("dead_letters", "body", row["id"], readonly=True)  # type: ignore[union-attr]
        with blob:
            row["head"] = blob.read(head_bytes)
    except sqlite3.OperationalError:  # purged between the query and the read
        return False
    return True


def get_dead_letter(conn: Connection, dead_letter_id: int, lock: bool = False) -> Any | None:
    """One dead letter; with `lock`, its row stays locked until the transaction ends.

    The lock is `SELECT ... FOR UPDATE` on PostgreSQL; on SQLite every write
    transaction (BEGIN IMMEDIATE) already holds the database lock.
    """
    query = select(dead_letters).where(dead_letters.c.id == dead_letter_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return conn.execute(query).first()


def mark_replayed(conn: Connection, dead_letter_id: int, now: datetime, result: str) -> None:
    conn.execute(
        update(dead_letters)
        .where(dead_letters.c.id == dead_letter_id)
        .values(replay_count=dead_letters.c.replay_count + 1, replayed_at=now, replay_result=result)
    )


def replay_delivery_id(delivery_id: str, replay_number: int) -> str:
    """The delivery id of replay number `replay_number` (1, 2, ...) of a dead letter.

    `<delivery id>-r<n>`, the original id cut if needed so that the whole fits
    the inbox column.
    """
    suffix = f"-r{replay_number}"
    return delivery_id[: _INBOX_DELIVERY_ID_MAX - len(suffix)] + suffix


# replay_result: "accepted <n> event(s) as <delivery id>" once a replay was fed in;
# "failed: <reason>" for a failed one, prefixed by "accepted earlier as <id>; " when
# an earlier replay had been accepted, so that acceptance is never forgotten.
_ACCEPTED = re.compile(r"^accepted (?:\d+ event\(s\)|earlier) as (?P<id>[^;\s]+)")
_ACCEPTED_BEFORE_IDS = re.compile(r"^accepted \d+ event\(s\)$")  # older rows: no id recorded


def accepted_result(event_count: int, delivery_id: str) -> str:
    return f"accepted {event_count} event(s) as {delivery_id}"


def failed_result(reason: str, earlier: str | None) -> str:
    if earlier is None:
        return f"failed: {reason}"
    return f"accepted earlier as {earlier}; replay failed: {reason}"


def earlier_replay_id(row: Any) -> str | None:
    """The delivery id under which a replay of this dead letter was accepted, if one was."""
    result = row.replay_result or ""
    found = _ACCEPTED.match(result)
    if found:
        return found["id"]
    if _ACCEPTED_BEFORE_IDS.match(result):
        return replay_delivery_id(row.delivery_id, row.replay_count)
    return None


def count_dead_letters(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(dead_letters)).scalar_one())
