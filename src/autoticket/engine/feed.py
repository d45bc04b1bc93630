"""Deliveries made inside the engine (the release judge's events), run through the pipeline.

A timer that fires between a batch's events hands its delivery here; it is
prepared, correlated and decided at once, with the round's state, actions
and coalescer, so it takes its place in time among the batch's events and
the outcome does not depend on how deliveries were batched. Its events are
stored with the round's transaction (`flush`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection

from autoticket.config import Config
from autoticket.engine.actions import Actions, apply_verdict
from autoticket.engine.coalesce import Coalescer
from autoticket.model import DeadLetter, Delivery, Event
from autoticket.pipeline.base import Context
from autoticket.pipeline.runner import Pipeline
from autoticket.store.correlation_state import SqlCorrelationState
from autoticket.store.dead_letters import add_dead_letters
from autoticket.store.events import insert_events

__all__ = ["Feeder"]


@dataclass(slots=True)
class Feeder:
    conn: Connection
    config: Config
    pipeline: Pipeline
    state: SqlCorrelationState
    actions: Actions
    coalescer: Coalescer | None = None
    events: list[Event] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)

    def __call__(self, delivery: Delivery) -> list[Event]:
        ctx = Context(now=delivery.received_at, config=self.config, state=self.state)
        result = self.pipeline.prepare([delivery], ctx)
        self.dead_letters.extend(result.batch.dead_letters)
        part = self.pipeline.resolve(result, list(result.batch.events), ctx)
        if self.coalescer is not None:
            self.coalescer.prefetch(v.incident_id for v in part.verdicts if v.action == "update")
        for verdict in part.verdicts:
            apply_verdict(verdict, self.state, self.actions, self.coalescer)
        for decision in result.decisions:
            subject = decision.subject or ""
            self.actions.explain(int(subject) if subject.isdigit() else None, decision)
        self.events.extend(result.batch.events)
        return list(result.batch.events)

    def flush(self) -> None:
        """Store the fed events and dead letters (after the state is flushed)."""
        insert_events(self.conn, self.events)
        if self.dead_letters:
            add_dead_letters(self.conn, self.dead_letters)
        self.events.clear()
        self.dead_letters.clear()
