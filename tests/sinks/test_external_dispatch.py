"""External lanes: claim, call outside any transaction, record; retries, parking, leases, order."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine, select

from autoticket.clock import FixedClock
from autoticket.config import parse_config_text
from autoticket.model import TicketAction
from autoticket.sinks import (
    BuiltinSink,
    Dispatcher,
    ExternalDispatcher,
    OutboxItem,
    Sink,
    SinkResult,
    build_sinks,
)
from autoticket.sinks.external import Lane
from autoticket.store import claims
from autoticket.store import outbox as outbox_store
from autoticket.store.tables import outbox, ticket_refs, tickets

CONFIG = """
sinks:
  hook: {type: webhook, url: "https://hooks.example/t", secret_env: S, timeout: 2s}
routes: [{name: default, sinks: [builtin, hook]}]
"""
Handler = Callable[[httpx.Request], httpx.Response]


def webhook(handler: Handler) -> Sink:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    sink = build_sinks(parse_config_text(CONFIG), client, env={"S": "k"})["hook"]
    assert isinstance(sink, Sink)
    return sink


def scripted(responses: list[httpx.Response], seen: list[httpx.Request]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return responses.pop(0)

    return handler


def enqueue(engine: Engine, t0: datetime, steps: list[tuple[int, str]]) -> None:
    payload = {
        "title": "t",
        "priority": "P1",
        "severity": "critical",
        "status": "open",
        "team": "web",
        "at": t0.isoformat(),
        "opened_at": t0.isoformat(),
        "reasons": [],
    }
    actions = [
        TicketAction(incident, action, f"{incident}-{action}", ["builtin", "hook"], payload)
        for incident, action in steps
    ]
    with engine.begin() as conn:
        outbox_store.enqueue(conn, actions, t0)
        Dispatcher({"builtin": BuiltinSink()}).dispatch_due(conn, t0)


def rows(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        query = select(outbox).where(outbox.c.sink == "hook").order_by(outbox.c.id)
        return {row.idempotency_key: row for row in conn.execute(query)}


def test_retry_on_500_then_429_with_retry_after_then_done_once(
    engine: Engine, t0: datetime
) -> None:
    enqueue(engine, t0, [(1, "open")])
    seen: list[httpx.Request] = []
    responses = [
        httpx.Response(500),
        httpx.Response(429, headers={"Retry-After": "120"}),
        httpx.Response(201, json={"id": "EXT-1", "url": "https://t.example/EXT-1"}),
    ]
    clock = FixedClock(t0)
    lane = Lane(engine, webhook(scripted(responses, seen)), clock)

    assert lane.run_once() == 1
    row = rows(engine)["1-open:hook"]
    assert (row.status, row.attempts, row.last_error) == (
        "pending",
        1,
        "HTTP 500 Internal Server Error",
    )
    # backoff with jitter: half to all of 1s
    assert t0 + timedelta(seconds=0.5) <= row.next_attempt_at <= t0 + timedelta(seconds=1)
    assert lane.run_once() == 0, "not due before its backoff"

    clock.set(t0 + timedelta(seconds=1))
    assert lane.run_once() == 1
    row = rows(engine)["1-open:hook"]
    assert row.next_attempt_at == clock.now() + timedelta(seconds=120), "Retry-After wins"
    clock.set(clock.now() + timedelta(seconds=119))
    assert lane.run_once() == 0

    clock.set(clock.now() + timedelta(seconds=1))
    assert lane.run_once() == 1
    row = rows(engine)["1-open:hook"]
    assert (row.status, row.attempts, row.external_ref) == ("done", 3, "EXT-1")
    assert row.claim_token is None
    assert {r.headers["Idempotency-Key"] for r in seen} == {"1-open:hook"}
    with engine.connect() as conn:
        ticket_id = conn.execute(select(tickets.c.id)).scalar_one()
        refs = [
            tuple(r)
            for r in conn.execute(
                select(
                    ticket_refs.c.ticket_id,
                    ticket_refs.c.sink,
                    ticket_refs.c.external_id,
                    ticket_refs.c.url,
                )
            )
        ]
    assert refs == [(ticket_id, "hook", "EXT-1", "https://t.example/EXT-1")]
    clock.set(clock.now() + timedelta(hours=1))
    assert lane.run_once() == 0 and len(seen) == 3, "delivered exactly once"


def test_a_later_ref_of_the_same_ticket_replaces_the_earlier(engine: Engine, t0: datetime) -> None:
    enqueue(engine, t0, [(1, "open"), (1, "update")])
    answers = [httpx.Response(200, json={"id": "A"}), httpx.Response(200, json={"id": "B"})]
    lane = Lane(engine, webhook(scripted(answers, [])), FixedClock(t0))
    assert lane.run_once() == 2
    with engine.connect() as conn:
        assert conn.execute(select(ticket_refs.c.external_id)).scalars().all() == ["B"]


def test_a_4xx_parks_the_action_with_its_reason_and_it_holds_the_incidents_next_one(
    engine: Engine, t0: datetime
) -> None:
    enqueue(engine, t0, [(1, "open"), (1, "update"), (2, "open")])
    seen: list[httpx.Request] = []
    answers = [httpx.Response(400)] + [httpx.Response(200)] * 3
    clock = FixedClock(t0)
    lane = Lane(engine, webhook(scripted(answers, seen)), clock)
    assert lane.run_once() == 2
    state = rows(engine)
    assert (state["1-open:hook"].status, state["1-open:hook"].last_error) == (
        "failed",
        "HTTP 400 Bad Request",
    )
    assert state["1-update:hook"].status == "pending"
    assert state["2-open:hook"].status == "done", "another incident goes on"
    clock.set(t0 + timedelta(hours=1))
    assert lane.run_once() == 0, "the parked open holds its incident's update"
    with engine.begin() as conn:
        assert outbox_store.unpark(conn, "hook", state["1-open:hook"].id, clock.now())
        assert not outbox_store.unpark(conn, "hook", state["1-open:hook"].id, clock.now())
    assert lane.run_once() == 2
    assert [r.headers["Idempotency-Key"] for r in seen[2:]] == ["1-open:hook", "1-update:hook"]
    assert {r.status for r in rows(engine).values()} == {"done"}


def test_a_timeout_is_retried(engine: Engine, t0: datetime) -> None:
    enqueue(engine, t0, [(1, "open")])

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("no answer", request=request)

    lane = Lane(engine, webhook(handler), FixedClock(t0))
    assert lane.run_once() == 1
    row = rows(engine)["1-open:hook"]
    assert (row.status, row.last_error) == ("pending", "timeout (ReadTimeout)")


def test_an_incidents_later_action_waits_for_its_retried_earlier_one(
    engine: Engine, t0: datetime
) -> None:
    enqueue(engine, t0, [(1, "open"), (2, "open"), (1, "update")])
    seen: list[httpx.Request] = []
    answers = [httpx.Response(503), httpx.Response(200), httpx.Response(200), httpx.Response(200)]
    clock = FixedClock(t0)
    lane = Lane(engine, webhook(scripted(answers, seen)), clock)
    assert lane.run_once() == 2  # 1-open fails; 2-open goes; 1-update is handed back
    assert [r.headers["Idempotency-Key"] for r in seen] == ["1-open:hook", "2-open:hook"]
    state = rows(engine)
    assert (state["1-update:hook"].status, state["1-update:hook"].claim_token) == ("pending", None)
    assert lane.run_once() == 0, "1-update must not overtake 1-open"
    clock.set(t0 + timedelta(seconds=1))
    assert lane.run_once() == 2
    assert [r.headers["Idempotency-Key"] for r in seen[2:]] == ["1-open:hook", "1-update:hook"]


def test_a_crash_after_the_claim_delivers_again_with_the_same_key_once_the_lease_ends(
    engine: Engine, t0: datetime
) -> None:
    enqueue(engine, t0, [(1, "open")])
    seen: list[httpx.Request] = []
    clock = FixedClock(t0)
    lane = Lane(engine, webhook(scripted([httpx.Response(200)], seen)), clock)
    with engine.begin() as conn:  # a lane that claims, then dies before recording
        dead_token, claimed = claims.claim(conn, "hook", t0, lane.lease, 10)
    assert [r.idempotency_key for r in claimed] == ["1-open:hook"]
    assert lane.run_once() == 0, "leased to the dead lane"
    clock.set(t0 + lane.lease)
    assert lane.run_once() == 1
    assert [r.headers["Idempotency-Key"] for r in seen] == ["1-open:hook"]
    assert rows(engine)["1-open:hook"].status == "done"
    with engine.begin() as conn:  # the dead lane's late answer changes nothing
        assert not claims.record_retry(conn, claimed[0].id, dead_token, t0, "late", None)
    assert rows(engine)["1-open:hook"].status == "done"


class GatedSink(Sink):
    """Blocks in `apply` until the test opens the gate."""

    type = "gated"

    def __init__(self, name: str, gate: threading.Event) -> None:
        super().__init__(name, Sink.Settings(), httpx.Client())
        self.gate = gate
        self.entered = threading.Event()

    def apply(self, item: OutboxItem) -> SinkResult:
        self.entered.set()
        self.gate.wait(30)
        return SinkResult("ok")


class CountingSink(Sink):
    type = "counting"

    def __init__(self, name: str) -> None:
        super().__init__(name, Sink.Settings(), httpx.Client())
        self.keys: list[str] = []

    def apply(self, item: OutboxItem) -> SinkResult:
        self.keys.append(item.idempotency_key)
        return SinkResult("ok", external_ref=item.idempotency_key)


def test_a_stuck_sink_does_not_hold_up_another(engine: Engine, t0: datetime) -> None:
    actions = [TicketAction(i, "open", f"{i}-open", ["stuck", "fast"], {}) for i in range(1, 6)]
    with engine.begin() as conn:
        outbox_store.enqueue(conn, actions, t0)
    gate = threading.Event()
    stuck, fast = GatedSink("stuck", gate), CountingSink("fast")
    external = ExternalDispatcher(engine, {"stuck": stuck, "fast": fast}, FixedClock(t0))
    external.start()
    try:
        assert stuck.entered.wait(30)
        external.wake()
        for _ in range(300):
            if len(fast.keys) == 5:
                break
            gate.wait(0.1)
        assert fast.keys == [f"{i}-open:fast" for i in range(1, 6)], "fast waited for stuck"
        assert not gate.is_set()
    finally:
        gate.set()
        external.stop()
    done = {k: r.status for k, r in _all(engine).items()}
    assert all(done[f"{i}-open:fast"] == "done" for i in range(1, 6))


def _all(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return {row.idempotency_key: row for row in conn.execute(select(outbox))}


def test_a_sink_that_raises_is_retried_and_its_lane_lives_on(engine: Engine, t0: datetime) -> None:
    class Broken(CountingSink):
        def apply(self, item: OutboxItem) -> SinkResult:
            raise RuntimeError("token=hunter2")

    with engine.begin() as conn:
        outbox_store.enqueue(conn, [TicketAction(1, "open", "1-open", ["b"], {})], t0)
    lane = Lane(engine, Broken("b"), FixedClock(t0))
    assert lane.run_once() == 1
    row = _all(engine)["1-open:b"]
    assert (row.status, row.last_error) == ("pending", "sink raised RuntimeError")


def test_a_remote_action_waits_for_the_builtin_ticket_it_refers_to(
    engine: Engine, t0: datetime
) -> None:
    payload = {
        "title": "t",
        "priority": "P2",
        "severity": "high",
        "status": "open",
        "team": None,
        "at": t0.isoformat(),
        "opened_at": t0.isoformat(),
        "reasons": [],
    }
    actions = [TicketAction(1, "open", "1-open", ["builtin", "hook"], payload)]
    with engine.begin() as conn:
        outbox_store.enqueue(conn, actions, t0)
    answers = [httpx.Response(200, json={"id": "R-1"})]
    lane = Lane(engine, webhook(scripted(answers, [])), FixedClock(t0), after=["builtin"])
    assert lane.run_once() == 0, "sent before the built-in ticket existed"
    with engine.begin() as conn:
        Dispatcher({"builtin": BuiltinSink()}).dispatch_due(conn, t0)
    assert lane.run_once() == 1
    with engine.connect() as conn:
        assert conn.execute(select(ticket_refs.c.external_id)).scalars().all() == ["R-1"]


def test_two_lanes_of_one_sink_never_send_an_action_twice(engine: Engine, t0: datetime) -> None:
    """Two processes each running a lane of the same sink: claims do not overlap."""
    actions = [TicketAction(i, "open", f"{i}-open", ["shared"], {}) for i in range(1, 41)]
    with engine.begin() as conn:
        outbox_store.enqueue(conn, actions, t0)
    sinks = [CountingSink("shared"), CountingSink("shared")]
    lanes = [Lane(engine, sink, FixedClock(t0), batch=3) for sink in sinks]
    start = threading.Barrier(2)

    def drain(lane: Lane) -> None:
        start.wait()
        while lane.run_once():
            pass

    threads = [threading.Thread(target=drain, args=(lane,)) for lane in lanes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent = sinks[0].keys + sinks[1].keys
    assert sorted(sent) == sorted(f"{i}-open:shared" for i in range(1, 41))
    assert {row.status for row in _all(engine).values()} == {"done"}


class TrackerSink(Sink):
    """Opens a remote ticket `R<incident>-<n>`; records the ref each action was handed."""

    type = "tracker"

    def __init__(self, name: str) -> None:
        super().__init__(name, Sink.Settings(), httpx.Client())
        self.seen: list[tuple[str, str | None]] = []
        self.created = 0

    def apply(self, item: OutboxItem) -> SinkResult:
        self.seen.append((item.idempotency_key, item.remote_ref))
        if item.action == "open":
            self.created += 1
            return SinkResult("ok", external_ref=f"R{item.incident_id}-{self.created}")
        return SinkResult("ok")  # an update names no new ref: the open's stays


def test_each_action_is_handed_the_remote_ref_its_incidents_open_recorded(
    engine: Engine, t0: datetime
) -> None:
    steps = [(1, "open"), (2, "open"), (1, "update"), (1, "resolve")]
    actions = [TicketAction(i, a, f"{i}-{a}", ["tracker"], {}) for i, a in steps]
    with engine.begin() as conn:
        outbox_store.enqueue(conn, actions, t0)
    sink = TrackerSink("tracker")
    lane = Lane(engine, sink, FixedClock(t0), batch=3)
    while lane.run_once():
        pass
    # The first batch hands refs on within itself; the second reads them from the store.
    assert sink.seen == [
        ("1-open:tracker", None),
        ("2-open:tracker", None),
        ("1-update:tracker", "R1-1"),
        ("1-resolve:tracker", "R1-1"),
    ]
    with engine.begin() as conn:
        outbox_store.enqueue(conn, [TicketAction(2, "update", "2-update", ["tracker"], {})], t0)
        assert claims.known_refs(conn, "tracker", [1, 2, 3]) == {1: "R1-1", 2: "R2-2"}
    lane.run_once()
    assert sink.seen[-1] == ("2-update:tracker", "R2-2")
