"""Payloads that could not be processed, kept with the reason for replay."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from autoticket.pipeline.base import DeadLetter
from autoticket.store.tables import dead_letters

__all__ = ["add_dead_letters", "get_dead_letter", "list_dead_letters", "mark_replayed"]


def add_dead_letters(
    conn: Connection, items: list[DeadLetter], status_code: int | None = None
) -> list[int]:
    ids: list[int] = []
    for item in items:
        d = item.delivery
        ids.append(
            conn.execute(
                insert(dead_letters)
                .values(
                    delivery_id=d.id,
                    source=d.source,
                    received_at=d.received_at,
                    stage=item.stage,
                    field=item.field,
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


def list_dead_letters(conn: Connection, limit: int = 100, offset: int = 0) -> list[Any]:
    query = select(dead_letters).order_by(dead_letters.c.id.desc()).limit(limit).offset(offset)
    return list(conn.execute(query))


def get_dead_letter(conn: Connection, dead_letter_id: int) -> Any | None:
    query = select(dead_letters).where(dead_letters.c.id == dead_letter_id)
    return conn.execute(query).first()


def mark_replayed(conn: Connection, dead_letter_id: int, now: datetime, result: str) -> None:
    conn.execute(
        update(dead_letters)
        .where(dead_letters.c.id == dead_letter_id)
        .values(replay_count=dead_letters.c.replay_count + 1, replayed_at=now, replay_result=result)
    )
