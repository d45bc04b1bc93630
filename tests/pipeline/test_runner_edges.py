"""The pipeline runner at its edges: where prepare stops, what each stage's time adds
up to, and resolving a part with no events."""

from __future__ import annotations

from datetime import datetime
from itertools import count

import orjson
import pytest
from sqlalchemy import Engine

from autoticket.config import Config
from autoticket.model import Delivery
from autoticket.pipeline import runner
from autoticket.pipeline.base import Context
from autoticket.pipeline.runner import build_pipeline
from autoticket.store.correlation_state import SqlCorrelationState
from autoticket.telemetry import Telemetry
from conftest import am_alert, am_payload


@pytest.fixture
def ticks(monkeypatch: pytest.MonkeyPatch) -> None:
    """`perf_counter` advances a quarter second per call: each stage takes 0.25 s."""
    clock = count()
    monkeypatch.setattr(runner.time, "perf_counter", lambda: next(clock) * 0.25)


def _delivery(name: str, at: datetime) -> Delivery:
    return Delivery(name, "alertmanager", at, orjson.dumps(am_payload(am_alert())), {})


def test_prepare_stops_at_the_first_stage_that_leaves_no_event(
    config: Config, t0: datetime, ticks: None
) -> None:
    pipeline = build_pipeline(config)
    result = pipeline.prepare([Delivery("bad", "generic", t0, b"{", {})], Context(t0, config))
    assert result.stage_seconds == {"normalize": 0.25}
    assert [d.delivery.id for d in result.batch.dead_letters] == ["bad"]


def test_each_stage_time_is_measured_added_up_and_observed(
    engine: Engine, config: Config, t0: datetime, ticks: None
) -> None:
    telemetry = Telemetry()
    pipeline = build_pipeline(config, telemetry)
    with engine.begin() as conn:
        ctx = Context(t0, config, SqlCorrelationState(conn))
        result = pipeline.prepare([_delivery("d0", t0)], ctx)
        events = result.batch.events
        pipeline.resolve(result, events, ctx)
        pipeline.resolve(result, events, ctx)  # a second segment adds to the same totals
    assert result.stage_seconds == {
        "normalize": 0.25,
        "redact": 0.25,
        "enrich": 0.25,
        "route": 0.25,
        "correlate": 0.5,
        "decide": 0.5,
    }
    value = telemetry.registry.get_sample_value
    assert value("autoticket_stage_duration_seconds_count", {"stage": "correlate"}) == 2
    assert value("autoticket_stage_duration_seconds_sum", {"stage": "correlate"}) == 0.5
    assert value("autoticket_stage_duration_seconds_sum", {"stage": "normalize"}) == 0.25


def test_resolving_no_events_adds_nothing(engine: Engine, config: Config, t0: datetime) -> None:
    pipeline = build_pipeline(config)
    with engine.begin() as conn:
        ctx = Context(t0, config, SqlCorrelationState(conn))
        result = pipeline.prepare([_delivery("d0", t0)], ctx)
        pipeline.resolve(result, result.batch.events, ctx)
        part = pipeline.resolve(result, [], ctx)
    assert (part.changes, part.verdicts) == ([], [])
    assert [c.kind for c in result.batch.changes] == ["opened"]
    assert [v.action for v in result.batch.verdicts] == ["open"]
