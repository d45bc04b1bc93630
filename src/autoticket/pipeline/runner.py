"""The one place the pipeline is composed, timed and its results recorded.

Live workers, replay and simulate all call `build_pipeline(config)` and then
`Pipeline.process(conn, deliveries, now)` inside a transaction they own, so
the batch's events, incident changes, outbox actions, dead letters and the
inbox `done` marks commit together or not at all.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection

from autoticket.config import Config
from autoticket.model import Decision, Delivery
from autoticket.pipeline.base import Batch, Context, Stage
from autoticket.pipeline.correlate import CorrelateStage
from autoticket.pipeline.decide import DecideStage
from autoticket.pipeline.enrich import EnrichStage
from autoticket.pipeline.normalize import NormalizeStage
from autoticket.pipeline.redact import RedactStage
from autoticket.pipeline.route import RouteStage
from autoticket.policy import RouteTable
from autoticket.store import inbox as inbox_store
from autoticket.store import outbox as outbox_store
from autoticket.store.correlation_state import SqlCorrelationState
from autoticket.store.dead_letters import add_dead_letters
from autoticket.store.events import add_decisions, insert_events
from autoticket.telemetry import Telemetry

__all__ = ["BatchOutcome", "Pipeline", "build_pipeline"]


@dataclass(slots=True)
class BatchOutcome:
    deliveries: int = 0
    events: int = 0
    dropped: int = 0
    dead_letters: int = 0
    actions: int = 0
    changes: dict[str, int] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)


class Pipeline:
    def __init__(self, config: Config, stages: list[Stage], telemetry: Telemetry | None) -> None:
        self.config = config
        self.stages = stages
        self.telemetry = telemetry

    def process(self, conn: Connection, deliveries: list[Delivery], now: datetime) -> BatchOutcome:
        state = SqlCorrelationState(conn)
        ctx = Context(now=now, config=self.config, state=state)
        batch = Batch(deliveries=deliveries)
        outcome = BatchOutcome(deliveries=len(deliveries))
        decisions: list[Decision] = []
        for stage in self.stages:
            started = time.perf_counter()
            result = stage.run(batch, ctx)
            elapsed = time.perf_counter() - started
            outcome.stage_seconds[stage.name] = elapsed
            if self.telemetry is not None:
                self.telemetry.stage_seconds.labels(stage.name).observe(elapsed)
            if stage.name == "normalize":
                outcome.events = len(result.batch.events)
            decisions.extend(result.decisions)
            batch = result.batch
            if not batch.events and not batch.changes:
                break
        state.flush()
        outcome.dropped = outcome.events - len(batch.events)
        insert_events(conn, batch.events)
        outbox_store.enqueue(conn, batch.actions, now)
        # Route decisions are those of dropped events: counted, not stored per event.
        add_decisions(conn, [(_incident_of(d), d) for d in decisions if d.stage != "route"], now)
        if batch.dead_letters:
            add_dead_letters(conn, batch.dead_letters)
        inbox_store.mark_processed(
            conn, [d.inbox_id for d in deliveries if d.inbox_id is not None], now
        )
        outcome.dead_letters = len(batch.dead_letters)
        outcome.actions = len(batch.actions)
        for change in batch.changes:
            outcome.changes[change.kind] = outcome.changes.get(change.kind, 0) + 1
        self._count(outcome, batch, [d for d in decisions if d.stage == "route"])
        return outcome

    def _count(self, outcome: BatchOutcome, batch: Batch, dropped: list[Decision]) -> None:
        t = self.telemetry
        if t is None:
            return
        for kind, n in outcome.changes.items():
            t.incidents.labels(kind).inc(n)
        for dl in batch.dead_letters:
            t.dead_letters.labels(dl.delivery.source, dl.stage).inc()
        for decision in dropped:
            t.events_received.labels(
                decision.inputs.get("source", "unknown"), decision.outcome
            ).inc()


def _incident_of(decision: Decision) -> int | None:
    subject = decision.subject or ""
    return int(subject) if subject.isdigit() else None


def build_pipeline(config: Config, telemetry: Telemetry | None = None) -> Pipeline:
    stages: list[Stage] = [
        NormalizeStage(),
        RedactStage(config.redaction),
        EnrichStage(config.catalog),
        RouteStage(RouteTable.from_config(config)),
        CorrelateStage(config),
        DecideStage(config),
    ]
    return Pipeline(config, stages, telemetry)
