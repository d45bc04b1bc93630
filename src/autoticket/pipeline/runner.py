"""The one place the pipeline is composed and timed.

`build_pipeline(config)` composes the stages; `Pipeline.run` passes a batch
of deliveries through them and returns what they made. It writes nothing:
the engine's round (engine/round.py) owns the transaction and persists the
result, the same way live and in replay.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

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
from autoticket.telemetry import Telemetry

__all__ = ["Pipeline", "PipelineResult", "build_pipeline"]


@dataclass(slots=True)
class PipelineResult:
    batch: Batch
    decisions: list[Decision] = field(default_factory=list)
    stage_seconds: dict[str, float] = field(default_factory=dict)


class Pipeline:
    def __init__(self, config: Config, stages: list[Stage], telemetry: Telemetry | None) -> None:
        self.config = config
        self.stages = stages
        self.telemetry = telemetry

    def run(self, deliveries: list[Delivery], ctx: Context) -> PipelineResult:
        """Run the stages in order; stop once nothing is left for the next one."""
        result = PipelineResult(Batch(deliveries=deliveries))
        for stage in self.stages:
            started = time.perf_counter()
            out = stage.run(result.batch, ctx)
            elapsed = time.perf_counter() - started
            result.stage_seconds[stage.name] = elapsed
            if self.telemetry is not None:
                self.telemetry.stage_seconds.labels(stage.name).observe(elapsed)
            result.decisions.extend(out.decisions)
            result.batch = out.batch
            if not result.batch.events and not result.batch.changes:
                break
        return result


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
