"""The worker: engine rounds on the wall clock over the inbox, in micro-batches, plus retention."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as SATimeoutError

from autoticket.clock import Clock
from autoticket.config import Config
from autoticket.engine.round import BatchOutcome, Round, RoundOutcome
from autoticket.lifecycle import backlog_left, purge
from autoticket.model import DeadLetter, Delivery
from autoticket.store import inbox as inbox_store
from autoticket.store.dead_letters import add_dead_letters
from autoticket.store.outage import DatabaseHealth, is_unavailable

__all__ = ["Worker"]

log = logging.getLogger("autoticket.worker")

# Failures that say nothing about the data: retry the same batch later.
TRANSIENT = (OperationalError, InterfaceError, DisconnectionError, SATimeoutError)

# A batch's bounds besides its count of deliveries: memory per batch stays
# bounded when a storm sends large bodies of many alerts each.
BATCH_EVENTS = 5_000
BATCH_BYTES = 16 * 1024 * 1024

# Transient-looking failures of the same batch before it is taken apart.
STUCK_AFTER = 3

PURGE_EVERY = timedelta(minutes=10)
PURGE_LIMIT = 5000  # rows per table per transaction: keeps the write lock short
PURGE_STEPS = 20  # transactions per round; a bigger backlog goes on next round


class Worker:
    def __init__(
        self,
        engine: Engine,
        config: Config,
        round_: Round,
        clock: Clock,
        batch_size: int = 500,
        idle_seconds: float = 0.5,
        health: DatabaseHealth | None = None,
    ) -> None:
        """`health`: the process's record of database outages (its own if not given)."""
        self.engine = engine
        self.health = health or DatabaseHealth()
        self.config = config
        self.round = round_
        self.telemetry = round_.telemetry
        self._claimed: list[int] = []
        self._strikes: dict[int, int] = {}
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

    def run_once(self) -> RoundOutcome:
        """One engine round: due timers, one inbox batch, due outbox actions.

        A batch that fails for a reason in its data is retried one delivery
        at a time, so the one at fault is isolated (see `_one_by_one`). A
        failure that looks transient (the database went away) is retried as
        it is, but only `STUCK_AFTER` times in a row for the same batch: an
        error that comes back every time is about the batch, whatever its class
        (PostgreSQL's "out of shared memory" is one), so the batch is isolated.
        """
        now = self.clock.now()
        self._purge_if_due(now)
        self._claimed = []
        try:
            outcome = self.round.run(now, self._claim, pending=inbox_store.any_pending)
        except TRANSIENT:
            if not self._claimed or not self._stuck(self._claimed):
                raise
            log.exception(
                "batch of %d deliveries failed %d times in a row; isolating the bad one",
                len(self._claimed),
                STUCK_AFTER,
            )
        except Exception:
            if not self._claimed:
                raise
            self._strikes.clear()
            log.exception(
                "batch of %d deliveries failed; isolating the bad one", len(self._claimed)
            )
        else:
            self._strikes.clear()
            return outcome
        batch = self._one_by_one(self._claimed, stuck=bool(self._strikes))
        self._strikes.clear()
        return RoundOutcome(0, batch, self.round.dispatch(self.clock.now(), batch.actions > 0))

    def _stuck(self, claimed: list[int]) -> bool:
        """Count one more transient failure of this batch; True once it is stuck.

        A batch is known by its oldest delivery, not by all of them: under
        steady traffic each retry claims the deliveries that arrived since as
        well, and a batch counted as new on every try would never be taken apart.
        """
        key = min(claimed)
        self._strikes = {key: self._strikes.get(key, 0) + 1}
        return self._strikes[key] >= STUCK_AFTER

    def _claim(self, conn: Connection) -> list[Delivery]:
        deliveries = inbox_store.claim_pending(
            conn, self.batch_size, max_events=BATCH_EVENTS, max_bytes=BATCH_BYTES
        )
        self._claimed = [d.inbox_id for d in deliveries if d.inbox_id is not None]
        return deliveries

    def _one_by_one(self, inbox_ids: list[int], stuck: bool = False) -> BatchOutcome:
        """After a failed batch: each delivery alone; one that still fails is dead-lettered.

        Without this, one delivery the database rejects would stop the worker
        for good, retrying the same batch while everything queues behind it.
        When the batch was `stuck` (the same transient-looking error each
        time), a delivery failing alone that way is tried `STUCK_AFTER` times
        and then dead-lettered too; were the database really down, storing
        the dead letter would fail as well, and nothing is lost.
        """
        total = BatchOutcome()
        for inbox_id in inbox_ids:
            try:
                outcome = self._alone(inbox_id, tries=STUCK_AFTER if stuck else 1)
            except Exception as exc:
                if isinstance(exc, TRANSIENT) and not stuck:
                    raise
                log.exception("delivery in inbox row %d failed alone; dead-lettering it", inbox_id)
                self._dead_letter(inbox_id, exc)
                continue
            if outcome is not None:
                total.add(outcome)
        return total

    def _alone(self, inbox_id: int, tries: int) -> BatchOutcome | None:
        for attempt in range(1, tries + 1):
            try:
                return self.round.take_batch(
                    lambda conn: _listed(inbox_store.claim_one(conn, inbox_id)), self.clock.now()
                )
            except TRANSIENT:
                if attempt == tries:
                    raise
                self._stop.wait(0.2 * attempt)
        return None

    def _dead_letter(self, inbox_id: int, exc: Exception) -> None:
        now = self.clock.now()
        with self.engine.begin() as conn:
            delivery = inbox_store.claim_one(conn, inbox_id)
            if delivery is None:
                return
            add_dead_letters(conn, [DeadLetter(delivery, "pipeline", _describe(exc))])
            inbox_store.mark_dead(conn, [inbox_id], now)
        if self.telemetry is not None:
            self.telemetry.dead_letters.labels(delivery.source, "pipeline").inc()

    def _purge_if_due(self, now: datetime) -> None:
        if self._last_purge is not None and now - self._last_purge < PURGE_EVERY:
            return
        removed: dict[str, int] = {}
        for _ in range(PURGE_STEPS):  # a backlog is worked off in bounded steps
            with self.engine.begin() as conn:
                step = purge(
                    conn,
                    now,
                    self.config.retention,
                    limit=PURGE_LIMIT,
                    reopen_within=self.config.timers.reopen_within,
                )
            for table, count in step.items():
                removed[table] = removed.get(table, 0) + count
            if not backlog_left(step, PURGE_LIMIT):
                self._last_purge = now
                break
        telemetry = self.telemetry
        for table, count in removed.items():
            if count and telemetry is not None:
                telemetry.purged.labels(table).inc(count)
        if any(removed.values()):
            log.info("retention purged %s", removed)

    def drain(self, max_rounds: int = 10_000) -> None:
        """Process until the inbox and the due outbox are empty (tests, demo)."""
        for _ in range(max_rounds):
            if self.run_once().idle:
                return

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                idle = self.run_once().idle
                self.last_error = None
            except Exception as exc:
                if is_unavailable(exc):  # once per outage, not a traceback a second
                    self.health.failed(exc, "worker")
                else:
                    log.exception("worker round failed")
                # A reason code for /readyz; the detail (SQL, values) is in the log only.
                self.last_error = _reason_code(exc)
                self._stop.wait(1.0)
                continue
            if idle:
                self._wake.wait(self.idle_seconds)
                self._wake.clear()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


def _listed(delivery: Delivery | None) -> list[Delivery]:
    return [delivery] if delivery is not None else []


def _reason_code(exc: Exception) -> str:
    """The class of the failure, e.g. `OperationalError` or `OperationalError/OutOfMemory`."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else None
    name = type(exc).__name__
    return f"{name}/{type(cause).__name__}" if cause is not None else name


def _describe(exc: Exception) -> str:
    """The cause in one line, without the SQL and parameters SQLAlchemy appends."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    first = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return f"{type(cause).__name__}: {first}"[:500]
