"""An incident's actions reach each sink in outbox order, across retries and dispatchers."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar

from sqlalchemy import Connection, Engine, select

from autoticket.model import TicketAction
from autoticket.sinks.base import OutboxItem, SinkResult
from autoticket.sinks.outbox import Dispatcher
from autoticket.store import outbox as outbox_store
from autoticket.store.tables import outbox


class ScriptedSink:
    """Records each batch; answers `retry` for the keys in `failing`, `ok` otherwise."""

    name: ClassVar[str] = "scripted"

    def __init__(self, failing: set[str] | None = None) -> None:
        self.failing = failing or set()
        self.batches: list[list[str]] = []

    def apply_batch(
        self, conn: Connection, items: list[OutboxItem], now: datetime
    ) -> list[SinkResult]:
        self.batches.append([i.idempotency_key for i in items])
        return [
            SinkResult("retry", reason="down")
            if i.idempotency_key in self.failing
            else SinkResult("ok")
            for i in items
        ]


def _enqueue(engine: Engine, t0: datetime, steps: list[tuple[int, str]]) -> None:
    actions = [
        TicketAction(incident, action, f"{incident}-{action}", ["scripted"], {"at": t0.isoformat()})
        for incident, action in steps
    ]
    with engine.begin() as conn:
        outbox_store.enqueue(conn, actions, t0)


def _status(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(conn.execute(select(outbox.c.idempotency_key, outbox.c.status)).all())


def test_an_action_waiting_for_retry_holds_back_its_incident_only(
    engine: Engine, t0: datetime
) -> None:
    _enqueue(engine, t0, [(1, "open"), (2, "open")])
    sink = ScriptedSink(failing={"1-open:scripted"})
    dispatcher = Dispatcher({"scripted": sink})
    with engine.begin() as conn:
        assert dispatcher.dispatch_due(conn, t0) == 1  # 2-open done, 1-open waits 1 s
    _enqueue(engine, t0, [(1, "update"), (2, "update")])
    sink.failing.clear()
    with engine.begin() as conn:
        assert dispatcher.dispatch_due(conn, t0) == 1
    assert sink.batches[-1] == ["2-update:scripted"], "1-update overtook 1-open"
    assert _status(engine)["1-update:scripted"] == "pending"
    with engine.begin() as conn:
        assert dispatcher.dispatch_due(conn, t0 + timedelta(seconds=1)) == 2
    assert sink.batches[-1] == ["1-open:scripted", "1-update:scripted"]
    assert set(_status(engine).values()) == {"done"}


def test_a_parked_action_holds_its_incidents_later_ones_until_replayed(
    engine: Engine, t0: datetime
) -> None:
    _enqueue(engine, t0, [(1, "open"), (1, "update"), (2, "open")])
    with engine.begin() as conn:
        first = conn.execute(select(outbox.c.id).order_by(outbox.c.id)).scalars().first()
        assert first is not None
        outbox_store.mark_retry(conn, first, t0, "rejected", None)
    sink = ScriptedSink()
    with engine.begin() as conn:
        assert Dispatcher({"scripted": sink}).dispatch_due(conn, t0) == 1
    assert sink.batches == [["2-open:scripted"]], "1-update must not overtake the parked 1-open"
    with engine.begin() as conn:
        assert outbox_store.unpark(conn, "scripted", first, t0)
        assert Dispatcher({"scripted": sink}).dispatch_due(conn, t0) == 2
    assert sink.batches[-1] == ["1-open:scripted", "1-update:scripted"]


def test_rows_held_by_another_dispatcher_hold_back_later_rows(
    pg_engine: Engine, t0: datetime
) -> None:
    """PostgreSQL: one dispatcher holds incident 1's first action (row lock); a second
    dispatcher running meanwhile skips that row and must not apply the next one."""
    _enqueue(pg_engine, t0, [(1, "open")])
    _enqueue(pg_engine, t0, [(1, "update"), (2, "open")])
    sink = ScriptedSink()
    with pg_engine.connect() as holder, holder.begin():
        held = outbox_store.due(holder, t0, limit=1)
        assert [row.idempotency_key for row in held] == ["1-open:scripted"]
        with pg_engine.begin() as conn:
            assert Dispatcher({"scripted": sink}).dispatch_due(conn, t0) == 1
        assert sink.batches == [["2-open:scripted"]]
    with pg_engine.begin() as conn:
        assert Dispatcher({"scripted": sink}).dispatch_due(conn, t0) == 2
    assert sink.batches[-1] == ["1-open:scripted", "1-update:scripted"]
