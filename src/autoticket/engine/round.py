"""One round of the engine: fire due timers, run a pipeline batch, apply the outbox.

The worker runs rounds on the wall clock, replay on the virtual clock; both
call `Round`, so timers, the pipeline and the transactional sinks behave the
same live and in a backtest. Each step is its own short transaction, and the
steps that are usually idle first look with a read that takes no write lock:
on SQLite every write transaction makes ingest's group commit wait.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine

from autoticket.config import Config
from autoticket.engine.actions import INFO_HOLD, Actions, apply_verdict, record
from autoticket.engine.coalesce import Coalescer
from autoticket.engine.feed import Feeder
from autoticket.lifecycle import fire_due, next_due
from autoticket.lifecycle.escalation import start as start_escalations
from autoticket.lifecycle.release_check import LiveReader, Prefetched, due_releases, read_live
from autoticket.model import SILENCE_HOLD, Decision, Delivery, Event, Release
from autoticket.pipeline.base import Batch, Context
from autoticket.pipeline.runner import Pipeline
from autoticket.sinks.outbox import Dispatcher
from autoticket.store import inbox as inbox_store
from autoticket.store import read_only
from autoticket.store.correlation_state import SqlCorrelationState
from autoticket.store.dead_letters import add_dead_letters
from autoticket.store.events import insert_events
from autoticket.telemetry import Telemetry

__all__ = ["BatchOutcome", "Round", "RoundOutcome"]

# Claims the round's deliveries inside its transaction (the inbox live, a list in replay).
Take = Callable[[Connection], list[Delivery]]


@dataclass(slots=True)
class BatchOutcome:
    deliveries: int = 0
    events: int = 0
    dropped: int = 0
    dead_letters: int = 0
    actions: int = 0
    changes: dict[str, int] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)

    def add(self, other: BatchOutcome) -> None:
        self.deliveries += other.deliveries
        self.events += other.events
        self.dropped += other.dropped
        self.dead_letters += other.dead_letters
        self.actions += other.actions
        for kind, n in other.changes.items():
            self.changes[kind] = self.changes.get(kind, 0) + n
        for name, secs in other.stage_seconds.items():
            self.stage_seconds[name] = self.stage_seconds.get(name, 0.0) + secs


@dataclass(slots=True)
class RoundOutcome:
    fired: int = 0
    batch: BatchOutcome | None = None
    applied: int = 0

    @property
    def idle(self) -> bool:
        return self.batch is None and not self.fired and not self.applied


class Round:
    def __init__(
        self,
        engine: Engine,
        config: Config,
        pipeline: Pipeline,
        dispatcher: Dispatcher,
        telemetry: Telemetry | None = None,
        release_reader: LiveReader | None = None,
    ) -> None:
        self.engine = engine
        # The configured SLIs' reader (Prometheus): read before each timer
        # transaction for the release checks due (`_prefetch`). None: pushed only.
        self.release_reader = release_reader
        self._live: dict[int, Prefetched] = {}
        self.config = config
        self.pipeline = pipeline
        self.dispatcher = dispatcher
        self.telemetry = telemetry

    def run(
        self,
        now: datetime,
        take: Take,
        timers_until: datetime | None = None,
        pending: Callable[[Connection], bool] | None = None,
    ) -> RoundOutcome:
        """Timers due by `timers_until` (default `now`), one batch, then due outbox actions.

        `pending`, when given, is a cheap read that says whether `take` would
        find anything, so that an idle round takes no write transaction.
        """
        fired = self.fire_timers(now if timers_until is None else timers_until)
        batch = self.take_batch(take, now, pending)
        known_due = fired > 0 or (batch is not None and batch.actions > 0)
        return RoundOutcome(fired, batch, self.dispatch(now, known_due))

    # -- timers --------------------------------------------------------------
    def fire_timers(self, until: datetime) -> int:
        """Fire every timer due by `until`, each at its own due time.

        A timer must not overtake deliveries received before it fell due: a
        firing still waiting in the inbox cancels it, as it would have live.
        """
        with read_only(self.engine) as conn:
            due_at = next_due(conn)
            if due_at is None or due_at > until:
                return 0
            checks = self._releases_due(conn, until)
        self._live = self._prefetch(checks, until)
        with self.engine.begin() as conn:
            oldest = inbox_store.oldest_pending(conn)
            cutoff = min(until, oldest) if oldest is not None else until
            state = SqlCorrelationState(conn)
            actions = Actions(self.config, live=self._live_readings())
            coalescer = Coalescer(conn, self.config) if self.config.tickets.coalesce else None
            feeder = Feeder(conn, self.config, self.pipeline, state, actions, coalescer)
            actions.feed = feeder
            fired = fire_due(conn, cutoff, self.config, state=state, actions=actions)
            self._count_suppressed(actions)
            state.flush()
            if coalescer is not None:
                coalescer.flush()
            feeder.flush()
            record(conn, actions, cutoff)
            start_escalations(conn, actions.actions, self.config)
            return fired

    def _live_readings(self) -> dict[int, Prefetched] | None:
        """What the round's release checks judge SLIs on (None: pushed samples only)."""
        if self.release_reader is None or not self.config.releases.slis:
            return None
        return self._live

    def _releases_due(self, conn: Connection, until: datetime) -> list[Release]:
        """Releases whose checks are due by `until` and need a live reading."""
        if self.release_reader is None or not self.config.releases.slis:
            return []
        return due_releases(conn, until)

    def _prefetch(self, checks: list[Release], until: datetime) -> dict[int, Prefetched]:
        """Their live readings, read outside any transaction (a query can take seconds)."""
        if self.release_reader is None:
            return {}
        return read_live(self.release_reader, checks, until, self.config)

    # -- the pipeline --------------------------------------------------------
    def take_batch(
        self, take: Take, now: datetime, pending: Callable[[Connection], bool] | None = None
    ) -> BatchOutcome | None:
        if pending is not None:
            with read_only(self.engine) as conn:
                if not pending(conn):
                    return None
        with self.engine.begin() as conn:
            deliveries = take(conn)
            if not deliveries:
                return None
            return self.process(conn, deliveries, now)

    def process(self, conn: Connection, deliveries: list[Delivery], now: datetime) -> BatchOutcome:
        """Run the pipeline over `deliveries` and store what it made, in `conn`'s transaction:
        events, incident changes, ticket actions, decisions, dead letters, inbox marks.

        Timers that fall due between the batch's events fire between them, at
        their own due time, so the outcome does not depend on how deliveries
        were batched (see `_segments`).
        """
        state = SqlCorrelationState(conn)
        ctx = Context(now=now, config=self.config, state=state)
        result = self.pipeline.prepare(deliveries, ctx)
        actions = Actions(self.config, live=self._live_readings())
        coalescer = Coalescer(conn, self.config) if self.config.tickets.coalesce else None
        feeder = Feeder(conn, self.config, self.pipeline, state, actions, coalescer)
        actions.feed = feeder
        for segment in self._segments(conn, result.batch.events, state, actions, coalescer):
            part = self.pipeline.resolve(result, segment, ctx)
            if coalescer is not None:
                coalescer.prefetch(v.incident_id for v in part.verdicts if v.action == "update")
            for verdict in part.verdicts:
                apply_verdict(verdict, state, actions, coalescer)
        batch = result.batch
        self._count_suppressed(actions)
        for decision in result.decisions:
            actions.explain(_incident_of(decision), decision)
        state.flush()
        if coalescer is not None:
            coalescer.flush()
        insert_events(conn, batch.events)
        feeder.flush()
        record(conn, actions, now)
        start_escalations(conn, actions.actions, self.config)
        if batch.dead_letters:
            add_dead_letters(conn, batch.dead_letters)
        inbox_store.mark_processed(
            conn, [d.inbox_id for d in deliveries if d.inbox_id is not None], now
        )
        outcome = BatchOutcome(
            deliveries=len(deliveries),
            events=batch.parsed,
            dropped=batch.parsed - len(batch.events),
            dead_letters=len(batch.dead_letters),
            actions=len(actions.actions),
            stage_seconds=result.stage_seconds,
        )
        for change in batch.changes:
            outcome.changes[change.kind] = outcome.changes.get(change.kind, 0) + 1
        self._count(outcome, batch)
        return outcome

    def _segments(
        self,
        conn: Connection,
        events: list[Event],
        state: SqlCorrelationState,
        actions: Actions,
        coalescer: Coalescer | None,
    ) -> Iterator[list[Event]]:
        """Cut the batch's events where a timer may fall due, firing it there.

        A segment starts after every timer due by its first event has fired,
        and ends before the next known due time, and before `resolve_after`
        (or the ticket update interval) has passed since its start: no timer
        the segment itself sets can fall due inside it. Cutting early is always
        safe; firing needs the state flushed, so it flushes only when something
        is due.
        """
        span = max(_shortest_delay(self.config), _TICK)
        # The stored agenda changes inside this transaction only when timers
        # fire here, so it is read once, and again after each firing; timers
        # the segments set are still in memory (`unflushed_due`).
        agenda = next_due(conn)
        i = 0
        while i < len(events):
            start = events[i].received_at
            held = coalescer.soonest() if coalescer is not None else None
            due = _soonest(agenda, state.unflushed_due(), held, actions.soonest_timer())
            if due is not None and due <= start:
                state.flush()
                if coalescer is not None:
                    coalescer.flush()
                actions.flush_timers(conn)
                fire_due(conn, start, self.config, state=state, actions=actions)
                agenda = next_due(conn)
                due = _soonest(agenda, state.unflushed_due())
            end = start + span if due is None else min(start + span, due)
            j = i + 1
            while j < len(events) and events[j].received_at < end:
                j += 1
            yield events[i:j]
            i = j

    def _count_suppressed(self, actions: Actions) -> None:
        """Suppressions by reason: a new info incident held, a transient's pause, a
        new incident silenced (silence or maintenance)."""
        if self.telemetry is None:
            return
        for (lookup, outcome), n in actions.enriched.items():
            self.telemetry.enrichment.labels(lookup, outcome).inc(n)
        for _, decision in actions.decisions:
            if decision.outcome == "joined storm":  # a paused service, at its pause's end
                self.telemetry.merged.labels("storm").inc()
                continue
            if decision.outcome == "template failed":
                self.telemetry.template_errors.labels(str(decision.inputs["template"])).inc()
                continue
            if decision.outcome == "suppressed":
                reason = str(decision.inputs.get("reason", "other"))
            elif decision.outcome == "ticket held" and "opened" in decision.inputs.get(
                "changes", ()
            ):
                if decision.inputs.get("held") == INFO_HOLD:
                    reason = "info"
                elif decision.inputs.get("held") == SILENCE_HOLD:
                    reason = str(decision.inputs.get("reason", "silence"))
                else:
                    continue
            else:
                continue
            self.telemetry.suppressed.labels(reason).inc()

    def _count(self, outcome: BatchOutcome, batch: Batch) -> None:
        t = self.telemetry
        if t is None:
            return
        t.batch_size.observe(outcome.deliveries)
        for kind, n in outcome.changes.items():
            t.incidents.labels(kind).inc(n)
        for dl in batch.dead_letters:
            t.dead_letters.labels(dl.delivery.source, dl.stage).inc()
        for mechanism, n in batch.merged.items():
            t.merged.labels(mechanism).inc(n)
        for decision in batch.dropped:
            t.events_received.labels(
                decision.inputs.get("source", "unknown"), decision.outcome
            ).inc()

    # -- the outbox ----------------------------------------------------------
    def dispatch(self, now: datetime, known_due: bool = False) -> int:
        """Apply due actions of the transactional sinks. `known_due`: this round
        enqueued actions, so there is no need to look first."""
        if not known_due:
            with read_only(self.engine) as conn:
                if not self.dispatcher.any_due(conn, now):
                    return 0
        with self.engine.begin() as conn:
            applied = self.dispatcher.dispatch_due(conn, now)
        self.dispatcher.committed()
        return applied


_TICK = timedelta(microseconds=1)


def _soonest(*times: datetime | None) -> datetime | None:
    return min((t for t in times if t is not None), default=None)


def _shortest_delay(config: Config) -> timedelta:
    """The shortest delay after which a change made in a segment sets a timer."""
    interval = config.tickets.update_interval
    shortest = config.timers.resolve_after
    if config.tickets.coalesce and interval > timedelta(0):
        shortest = min(shortest, interval)
    pauses = [p for route in config.all_routes for p in route.pause.values()]
    return min([shortest, *pauses])


def _incident_of(decision: Decision) -> int | None:
    subject = decision.subject or ""
    return int(subject) if subject.isdigit() else None
