"""The worker: inbox -> pipeline -> outbox -> sinks, in micro-batches, plus timers."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from sqlalchemy import Engine

from autoticket.clock import Clock
from autoticket.config import Config
from autoticket.lifecycle import fire_due_timers, purge
from autoticket.pipeline.runner import BatchOutcome, Pipeline
from autoticket.sinks.outbox import Dispatcher
from autoticket.store import inbox as inbox_store

__all__ = ["Worker"]

log = logging.getLogger("autoticket.worker")

PURGE_EVERY = timedelta(minutes=10)


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
        with self.engine.begin() as conn:
            resolved = fire_due_timers(conn, now, self.config)
        outcome: BatchOutcome | None = None
        with self.engine.begin() as conn:
            deliveries = inbox_store.claim_pending(conn, self.batch_size)
            if deliveries:
                outcome = self.pipeline.process(conn, deliveries, self.clock.now())
        if self.pipeline.telemetry is not None and outcome is not None:
            self.pipeline.telemetry.batch_size.observe(outcome.deliveries)
        with self.engine.begin() as conn:
            applied = self.dispatcher.dispatch_due(conn, self.clock.now())
        return outcome, resolved, applied

    def _purge_if_due(self, now: datetime) -> None:
        if self._last_purge is not None and now - self._last_purge < PURGE_EVERY:
            return
        self._last_purge = now
        with self.engine.begin() as conn:
            removed = purge(conn, now, self.config.retention)
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
