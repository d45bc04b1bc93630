"""A delivery the store rejects never blocks the others; timers never overtake the inbox."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, func, select

from autoticket.clock import FixedClock
from autoticket.config import Config
from autoticket.engine import round as engine_round
from autoticket.model import Delivery
from autoticket.service.runtime import Runtime
from autoticket.store import inbox as inbox_store
from autoticket.store.tables import dead_letters, inbox, tickets
from conftest import am_alert, am_payload


def _deliver(rt: Runtime, delivery_id: str, body: dict[str, Any], source: str = "generic") -> None:
    delivery = Delivery(delivery_id, source, rt.clock.now(), orjson.dumps(body), {})
    with rt.engine.begin() as conn:
        inbox_store.append(conn, [(delivery, 1)])


def _rows(engine: Engine, query: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(query))


@pytest.fixture
def runtime(engine: Engine, config: Config, t0: datetime) -> Runtime:
    return Runtime(config, engine, clock=FixedClock(t0), start_worker=False)


def test_a_delivery_that_always_fails_is_dead_lettered_and_the_rest_proceed(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = engine_round.insert_events

    def reject_poison(conn: Any, events: list[Any]) -> None:
        if any(e.title == "poison" for e in events):
            raise ValueError("the store rejects this event")
        original(conn, events)

    monkeypatch.setattr(engine_round, "insert_events", reject_poison)
    _deliver(runtime, "good-1", {"title": "disk full", "service": "search"})
    _deliver(runtime, "bad", {"title": "poison", "service": "search"})
    _deliver(runtime, "good-2", {"title": "cpu hot", "service": "checkout"})
    runtime.worker.drain()
    statuses = dict(_rows(runtime.engine, select(inbox.c.delivery_id, inbox.c.status)))
    assert statuses == {"good-1": "done", "bad": "dead", "good-2": "done"}
    titles = sorted(r.title for r in _rows(runtime.engine, select(tickets.c.title)))
    assert titles == ["cpu hot", "disk full"]
    [letter] = _rows(runtime.engine, select(dead_letters))
    assert letter.delivery_id == "bad" and letter.stage == "pipeline"
    assert letter.error == "ValueError: the store rejects this event"


def test_values_postgresql_would_reject_are_made_storable(runtime: Runtime) -> None:
    """NUL characters, an oversized fingerprint, team and grouping label: all processed."""
    _deliver(runtime, "nul", {"title": "a\u0000b", "service": "s1", "labels": {"x": "1\u00002"}})
    _deliver(
        runtime, "fp", {"title": "long fingerprint", "service": "s2", "fingerprint": "f" * 300}
    )
    _deliver(
        runtime, "team", {"title": "long team", "service": "s3", "labels": {"team": "t" * 300}}
    )
    _deliver(runtime, "key", {"title": "long key", "labels": {"alertname": "a" * 2000}})
    runtime.worker.drain()
    statuses = {r.status for r in _rows(runtime.engine, select(inbox.c.status))}
    assert statuses == {"done"}
    titles = sorted(r.title for r in _rows(runtime.engine, select(tickets.c.title)))
    assert titles == ["ab", "long fingerprint", "long key", "long team"]


def test_a_timer_does_not_overtake_a_firing_still_in_the_inbox(
    runtime: Runtime, t0: datetime
) -> None:
    clock: FixedClock = runtime.clock  # type: ignore[assignment]
    _deliver(runtime, "f1", am_payload(am_alert()), "alertmanager")
    runtime.worker.drain()
    clock.set(t0 + timedelta(minutes=1))
    _deliver(runtime, "r1", am_payload(am_alert(status="resolved")), "alertmanager")
    runtime.worker.drain()  # resolve timer due at 10:06
    clock.set(t0 + timedelta(minutes=4))
    _deliver(
        runtime, "f2", am_payload(am_alert(starts_at="2026-01-05T10:03:30Z")), "alertmanager"
    )  # received 10:04, before the timer; the worker was down
    clock.set(t0 + timedelta(minutes=7))
    runtime.worker.drain()
    [ticket] = _rows(runtime.engine, select(tickets))
    assert ticket.status == "open"
    assert ticket.reopen_count == 0
    assert ticket.resolved_at is None
    with runtime.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(dead_letters)).scalar_one() == 0


def test_a_delivery_that_fails_the_same_transient_way_every_time_is_isolated(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL's "out of shared memory" looks transient but comes back on every retry:
    after STUCK_AFTER tries the batch is taken apart and the worker goes on."""
    from sqlalchemy.exc import OperationalError

    from autoticket.service.worker import STUCK_AFTER

    original = engine_round.insert_events

    def out_of_memory(conn: Any, events: list[Any]) -> None:
        if any(e.title == "storm" for e in events):
            raise OperationalError("INSERT", {}, Exception("out of shared memory"))
        original(conn, events)

    monkeypatch.setattr(engine_round, "insert_events", out_of_memory)
    _deliver(runtime, "good-1", {"title": "disk full", "service": "search"})
    _deliver(runtime, "storm", {"title": "storm", "service": "search"})
    _deliver(runtime, "good-2", {"title": "cpu hot", "service": "checkout"})
    for _ in range(STUCK_AFTER - 1):
        with pytest.raises(OperationalError):
            runtime.worker.run_once()  # looks transient: the same batch is retried
    statuses = dict(_rows(runtime.engine, select(inbox.c.delivery_id, inbox.c.status)))
    assert set(statuses.values()) == {"pending"}
    runtime.worker.drain()
    statuses = dict(_rows(runtime.engine, select(inbox.c.delivery_id, inbox.c.status)))
    assert statuses == {"good-1": "done", "storm": "dead", "good-2": "done"}
    [letter] = _rows(runtime.engine, select(dead_letters))
    assert letter.delivery_id == "storm"
    assert letter.error == "Exception: out of shared memory"


def test_a_stuck_batch_is_isolated_even_while_new_deliveries_join_it(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under steady traffic every retry also claims what arrived since: the batch is
    counted by its oldest delivery, so it is still taken apart after STUCK_AFTER tries."""
    from sqlalchemy.exc import OperationalError

    from autoticket.service.worker import STUCK_AFTER

    original = engine_round.insert_events

    def out_of_memory(conn: Any, events: list[Any]) -> None:
        if any(e.title == "storm" for e in events):
            raise OperationalError("INSERT", {}, Exception("out of shared memory"))
        original(conn, events)

    monkeypatch.setattr(engine_round, "insert_events", out_of_memory)
    _deliver(runtime, "storm", {"title": "storm", "service": "search"})
    for n in range(STUCK_AFTER - 1):
        _deliver(runtime, f"later-{n}", {"title": f"later {n}", "service": "checkout"})
        with pytest.raises(OperationalError):
            runtime.worker.run_once()
    _deliver(runtime, "last", {"title": "last", "service": "checkout"})
    runtime.worker.run_once()  # the third failure: taken apart, the storm dead-lettered
    statuses = dict(_rows(runtime.engine, select(inbox.c.delivery_id, inbox.c.status)))
    assert statuses.pop("storm") == "dead"
    assert set(statuses.values()) == {"done"}
    titles = sorted(r.title for r in _rows(runtime.engine, select(tickets.c.title)))
    assert titles == sorted(["last", *(f"later {n}" for n in range(STUCK_AFTER - 1))])


def test_a_passing_transient_failure_is_retried_not_dead_lettered(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    original = engine_round.insert_events
    failures = [1]

    def blip(conn: Any, events: list[Any]) -> None:
        if failures[0]:
            failures[0] -= 1
            raise OperationalError("INSERT", {}, Exception("server closed the connection"))
        original(conn, events)

    monkeypatch.setattr(engine_round, "insert_events", blip)
    _deliver(runtime, "d1", {"title": "disk full", "service": "search"})
    with pytest.raises(OperationalError):
        runtime.worker.run_once()
    runtime.worker.drain()
    statuses = dict(_rows(runtime.engine, select(inbox.c.delivery_id, inbox.c.status)))
    assert statuses == {"d1": "done"}
    assert _rows(runtime.engine, select(dead_letters)) == []


def test_a_generic_event_cannot_resolve_another_sources_alert(runtime: Runtime) -> None:
    """A spoofed fingerprint (copied from an Alertmanager alert) opens its own alert."""
    from autoticket.store.tables import alerts

    _deliver(runtime, "am", am_payload(am_alert(severity="critical")), "alertmanager")
    runtime.worker.drain()
    [am_fingerprint] = [r.fingerprint for r in _rows(runtime.engine, select(alerts))]
    spoof = {"title": "spoof", "status": "resolved", "fingerprint": am_fingerprint}
    _deliver(runtime, "spoof", spoof)
    runtime.worker.drain()
    statuses = {r.fingerprint: r.status for r in _rows(runtime.engine, select(alerts))}
    assert statuses[am_fingerprint] == "firing"
    assert statuses[f"generic:{am_fingerprint}"] == "resolved"
    assert {t.status for t in _rows(runtime.engine, select(tickets))} == {"open"}
