"""The built-in sink applies due ticket actions in bulk, as if one by one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest
from sqlalchemy import Connection, Engine, event, select

from autoticket.model import TicketAction
from autoticket.sinks.base import OutboxItem, SinkResult
from autoticket.sinks.builtin import BuiltinSink
from autoticket.sinks.outbox import Dispatcher
from autoticket.store import outbox as outbox_store
from autoticket.store import tickets as tickets_store
from autoticket.store.tables import outbox, tickets, timeline
from autoticket.store.tickets import TicketWrite, write_ticket_action, write_ticket_actions

# A step: (incident, action, payload overrides). Each step is one second after the last.
Step = tuple[int, str, dict[str, Any]]
ACK = {"status": "acknowledged"}

SEQUENCES: dict[str, tuple[list[Step], dict[int, tuple[str, int, int]]]] = {
    # name: (steps, expected (status, reopen_count, update_count) per incident)
    "open-update-resolve": (
        [(1, "open", {}), (1, "update", {"priority": "P1"}), (1, "resolve", {})],
        {1: ("resolved", 0, 1)},
    ),
    "reopen-after-resolve": (
        [(1, "open", {}), (1, "resolve", {}), (1, "reopen", {}), (1, "update", {"team": "db"})],
        {1: ("open", 1, 1)},
    ),
    "resolve-reopen-twice": (
        [(1, "open", {}), (1, "resolve", {}), (1, "reopen", {})] * 2,
        {1: ("open", 2, 0)},
    ),
    "acknowledge": (
        [(1, "open", {}), (1, "update", ACK), (1, "update", {"title": "worse"})],
        {1: ("acknowledged", 0, 2)},
    ),
    "acknowledge-resolved-stays-resolved": (
        [(1, "open", {}), (1, "resolve", {}), (1, "update", ACK)],
        {1: ("resolved", 0, 1)},
    ),
    "no-ticket-yet": (
        [(1, "update", {}), (1, "resolve", {}), (2, "resolve", {}), (3, "reopen", {})],
        {1: ("resolved", 0, 1), 2: ("resolved", 0, 0), 3: ("open", 1, 0)},
    ),
    "open-twice": (
        [(1, "open", {}), (1, "open", {"title": "again"})],
        {1: ("open", 0, 0)},
    ),
    "interleaved": (
        [
            (1, "open", {}),
            (2, "open", {"team": "web"}),
            (1, "update", {"severity": "warning"}),
            (3, "update", ACK),
            (2, "resolve", {}),
            (1, "resolve", {}),
            (1, "reopen", {"priority": "P1"}),
            (3, "resolve", {}),
            (2, "reopen", {}),
            (2, "update", ACK),
        ],
        {1: ("open", 1, 1), 2: ("acknowledged", 1, 1), 3: ("resolved", 0, 1)},
    ),
}

# How the due actions reach the sink: at most this many per dispatch call.
MODES = {"one-per-call": 1, "two-per-call": 2, "all-in-one-call": 500}
COMPARED = (
    "status",
    "priority",
    "team",
    "title",
    "severity",
    "opened_at",
    "updated_at",
    "resolved_at",
    "reopen_count",
    "update_count",
)


def _payload(incident: int, step: int, at: datetime, overrides: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": f"incident {incident}",
        "team": "payments",
        "priority": "P2",
        "severity": "critical",
        "status": "open",
        "at": at.isoformat(),
        "reasons": [f"step {step}"],
    } | overrides


def _enqueue(engine: Engine, steps: list[Step], t0: datetime, base: int, tag: str) -> None:
    actions = [
        TicketAction(
            base + incident,
            action,
            f"{tag}:{k}:{action}",
            ["builtin"],
            _payload(incident, k, t0 + timedelta(seconds=k), overrides),
        )
        for k, (incident, action, overrides) in enumerate(steps)
    ]
    with engine.begin() as conn:
        outbox_store.enqueue(conn, actions, t0)


def _dispatch_all(engine: Engine, now: datetime, limit: int, dispatcher: Dispatcher) -> int:
    calls = 0
    while True:
        with engine.begin() as conn:
            if not dispatcher.dispatch_due(conn, now, limit):
                return calls
        calls += 1


def _state(engine: Engine, incident_ids: list[int]) -> dict[int, Any]:
    """Ticket columns and timeline kinds per incident, ids made relative."""
    with engine.connect() as conn:
        rows = {
            r.incident_id: tuple(r._mapping[c] for c in COMPARED)
            for r in conn.execute(select(tickets).where(tickets.c.incident_id.in_(incident_ids)))
        }
        kinds: dict[int, list[str]] = {}
        query = (
            select(timeline.c.incident_id, timeline.c.kind)
            .where(timeline.c.incident_id.in_(incident_ids))
            .order_by(timeline.c.id)
        )
        for incident_id, kind in conn.execute(query):
            kinds.setdefault(incident_id, []).append(kind)
    base = min(incident_ids)
    return {i - base: (rows.get(i), kinds.get(i, [])) for i in incident_ids}


def _outbox_statuses(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(outbox.c.status).order_by(outbox.c.id)).scalars())


@pytest.mark.parametrize("name", list(SEQUENCES))
def test_batched_actions_end_as_one_by_one(engine: Engine, t0: datetime, name: str) -> None:
    steps, expected = SEQUENCES[name]
    incidents = sorted({incident for incident, _, _ in steps})
    now = t0 + timedelta(minutes=5)
    states = {}
    for m, (mode, limit) in enumerate(MODES.items()):
        base = 100 * (m + 1)
        _enqueue(engine, steps, t0, base, f"{name}:{mode}")
        calls = _dispatch_all(engine, now, limit, Dispatcher())
        assert calls == -(-len(steps) // limit)
        states[mode] = _state(engine, [base + i for i in incidents])
    reference = states["one-per-call"]
    for mode, state in states.items():
        assert state == reference, mode
    assert set(_outbox_statuses(engine)) == {"done"}
    for incident, (status, reopens, updates) in expected.items():
        row, kinds = reference[incident - incidents[0]]
        assert (row[0], row[-2], row[-1]) == (status, reopens, updates)
        assert kinds == [f"ticket_{a}" for i, a, _ in steps if i == incident]


def test_store_one_call_per_action_equals_one_call_for_all(engine: Engine, t0: datetime) -> None:
    steps, _ = SEQUENCES["interleaved"]
    writes = [
        TicketWrite(incident, action, _payload(incident, k, t0 + timedelta(seconds=k), over))
        for k, (incident, action, over) in enumerate(steps)
    ]
    with engine.begin() as conn:
        singles = [
            write_ticket_action(conn, w.incident_id, w.action, w.payload, t0) for w in writes
        ]
    shifted = [TicketWrite(w.incident_id + 100, w.action, w.payload) for w in writes]
    with engine.begin() as conn:
        batched = write_ticket_actions(conn, shifted, t0)
    ticket_of = dict(zip([w.incident_id for w in writes], singles, strict=True))
    assert singles == [ticket_of[w.incident_id] for w in writes]
    assert [b - min(batched) for b in batched] == [s - min(singles) for s in singles]
    assert _state(engine, [1, 2, 3]) == _state(engine, [101, 102, 103])


def test_a_ticket_created_concurrently_is_not_doubled(
    engine: Engine, t0: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer commits the ticket after our read: our insert is ignored, deltas apply."""
    with engine.begin() as conn:
        write_ticket_actions(conn, [TicketWrite(1, "update", _payload(1, 0, t0, ACK))], t0)
    monkeypatch.setattr(tickets_store, "_load", lambda conn, ids: {})
    later = t0 + timedelta(seconds=5)
    writes = [
        TicketWrite(1, "open", _payload(1, 1, later, {"title": "ours"})),
        TicketWrite(1, "update", _payload(1, 2, later, {})),
        TicketWrite(1, "resolve", _payload(1, 3, later, {})),
    ]
    with engine.begin() as conn:
        ids = write_ticket_actions(conn, writes, t0)
    with engine.connect() as conn:
        rows = conn.execute(select(tickets)).all()
    assert len(rows) == 1
    assert ids == [rows[0].id] * 3
    assert (rows[0].status, rows[0].update_count, rows[0].opened_at) == ("resolved", 2, t0)


class Crash(RuntimeError):
    pass


def _crash(item: OutboxItem, now: datetime) -> None:
    raise Crash(item.idempotency_key)


@pytest.mark.parametrize("where", ["before-done-marks", "before-commit"])
def test_crash_after_the_writes_then_redispatch_gives_one_ticket(
    engine: Engine, t0: datetime, where: str
) -> None:
    steps, expected = SEQUENCES["interleaved"]
    now = t0 + timedelta(minutes=5)
    _enqueue(engine, steps, t0, 0, "crash")
    crashing = Dispatcher(on_applied=_crash if where == "before-done-marks" else None)
    with pytest.raises(Crash), engine.begin() as conn:
        assert crashing.dispatch_due(conn, now) == len(steps)
        raise Crash("after dispatch_due, before commit")
    assert _state(engine, [1, 2, 3]) == {i: (None, []) for i in range(3)}
    assert set(_outbox_statuses(engine)) == {"pending"}
    assert _dispatch_all(engine, now, 500, Dispatcher()) == 1
    assert _dispatch_all(engine, now, 500, Dispatcher()) == 0
    with engine.connect() as conn:
        counted = list(conn.execute(select(tickets.c.incident_id).order_by(tickets.c.id)).scalars())
    assert counted == [1, 2, 3]
    state = _state(engine, [1, 2, 3])
    for incident, (status, reopens, updates) in expected.items():
        row, kinds = state[incident - 1]
        assert (row[0], row[-2], row[-1]) == (status, reopens, updates)
        assert kinds == [f"ticket_{a}" for i, a, _ in steps if i == incident]


@contextmanager
def _counting(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement.split(None, 1)[0].upper())

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _statements_for(engine: Engine, steps: list[Step], t0: datetime, tag: str) -> list[str]:
    """Statements of one dispatch call applying all `steps` (already-open tickets first)."""
    opened = sorted({i for i, a, _ in steps if a != "open"})
    _enqueue(engine, [(i, "open", {}) for i in opened], t0, 0, f"{tag}:pre")
    _dispatch_all(engine, t0, 500, Dispatcher())
    _enqueue(engine, steps, t0, 0, tag)
    with engine.begin() as conn, _counting(engine) as seen:
        assert Dispatcher().dispatch_due(conn, t0 + timedelta(minutes=5)) == len(steps)
    return seen


def _scenarios(n: int, base: int) -> dict[str, list[Step]]:
    return {
        "new tickets": [(base + k, "open", {}) for k in range(n)],
        "existing tickets": [(base + 1000 + k, "update", {}) for k in range(n)],
        "mixed": [
            (base + 2000 + k % 7, ("update", "resolve", "reopen")[k % 3], {}) for k in range(n)
        ]
        + [(base + 3000 + k, "open", {}) for k in range(n)],
    }


def test_statement_count_does_not_grow_with_the_batch(engine: Engine, t0: datetime) -> None:
    small, large = _scenarios(1, 10_000), _scenarios(50, 20_000)
    for scenario in small:
        few = _statements_for(engine, small[scenario], t0, f"{scenario}:1")
        many = _statements_for(engine, large[scenario], t0, f"{scenario}:50")
        assert len(many) == len(few), (scenario, few, many)
        # due, blockers, tickets, [insert, ids], [update], timeline, done marks
        assert len(many) <= 8, (scenario, many)


class RecordingSink:
    name: ClassVar[str] = "other"

    def __init__(self, outcomes: list[str]) -> None:
        self.outcomes = outcomes
        self.batches: list[list[str]] = []

    def apply_batch(
        self, conn: Connection, items: list[OutboxItem], now: datetime
    ) -> list[SinkResult]:
        self.batches.append([i.idempotency_key for i in items])
        return [SinkResult(o, reason="no") for o in self.outcomes]  # type: ignore[arg-type]


def test_dispatcher_calls_each_sink_once_with_its_items_in_order(
    engine: Engine, t0: datetime
) -> None:
    payload = _payload(1, 0, t0, {})
    actions = [
        TicketAction(k, "open", f"k{k}", sinks, payload)
        for k, sinks in enumerate(
            [["builtin", "other"], ["other"], ["builtin"], ["other", "nowhere"]], start=1
        )
    ]
    with engine.begin() as conn:
        outbox_store.enqueue(conn, actions, t0)
    other = RecordingSink(["ok", "retry", "permanent"])
    applied: list[str] = []
    dispatcher = Dispatcher(
        {"builtin": BuiltinSink(), "other": other},
        on_applied=lambda item, now: applied.append(item.idempotency_key),
    )
    with engine.begin() as conn:
        assert dispatcher.dispatch_due(conn, t0) == 3
    assert other.batches == [["k1:other", "k2:other", "k4:other"]]
    assert sorted(applied) == ["k1:builtin", "k1:other", "k3:builtin"]
    with engine.connect() as conn:
        rows = conn.execute(select(outbox.c.idempotency_key, outbox.c.status, outbox.c.attempts))
        status = {key: (s, attempts) for key, s, attempts in rows}
    assert status == {
        "k1:builtin": ("done", 1),
        "k1:other": ("done", 1),
        "k2:other": ("pending", 1),
        "k3:builtin": ("done", 1),
        "k4:other": ("failed", 1),
        "k4:nowhere": ("pending", 0),  # not this dispatcher's: left for the external one
    }


def test_two_dispatchers_never_apply_one_action_twice(engine: Engine) -> None:
    """Two transactions dispatch at once: each due row is applied by exactly one."""
    import threading

    now = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    actions = [
        TicketAction(
            i,
            "open",
            f"k{i}",
            ["builtin"],
            {
                "title": f"t{i}",
                "priority": "P1",
                "severity": "critical",
                "at": now.isoformat(),
                "reasons": ["opened"],
            },
        )
        for i in range(1, 41)
    ]
    with engine.begin() as conn:
        outbox_store.enqueue(conn, actions, now)
    barrier = threading.Barrier(2)
    applied: list[int] = []
    lock = threading.Lock()

    errors: list[BaseException] = []

    def run() -> None:
        def count(item: OutboxItem, _: datetime) -> None:
            with lock:
                applied.append(item.id)

        try:
            dispatcher = Dispatcher(on_applied=count)
            barrier.wait(timeout=60)  # SQLite then queues on its write lock; PostgreSQL races
            with engine.begin() as conn:
                dispatcher.dispatch_due(conn, now)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
        assert not t.is_alive(), "a dispatcher never returned"
    assert errors == []
    assert sorted(applied) == sorted(set(applied))
    assert len(applied) == 40
    with engine.connect() as conn:
        statuses = conn.execute(select(outbox.c.status)).scalars().all()
        update_counts = conn.execute(select(tickets.c.update_count)).scalars().all()
    assert statuses == ["done"] * 40
    assert update_counts == [0] * 40
