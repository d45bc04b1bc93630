"""Engine behaviour that the service relies on."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, select

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


def _write_lock(engine: Engine) -> Any:
    raw = engine.raw_connection()
    try:
        return type(raw.dbapi_connection).write_lock  # type: ignore[union-attr]
    finally:
        raw.close()


def test_sqlite_write_lock_is_held_only_inside_write_transactions(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'l.db'}")
    migrate(engine)
    lock = _write_lock(engine)
    with engine.begin() as conn:
        conn.execute(insert(inbox).values(_row("a")))
        assert lock.locked()
    assert not lock.locked(), "released after commit"
    with pytest.raises(RuntimeError), engine.begin() as conn:
        conn.execute(insert(inbox).values(_row("b")))
        raise RuntimeError("boom")
    assert not lock.locked(), "released after rollback"
    with read_only(engine) as conn:
        conn.execute(select(func.count()).select_from(inbox)).scalar_one()
        assert not lock.locked(), "readers do not take it"
    with engine.connect() as conn:  # two transactions on one checkout
        conn.execute(insert(inbox).values(_row("c")))
        conn.commit()
        assert not lock.locked()
        conn.execute(insert(inbox).values(_row("d")))
        assert lock.locked()
    assert not lock.locked(), "released when the connection goes back to the pool"
    with read_only(engine) as conn:
        assert conn.execute(select(func.count()).select_from(inbox)).scalar_one() == 2


def test_sqlite_writers_of_one_engine_take_turns(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    migrate(engine)
    holding, entered, release = threading.Event(), threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with engine.begin() as conn:
                conn.execute(insert(inbox).values(_row("first")))
                holding.set()
                assert release.wait(60), "never released"
        except BaseException as exc:
            errors.append(exc)

    def second() -> None:
        try:
            assert holding.wait(60), "the first writer never took the lock"
            with engine.begin() as conn:
                entered.set()
                conn.execute(insert(inbox).values(_row("second")))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    assert holding.wait(60), "the first writer never took the lock"
    assert not entered.wait(0.3), "the second writer got in while the first held the lock"
    release.set()
    for t in threads:
        t.join(60)
        assert not t.is_alive(), "a writer is still stuck"
    assert errors == []
    assert entered.is_set()
    with read_only(engine) as conn:
        ids = set(conn.execute(select(inbox.c.delivery_id)).scalars())
    assert ids == {"first", "second"}


def test_key_locks_per_transaction_are_bounded(pg_engine: Engine) -> None:
    """A storm of distinct keys takes at most SLOTS advisory locks, not one per key:
    PostgreSQL's shared lock table would otherwise run out and fail the batch forever."""
    from sqlalchemy import text

    from autoticket.store.locks import SLOTS, lock_keys

    keys = [f"route|alertname=storm-{i}" for i in range(20_000)]
    with pg_engine.begin() as conn:
        assert lock_keys(conn, keys)
        held = conn.execute(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                "AND pid = pg_backend_pid()"
            )
        ).scalar_one()
    assert 0 < held <= SLOTS


def test_a_key_lock_makes_another_transaction_wait(pg_engine: Engine) -> None:
    """Two transactions locking the same key take turns (the second waits for the first)."""
    from sqlalchemy import text

    from autoticket.store.locks import lock_keys

    with pg_engine.begin() as first:
        lock_keys(first, ["route|alertname=A"])
        with pg_engine.begin() as second:
            second.execute(text("SET LOCAL lock_timeout = '200ms'"))
            with pytest.raises(Exception, match="lock timeout"):
                lock_keys(second, ["route|alertname=A"])


class _Seen(Exception):
    pass


def _connect_params(url: str, **kwargs: Any) -> dict[str, Any]:
    """What `make_engine` would hand the driver's connect(), without connecting."""
    from sqlalchemy import event

    engine = make_engine(url, **kwargs)
    seen: dict[str, Any] = {}

    @event.listens_for(engine, "do_connect")
    def _capture(dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        seen.update(cparams)
        raise _Seen

    with pytest.raises(_Seen):
        engine.connect()
    engine.dispose()
    return seen


def test_postgresql_connects_give_up_after_a_bounded_time() -> None:
    """A server that drops packets must not hold a connect (and every request
    behind it) for the kernel's minutes of SYN retries."""
    from autoticket.store.db import PG_CONNECT_TIMEOUT

    params = _connect_params("postgresql://u@db.invalid/x", connect_args={"options": "-cx=y"})
    assert (params["connect_timeout"], params["options"]) == (PG_CONNECT_TIMEOUT, "-cx=y")
    mine = _connect_params("postgresql://u@db.invalid/x?connect_timeout=3")
    assert str(mine["connect_timeout"]) == "3"
    theirs = _connect_params("postgresql://u@db.invalid/x", connect_args={"connect_timeout": 1})
    assert theirs["connect_timeout"] == 1
