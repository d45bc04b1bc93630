"""Everything one autoticket process runs, wired once: engine, pipeline, ingest, worker,
and a lane per external sink."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import Engine

from autoticket.clock import Clock, SystemClock
from autoticket.config import Config
from autoticket.engine.round import Round
from autoticket.oncall import refresh_feeds
from autoticket.pipeline.redact import Redactor
from autoticket.pipeline.redact_body import redact_document
from autoticket.pipeline.runner import Pipeline, build_pipeline
from autoticket.releases.prometheus import PrometheusReader
from autoticket.service.committer import GroupCommitter
from autoticket.service.worker import Worker
from autoticket.sinks.action_log import log_action
from autoticket.sinks.base import OutboxItem, Sink, SinkResult, TransactionalSink
from autoticket.sinks.build import build_sinks, external_sinks, transactional_sinks
from autoticket.sinks.external import ExternalDispatcher
from autoticket.sinks.outbox import Dispatcher
from autoticket.store import make_engine, migrate
from autoticket.store.outage import DatabaseHealth
from autoticket.store.schema import check_schema
from autoticket.telemetry import Telemetry

__all__ = ["Runtime"]

log = logging.getLogger("autoticket.sinks")


class Runtime:
    def __init__(
        self,
        config: Config,
        engine: Engine,
        clock: Clock | None = None,
        start_worker: bool = True,
        batch_size: int = 500,
        sinks: Mapping[str, Sink | TransactionalSink] | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        """`sinks` replaces the ones built from the config (tests); `http_client` is
        the client every external sink shares (tests pass one on a MockTransport)."""
        self.config = config
        self.engine = engine
        self.clock: Clock = clock or SystemClock()
        self.telemetry = Telemetry()
        # Redaction again right before any external call (the lanes' scrub): a
        # payload enqueued before a rule was added, or built from text redaction
        # never saw, is masked before it leaves. `redaction.enabled: false` turns
        # it off here too.
        self.redactor = Redactor(config.redaction)
        # One record of whether the database is reachable, for the API, the worker and
        # the sink lanes: an outage is logged once, not once per request and round.
        self.db_health = DatabaseHealth()
        self.db_health.watch(engine)
        self.pipeline: Pipeline = build_pipeline(config, self.telemetry)
        if sinks is None:
            sinks = build_sinks(config, http_client)
        self.dispatcher = Dispatcher(
            transactional_sinks(sinks), on_applied=self._applied, on_committed=self._committed
        )
        self.external = ExternalDispatcher(
            engine,
            external_sinks(sinks),
            self.clock,
            on_outcome=self._attempted,
            after=list(self.dispatcher.sinks),
            scrub=self._scrub if config.redaction.enabled else None,
            health=self.db_health,
        )
        # Live release SLIs (releases.prometheus); None: pushed samples only.
        self.release_reader = _release_reader(config, http_client)
        self.round = Round(
            engine,
            config,
            self.pipeline,
            self.dispatcher,
            self.telemetry,
            release_reader=self.release_reader,
        )
        self.worker = Worker(
            engine, config, self.round, self.clock, batch_size=batch_size, health=self.db_health
        )
        self.committer = GroupCommitter(engine, on_commit=self.worker.wake)
        self.start_worker = start_worker
        self.started = False

    @classmethod
    def from_url(
        cls, config: Config, database_url: str, migrate_schema: bool = True, **kwargs: object
    ) -> Runtime:
        """Open the database; migrate it, or (`migrate_schema=False`) only check that its
        schema is current, raising `SchemaNotReady` when it is not."""
        engine = make_engine(database_url)
        try:
            if migrate_schema:
                migrate(engine)
            else:
                check_schema(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(config, engine, **kwargs)  # type: ignore[arg-type]

    def start(self) -> None:
        if self.started:
            return
        self.committer.start()
        if self.start_worker:
            self.worker.start()
            self.external.start()
            _refresh_feeds_soon(self.config)
        self.started = True

    def stop(self) -> None:
        if not self.started:
            return
        self.committer.stop()
        self.worker.stop()
        self.external.stop()
        self.started = False

    def _scrub(self, payload: dict[str, Any]) -> dict[str, Any]:
        masked, counts = redact_document(payload, self.redactor)
        if counts:  # upstream redaction let it through: say which kinds, never the text
            log.warning("sink payload: masked %s before the call", dict(sorted(counts.items())))
        return masked if isinstance(masked, dict) else payload

    def _attempted(self, item: OutboxItem, result: SinkResult) -> None:
        self.telemetry.sink_attempts.labels(item.sink, result.outcome).inc()
        if result.outcome == "ok":
            self.telemetry.tickets.labels(item.sink, item.action).inc()
            log_action(item, result)  # external sinks: called once the outcome is recorded

    def _committed(self, applied: list[tuple[OutboxItem, SinkResult]]) -> None:
        for item, result in applied:  # transactional sinks: once their transaction committed
            log_action(item, result)

    def _applied(self, item: OutboxItem, now: datetime) -> None:
        # The round that applied a built-in action usually enqueued its external ones.
        self.external.wake()
        self.telemetry.tickets.labels(item.sink, item.action).inc()
        if item.action == "open" and item.payload.get("owner_fallback"):
            source = str(item.payload.get("owner_source") or "none")
            self.telemetry.unowned_tickets.labels(source).inc()
        if item.action == "open" and "first_received_at" in item.payload:
            first = datetime.fromisoformat(str(item.payload["first_received_at"]))
            latency = (self.clock.now() - first).total_seconds()
            self.telemetry.event_to_ticket.observe(max(0.0, latency))


def _release_reader(config: Config, client: httpx.Client | None) -> PrometheusReader | None:
    settings = config.releases.prometheus
    if settings is None:
        return None
    # Unset variables were refused when the config was checked (checks.py).
    return PrometheusReader(settings, config.releases.slis, client, os.environ)


def _refresh_feeds_soon(config: Config) -> None:
    """Read the on-call iCalendar feeds in the background: a slow or unreachable URL
    never holds up the start; until it answers, the cached copy is used."""
    if any(layer.ical for schedule in config.schedules.values() for layer in schedule.layers):
        threading.Thread(
            target=refresh_feeds, args=(config,), name="oncall-feeds", daemon=True
        ).start()
