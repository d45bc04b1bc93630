"""The one place the pipeline is composed and timed.

`build_pipeline(config)` composes the stages; `Pipeline.prepare` and
`Pipeline.resolve` pass a batch through them and return what they made.
They write nothing:
the engine's round (engine/round.py) owns the transaction and persists the
result, the same way live and in replay.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from autoticket.config import Config
from autoticket.model import Decision, Delivery, Event
from autoticket.pipeline.base import Batch, Context, Stage
from autoticket.pipeline.correlate import CorrelateStage
from autoticket.pipeline.decide import DecideStage
from autoticket.pipeline.enrich import EnrichStage
from autoticket.pipeline.normalize import NormalizeStage
from autoticket.pipeline.redact import RedactStage
from autoticket.pipeline.route import RouteStage
from autoticket.policy import RouteTable
from autoticket.telemetry import Telemetry

__all__ = ["Pipeline", "PipelineResult", "build_pipeline"]


@dataclass(slots=True)
class PipelineResult:
    batch: Batch
    decisions: list[Decision] = field(default_factory=list)
    stage_seconds: dict[str, float] = field(default_factory=dict)


class Pipeline:
    """Stages in two parts: `prepare` (per event, no state: normalize .. route) and
    `resolve` (on stored state, in time order: correlate, decide).

    The engine's round prepares a batch once and resolves it in time
    segments, firing timers that fall due between them (engine/round.py).
    """

    def __init__(
        self,
        config: Config,
        prepare: list[Stage],
        resolve: list[Stage],
        telemetry: Telemetry | None = None,
    ) -> None:
        self.config = config
        self.prepare_stages = prepare
        self.resolve_stages = resolve
        self.telemetry = telemetry

    def prepare(self, deliveries: list[Delivery], ctx: Context) -> PipelineResult:
        """Parse, redact, enrich and route a batch; stop once no event is left."""
        result = PipelineResult(Batch(deliveries=deliveries))
        for stage in self.prepare_stages:
            result.batch = self._timed(stage, result.batch, ctx, result)
            if not result.batch.events:
                break
        return result

    def resolve(self, result: PipelineResult, events: list[Event], ctx: Context) -> Batch:
        """Correlate and decide `events` (a time-ordered part of `result`'s events).

        Returns this part's batch; its changes and verdicts are also added to
        `result.batch`.
        """
        part = replace(result.batch, events=events, changes=[], verdicts=[], merged={})
        for stage in self.resolve_stages:
            part = self._timed(stage, part, ctx, result)
            if not part.events and not part.changes:
                break
        result.batch.changes.extend(part.changes)
        result.batch.verdicts.extend(part.verdicts)
        merged = result.batch.merged
        for mechanism, n in part.merged.items():
            merged[mechanism] = merged.get(mechanism, 0) + n
        return part

    def _timed(self, stage: Stage, batch: Batch, ctx: Context, result: PipelineResult) -> Batch:
        started = time.perf_counter()
        out = stage.run(batch, ctx)
        elapsed = time.perf_counter() - started
        result.stage_seconds[stage.name] = result.stage_seconds.get(stage.name, 0.0) + elapsed
        if self.telemetry is not None:
            self.telemetry.stage_seconds.labels(stage.name).observe(elapsed)
        result.decisions.extend(out.decisions)
        return out.batch


def build_pipeline(config: Config, telemetry: Telemetry | None = None) -> Pipeline:
    prepare: list[Stage] = [
        NormalizeStage(),
        RedactStage(config.redaction),
        EnrichStage(config.catalog),
        RouteStage(RouteTable.from_config(config)),
    ]
    resolve: list[Stage] = [CorrelateStage(config), DecideStage(config)]
    return Pipeline(config, prepare, resolve, telemetry)
