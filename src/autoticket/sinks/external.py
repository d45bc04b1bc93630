"""The external dispatcher: calls sinks that live outside autoticket, with no transaction open.

Each external sink has a lane of its own (a thread), so one slow or dead
remote never delays another sink, the worker or ingest. A lane works in
three steps:

1. claim due rows of its sink in one short transaction (a lease: see
   `store/claims.py`);
2. call the sink for each row, outside any transaction, bounded by the
   sink's timeout;
3. record each outcome in another short transaction: done (with the remote
   reference), retry at max(backoff, Retry-After), or parked (failed) with
   the reason.

Before each call the lane scrubs the payload's strings (the service hands
it the pipeline's redactor), takes a token from the sink's rate limit and
asks the sink's circuit breaker (`sinks/guard.py`). A parked action holds
its incident's later actions of the sink until it is replayed.

An incident's actions reach a sink in outbox order: a claim takes an
incident's later row only with the earlier ones, and when one of them must be
retried, the later ones of that incident are handed back unattempted. They
also wait for the incident's pending built-in actions enqueued with or before
them, so the remote reference finds the built-in ticket to attach to.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from autoticket.clock import Clock
from autoticket.sinks.base import OutboxItem, RemoteChange, Sink, SinkResult
from autoticket.sinks.dispatch import jittered_backoff
from autoticket.sinks.guard import Breaker, TokenBucket
from autoticket.sinks.outbox import item_of
from autoticket.sinks.sync import record_changes
from autoticket.store import claims, read_only
from autoticket.store import outbox as outbox_store
from autoticket.store.outage import DatabaseHealth, is_unavailable
from autoticket.store.remote_changes import human_closed
from autoticket.store.timeline import add_entries, entry

__all__ = ["ExternalDispatcher", "Lane"]

log = logging.getLogger("autoticket.sinks")

LEASE_MARGIN = timedelta(seconds=5)  # per item, for the two short transactions around a call


Scrub = Callable[[dict[str, Any]], dict[str, Any]]
OnRemote = Callable[[Sink, list[RemoteChange]], None]


def retry_delay(sink: Sink, item: OutboxItem, result: SinkResult) -> timedelta | None:
    """When to try again, or None to park the action (permanent, or out of attempts)."""
    if result.outcome != "retry" or item.attempts + 1 >= sink.dispatch.max_attempts:
        return None
    wish = result.retry_after or timedelta(0)
    pause = jittered_backoff(item.idempotency_key, item.attempts, sink.dispatch.max_backoff)
    return max(pause, wish)


class Lane:
    """One external sink's claim → call → record loop."""

    def __init__(
        self,
        engine: Engine,
        sink: Sink,
        clock: Clock,
        batch: int | None = None,
        on_outcome: Callable[[OutboxItem, SinkResult], None] | None = None,
        idle_seconds: float = 0.5,
        after: Collection[str] = (),
        scrub: Scrub | None = None,
        on_remote: OnRemote | None = None,
        health: DatabaseHealth | None = None,
    ) -> None:
        """`after`: the transactional sinks, whose rows of an incident go first (the
        built-in ticket exists before the remote one refers to it). `scrub` masks
        secrets in a payload right before the call; `on_remote` records the changes
        the sink's `poll` reports (two-way sync); `health`: the process's record of
        database outages."""
        self.engine = engine
        self.health = health or DatabaseHealth()
        self.scrub = scrub
        self.on_remote: OnRemote = on_remote or self._record_remote
        settings = sink.dispatch
        self.breaker = Breaker(sink.name, settings.breaker_failures, settings.breaker_cooldown)
        rate = settings.rate
        self.bucket = TokenBucket(rate, clock.now()) if rate else None
        self.polled_at: datetime | None = None
        self.next_poll_at: datetime | None = None
        self.after = tuple(after)
        self.sink = sink
        self.clock = clock
        self.batch = batch if batch is not None else sink.dispatch.batch
        self.on_outcome = on_outcome
        self.idle_seconds = idle_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None

    @property
    def lease(self) -> timedelta:
        return (self.sink.timeout + LEASE_MARGIN) * self.batch

    def run_once(self) -> int:
        """Poll if due, then claim, call and record one batch; return how many calls
        were made (polls included)."""
        now = self.clock.now()
        calls = self._poll(now)
        if not self.breaker.allows(now):
            return calls
        with read_only(self.engine) as conn:
            if not outbox_store.any_due(conn, now, [self.sink.name]):
                return calls
        batch = 1 if self.breaker.probing else self.batch
        with self.engine.begin() as conn:
            token, rows = claims.claim(conn, self.sink.name, now, self.lease, batch, self.after)
            refs = claims.known_refs(conn, self.sink.name, {row.incident_id for row in rows})
            reopening = {r.incident_id for r in rows if self.sink.reopens_remote(item_of(r))}
            closed = human_closed(conn, self.sink.name, reopening)
        held: set[int] = set()  # incidents with an action waiting for a retry or parked
        giving_back: list[int] = []
        for row in rows:
            if row.incident_id in held or self._stop.is_set() or not self._may_call():
                giving_back.append(row.id)
                continue
            item = item_of(row)
            item.remote_ref = refs.get(item.incident_id)
            if item.incident_id in closed and self.sink.reopens_remote(item):
                self._skip(item, token, closed[item.incident_id])
                continue
            if self.scrub is not None:
                item.payload = self.scrub(item.payload)
            result = self._call(item)
            calls += 1
            self._judge(result)
            recorded = self._record(item, token, result)
            if recorded and result.outcome == "ok" and result.external_ref:
                refs[item.incident_id] = result.external_ref
            if recorded and result.outcome != "ok":
                held.add(item.incident_id)
        if giving_back:
            with self.engine.begin() as conn:
                claims.release(conn, giving_back, token, now)
        return calls

    def _skip(self, item: OutboxItem, token: str, why: str) -> None:
        """A reopen (or an update that would reopen) of a ticket a person closed: done
        without a call, and said so."""
        now = self.clock.now()
        with self.engine.begin() as conn:
            if claims.record_done(conn, item.id, token, now, item.remote_ref, None):
                message = f"{self.sink.name}: automatic {item.action} skipped; {why}"
                data = {"sink": self.sink.name, "key": item.idempotency_key}
                add_entries(conn, [entry(item.incident_id, now, "reopen_skipped", message, data)])
        log.info(
            "sink %s: %s of incident %d skipped (closed by a person)",
            self.sink.name,
            item.action,
            item.incident_id,
        )

    def _record_remote(self, sink: Sink, changes: list[RemoteChange]) -> None:
        record_changes(self.engine, sink.name, changes, self.clock.now())

    def _may_call(self) -> bool:
        """The breaker is not open and the rate limit has a token."""
        now = self.clock.now()
        if not self.breaker.allows(now):
            return False
        return self.bucket is None or self.bucket.take(now)

    def _judge(self, result: SinkResult) -> None:
        """A transient failure counts against the breaker; any answer that is not one
        (done, or refused for good) shows the remote is there."""
        if result.outcome == "retry":
            self.breaker.failure(self.clock.now())
        else:
            self.breaker.success()

    def _poll(self, now: datetime) -> int:
        """Ask the sink for remote changes every `poll_interval` (two-way sync)."""
        interval = self.sink.dispatch.poll_interval
        if interval is None:
            return 0
        if self.next_poll_at is not None and now < self.next_poll_at:
            return 0
        self.next_poll_at = now + interval
        try:
            changes = self.sink.poll(self.polled_at)
        except Exception as exc:  # a sink's bug or a dead remote must not stop its lane
            log.error("sink %s: poll raised %s", self.sink.name, type(exc).__name__)
            return 1
        self.polled_at = now
        if changes:
            self.on_remote(self.sink, changes)
        return 1

    def pause(self) -> float:
        """Seconds the loop may sleep before anything can go out (breaker, rate limit)."""
        now = self.clock.now()
        waits = [self.idle_seconds]
        if (reopens := self.breaker.reopens_at()) is not None:
            waits.append(max(0.0, (reopens - now).total_seconds()))
        elif self.bucket is not None:
            waits.append(self.bucket.wait(now).total_seconds())
        return min(waits)

    def _call(self, item: OutboxItem) -> SinkResult:
        try:
            return self.sink.apply(item)
        except Exception as exc:  # a bug in a sink must not stop its lane
            # The message is left out: it may quote a request with its secrets.
            log.error("sink %s raised %s on %s", self.sink.name, type(exc).__name__, item.id)
            return SinkResult("retry", reason=f"sink raised {type(exc).__name__}")

    def _record(self, item: OutboxItem, token: str, result: SinkResult) -> bool:
        """Step 3; False when the lease was lost meanwhile (another lane took the row)."""
        now = self.clock.now()
        with self.engine.begin() as conn:
            if result.outcome == "ok":
                mine = claims.record_done(
                    conn, item.id, token, now, result.external_ref, result.url
                )
            else:
                delay = retry_delay(self.sink, item, result)
                mine = claims.record_retry(conn, item.id, token, now, result.reason, delay)
        if mine and self.on_outcome is not None:
            self.on_outcome(item, result)
        if not mine:
            log.warning("sink %s: lease on outbox row %d ran out mid-call", self.sink.name, item.id)
        elif result.outcome != "ok":
            log.warning(
                "sink %s: %s of incident %d: %s (%s)",
                self.sink.name,
                item.action,
                item.incident_id,
                "parked" if retry_delay(self.sink, item, result) is None else "will retry",
                result.reason,
            )
        return mine

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        name = f"sink-{self.sink.name}"
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Stop after the call in flight; rows claimed but not yet called are handed back."""
        self._stop.set()
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout=timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                calls = self.run_once()
                self.last_error = None
            except Exception as exc:  # the database; the sink's own errors are caught in _call
                if is_unavailable(exc):
                    self.health.failed(exc, f"sink {self.sink.name}")
                else:
                    log.exception("sink %s: lane round failed", self.sink.name)
                self.last_error = type(exc).__name__
                self._stop.wait(1.0)
                continue
            if not calls:
                self._wake.wait(self.pause())
                self._wake.clear()


class ExternalDispatcher:
    """A lane per external sink; started and stopped by the service's Runtime."""

    def __init__(
        self,
        engine: Engine,
        sinks: dict[str, Sink],
        clock: Clock,
        on_outcome: Callable[[OutboxItem, SinkResult], None] | None = None,
        after: Collection[str] = (),
        scrub: Scrub | None = None,
        on_remote: OnRemote | None = None,
        health: DatabaseHealth | None = None,
    ) -> None:
        self.lanes = {
            name: Lane(
                engine,
                sink,
                clock,
                on_outcome=on_outcome,
                after=after,
                scrub=scrub,
                on_remote=on_remote,
                health=health,
            )
            for name, sink in sinks.items()
        }

    def run_once(self) -> int:
        """One batch per lane, in this thread (tests, replay-like drivers)."""
        return sum(lane.run_once() for lane in self.lanes.values())

    def wake(self) -> None:
        for lane in self.lanes.values():
            lane.wake()

    def start(self) -> None:
        for lane in self.lanes.values():
            lane.start()

    def stop(self) -> None:
        for lane in self.lanes.values():  # all at once: each may be waiting on a call
            lane.request_stop()
        for lane in self.lanes.values():
            lane.stop()
