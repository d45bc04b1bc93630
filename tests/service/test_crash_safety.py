"""A crash at any point of a worker round, then a retry, yields the same tickets."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import OperationalError

from autoticket.clock import FixedClock
from autoticket.config import Config
from autoticket.engine import actions as engine_actions
from autoticket.engine import round as engine_round
from autoticket.model import Delivery
from autoticket.service.runtime import Runtime
from autoticket.sinks import builtin
from autoticket.store import inbox as inbox_store
from autoticket.store.tables import events, inbox, incidents, outbox, tickets, timeline
from conftest import am_alert, am_payload


class Crash(OperationalError):
    """Stands for the process dying or the database going away mid-round.

    An OperationalError is what the worker treats as transient: it gives the
    round up (rollback) instead of isolating a bad delivery.
    """

    def __init__(self, where: str) -> None:
        super().__init__(where, None, RuntimeError(where))


@pytest.fixture
def runtime(engine: Engine, config: Config, t0: datetime) -> Iterator[Runtime]:
    rt = Runtime(config, engine, clock=FixedClock(t0), start_worker=False)
    yield rt


def _deliver(rt: Runtime, delivery_id: str, payload: dict[str, Any]) -> None:
    delivery = Delivery(delivery_id, "alertmanager", rt.clock.now(), orjson.dumps(payload), {})
    with rt.engine.begin() as conn:
        inbox_store.append(conn, [(delivery, len(payload["alerts"]))])  # type: ignore[arg-type]


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (events, incidents, outbox, tickets)
        }


def _crash_once(
    monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, after: bool = False
) -> list[int]:
    """Make owner.name raise once (before or after doing its work)."""
    original: Callable[..., Any] = getattr(owner, name)
    calls = [0]

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == 1 and not after:
            raise Crash(name)
        result = original(*args, **kwargs)
        if calls[0] == 1:
            raise Crash(name)
        return result

    monkeypatch.setattr(owner, name, flaky)
    return calls


@pytest.mark.parametrize(
    ("owner", "name", "after"),
    [
        (engine_round, "insert_events", False),
        (engine_actions.outbox_store, "enqueue", True),
        (engine_actions, "add_decisions", True),
        (engine_round.inbox_store, "mark_processed", True),
    ],
    ids=["before-events", "after-outbox", "after-decisions", "after-inbox-mark"],
)
def test_crash_during_processing_rolls_back_everything(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, after: bool
) -> None:
    _deliver(runtime, "d1", am_payload(am_alert(), am_alert(alertname="Other")))
    _crash_once(monkeypatch, owner, name, after)
    with pytest.raises(Crash):
        runtime.worker.run_once()
    assert _counts(runtime.engine) == {"events": 0, "incidents": 0, "outbox": 0, "tickets": 0}
    runtime.worker.drain()
    assert _counts(runtime.engine) == {"events": 2, "incidents": 2, "outbox": 2, "tickets": 2}


def test_crash_after_the_ticket_write_does_not_double_it(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    _deliver(runtime, "d1", am_payload(am_alert()))
    _crash_once(monkeypatch, builtin, "write_ticket_actions", after=True)
    with pytest.raises(Crash):
        runtime.worker.run_once()
    with runtime.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(tickets)).scalar_one() == 0
        assert conn.execute(select(outbox.c.status)).scalars().all() == ["pending"]
    runtime.worker.drain()
    with runtime.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(tickets)).scalar_one() == 1
        assert conn.execute(select(outbox.c.status)).scalars().all() == ["done"]
        kinds = conn.execute(select(timeline.c.kind)).scalars().all()
    assert kinds.count("ticket_open") == 1


def test_a_delivery_processed_twice_changes_nothing(runtime: Runtime) -> None:
    """At-least-once delivery from the inbox (e.g. a lost `done` mark) is harmless."""
    _deliver(runtime, "d1", am_payload(am_alert()))
    runtime.worker.drain()
    before = _counts(runtime.engine)
    with runtime.engine.begin() as conn:
        conn.execute(update(inbox).values(status="pending"))
    runtime.worker.drain()
    assert _counts(runtime.engine) == before
    with runtime.engine.connect() as conn:
        assert conn.execute(select(tickets.c.update_count)).scalar_one() == 0
