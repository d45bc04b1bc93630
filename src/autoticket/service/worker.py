"""The worker: inbox -> pipeline -> outbox -> sinks, in micro-batches, plus timers."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as SATimeoutError

from autoticket.clock import Clock
from autoticket.config import Config
from autoticket.lifecycle import fire_due_timers, next_due, purge
from autoticket.pipeline.base import DeadLetter
from autoticket.pipeline.runner import BatchOutcome, Pipeline
from autoticket.sinks.outbox import Dispatcher
from autoticket.store import inbox as inbox_store
from autoticket.store import read_only
from autoticket.store.dead_letters import add_dead_letters

__all__ = ["Worker"]

log = logging.getLogger("autoticket.worker")

# Failures that say nothing about the data: retry the same batch later.
TRANSIENT = (OperationalError, InterfaceError, DisconnectionError, SATimeoutError)

PURGE_EVERY = timedelta(minutes=10)
PURGE_LIMIT = 5000  # rows per table per transaction: keeps the write lock short
PURGE_STEPS = 20  # transactions per round; a bigger backlog goes on next round


class Worker:
    def __init__(
        self,
        engine: Engine,
        config: Config,
        pipeline: Pipeline,
        dispatcher: Dispatcher,
        clock: Clock,
        batch_size: int = 500,
        idle_seconds: float = 0.5,
    ) -> None:
        self.engine = engine
        self.config = config
        self.pipeline = pipeline
        self.dispatcher = dispatcher
        self.clock = clock
        self.batch_size = batch_size
        self.idle_seconds = idle_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None
        self._last_purge: datetime | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def run_once(self) -> tuple[BatchOutcome | None, int, int]:
        """One round: due timers, one inbox batch, due outbox actions."""
        now = self.clock.now()
        self._purge_if_due(now)
        resolved = self._fire_timers(now)
        outcome = self._process_batch()
        if self.pipeline.telemetry is not None and outcome is not None:
            self.pipeline.telemetry.batch_size.observe(outcome.deliveries)
        known_due = resolved > 0 or (outcome is not None and outcome.actions > 0)
        return outcome, resolved, self._dispatch(self.clock.now(), known_due)

    # Timers and dispatch first look with a read that takes no write lock: most
    # rounds have neither, and every write transaction on SQLite makes ingest's
    # group commit wait.

    def _fire_timers(self, now: datetime) -> int:
        with read_only(self.engine) as conn:
            due_at = next_due(conn)
            if due_at is None or due_at > now:
                return 0
        with self.engine.begin() as conn:
            # A timer must not overtake deliveries received before it fell due:
            # a firing still waiting in the inbox cancels it, as it would have live.
            oldest = inbox_store.oldest_pending(conn)
            cutoff = min(now, oldest) if oldest is not None else now
            return fire_due_timers(conn, cutoff, self.config)

    def _dispatch(self, now: datetime, known_due: bool) -> int:
        """`known_due`: this round enqueued actions, so there is no need to look."""
        if not known_due:
            with read_only(self.engine) as conn:
                if not self.dispatcher.any_due(conn, now):
                    return 0
        with self.engine.begin() as conn:
            return self.dispatcher.dispatch_due(conn, now)

    def _process_batch(self) -> BatchOutcome | None:
        with read_only(self.engine) as conn:
            if not inbox_store.any_pending(conn):
                return None
        claimed: list[int] = []
        try:
            with self.engine.begin() as conn:
                deliveries = inbox_store.claim_pending(conn, self.batch_size)
                claimed = [d.inbox_id for d in deliveries if d.inbox_id is not None]
                if not deliveries:
                    return None
                return self.pipeline.process(conn, deliveries, self.clock.now())
        except TRANSIENT:
            raise
        except Exception:
            if not claimed:
                raise
            log.exception("batch of %d deliveries failed; isolating the bad one", len(claimed))
        return self._one_by_one(claimed)

    def _one_by_one(self, inbox_ids: list[int]) -> BatchOutcome:
        """After a failed batch: each delivery alone; one that still fails is dead-lettered.

        Without this, one delivery the database rejects would stop the worker
        for good, retrying the same batch while everything queues behind it.
        """
        total = BatchOutcome()
        for inbox_id in inbox_ids:
            try:
                with self.engine.begin() as conn:
                    delivery = inbox_store.claim_one(conn, inbox_id)
                    if delivery is None:
                        continue
                    outcome = self.pipeline.process(conn, [delivery], self.clock.now())
            except TRANSIENT:
                raise
            except Exception as exc:
                log.exception("delivery in inbox row %d failed alone; dead-lettering it", inbox_id)
                self._dead_letter(inbox_id, exc)
                continue
            total.deliveries += outcome.deliveries
            total.events += outcome.events
            total.actions += outcome.actions
        return total

    def _dead_letter(self, inbox_id: int, exc: Exception) -> None:
        now = self.clock.now()
        with self.engine.begin() as conn:
            delivery = inbox_store.claim_one(conn, inbox_id)
            if delivery is None:
                return
            add_dead_letters(conn, [DeadLetter(delivery, "pipeline", _describe(exc))])
            inbox_store.mark_dead(conn, [inbox_id], now)
        if self.pipeline.telemetry is not None:
            self.pipeline.telemetry.dead_letters.labels(delivery.source, "pipeline").inc()

    def _purge_if_due(self, now: datetime) -> None:
        if self._last_purge is not None and now - self._last_purge < PURGE_EVERY:
            return
        removed: dict[str, int] = {}
        for _ in range(PURGE_STEPS):  # a backlog is worked off in bounded steps
            with self.engine.begin() as conn:
                step = purge(conn, now, self.config.retention, limit=PURGE_LIMIT)
            for table, count in step.items():
                removed[table] = removed.get(table, 0) + count
            if max(step.values()) < PURGE_LIMIT:
                self._last_purge = now
                break
        telemetry = self.pipeline.telemetry
        for table, count in removed.items():
            if count and telemetry is not None:
                telemetry.purged.labels(table).inc(count)
        if any(removed.values()):
            log.info("retention purged %s", removed)

    def drain(self, max_rounds: int = 10_000) -> None:
        """Process until the inbox and the due outbox are empty (tests, demo)."""
        for _ in range(max_rounds):
            outcome, resolved, applied = self.run_once()
            if outcome is None and not resolved and not applied:
                return

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                outcome, resolved, applied = self.run_once()
                self.last_error = None
            except Exception as exc:
                log.exception("worker round failed")
                self.last_error = f"{type(exc).__name__}: {exc}"
                self._stop.wait(1.0)
                continue
            if outcome is None and not resolved and not applied:
                self._wake.wait(self.idle_seconds)
                self._wake.clear()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


def _describe(exc: Exception) -> str:
    """The cause in one line, without the SQL and parameters SQLAlchemy appends."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    first = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return f"{type(cause).__name__}: {first}"[:500]
