"""Everything one autoticket process runs, wired once: engine, pipeline, ingest, worker."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from autoticket.clock import Clock, SystemClock
from autoticket.config import Config
from autoticket.engine.round import Round
from autoticket.pipeline.runner import Pipeline, build_pipeline
from autoticket.service.committer import GroupCommitter
from autoticket.service.worker import Worker
from autoticket.sinks.base import OutboxItem
from autoticket.sinks.outbox import Dispatcher
from autoticket.store import make_engine, migrate
from autoticket.telemetry import Telemetry

__all__ = ["Runtime"]


class Runtime:
    def __init__(
        self,
        config: Config,
        engine: Engine,
        clock: Clock | None = None,
        start_worker: bool = True,
        batch_size: int = 500,
    ) -> None:
        self.config = config
        self.engine = engine
        self.clock: Clock = clock or SystemClock()
        self.telemetry = Telemetry()
        self.pipeline: Pipeline = build_pipeline(config, self.telemetry)
        self.dispatcher = Dispatcher(on_applied=self._applied)
        self.round = Round(engine, config, self.pipeline, self.dispatcher, self.telemetry)
        self.worker = Worker(engine, config, self.round, self.clock, batch_size=batch_size)
        self.committer = GroupCommitter(engine, on_commit=self.worker.wake)
        self.start_worker = start_worker
        self.started = False

    @classmethod
    def from_url(cls, config: Config, database_url: str, **kwargs: object) -> Runtime:
        engine = make_engine(database_url)
        migrate(engine)
        return cls(config, engine, **kwargs)  # type: ignore[arg-type]

    def start(self) -> None:
        if self.started:
            return
        self.committer.start()
        if self.start_worker:
            self.worker.start()
        self.started = True

    def stop(self) -> None:
        if not self.started:
            return
        self.committer.stop()
        self.worker.stop()
        self.started = False

    def _applied(self, item: OutboxItem, now: datetime) -> None:
        self.telemetry.tickets.labels(item.sink, item.action).inc()
        if item.action == "open" and "first_received_at" in item.payload:
            first = datetime.fromisoformat(str(item.payload["first_received_at"]))
            latency = (self.clock.now() - first).total_seconds()
            self.telemetry.event_to_ticket.observe(max(0.0, latency))
