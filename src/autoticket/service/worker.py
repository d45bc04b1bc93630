"""The worker: inbox -> pipeline -> outbox -> sinks, in micro-batches, plus timers."""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine

from autoticket.clock import Clock
from autoticket.config import Config
from autoticket.lifecycle import fire_due_timers
from autoticket.pipeline.runner import BatchOutcome, Pipeline
from autoticket.sinks.outbox import Dispatcher
from autoticket.store import inbox as inbox_store

__all__ = ["Worker"]

log = logging.getLogger("autoticket.worker")


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
