"""Engine behaviour that the service relies on."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, insert, select

from autoticket.store import make_engine, migrate, read_only
from autoticket.store.tables import inbox


def _row(delivery_id: str) -> dict[str, object]:
    return {
        "delivery_id": delivery_id,
        "source": "generic",
        "received_at": datetime.now(UTC),
        "headers": {},
        "body": b"{}",
        "event_count": 0,
        "status": "pending",
    }


def test_sqlite_readers_do_not_queue_behind_a_writer(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    migrate(engine)
    with engine.begin() as conn:
        conn.execute(insert(inbox).values(_row("committed")))
    with engine.begin() as writer:
        writer.execute(insert(inbox).values(_row("uncommitted")))
        with read_only(engine) as reader:  # would wait for the write lock without read_only
            seen = reader.execute(select(func.count()).select_from(inbox)).scalar_one()
    assert seen == 1  # snapshot isolation: the uncommitted row is not visible


def test_times_round_trip_as_utc(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 't.db'}")
    migrate(engine)
    with engine.begin() as conn:
        conn.execute(insert(inbox).values(_row("a")))
    with read_only(engine) as conn:
        value = conn.execute(select(inbox.c.received_at)).scalar_one()
    assert value.tzinfo is not None and value.utcoffset().total_seconds() == 0
