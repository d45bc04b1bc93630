"""The dispatcher's per-sink settings: jittered capped backoff, attempts, rate limit,
circuit breaker — checked in config and honoured by the lane on both databases."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import Engine, select
from test_external_dispatch import enqueue, rows

from autoticket.clock import FixedClock
from autoticket.config import parse_config_text
from autoticket.sinks import Sink, build_sinks, check_sinks
from autoticket.sinks.dispatch import jittered_backoff, parse_rate
from autoticket.sinks.external import Lane
from autoticket.sinks.guard import Breaker, TokenBucket
from autoticket.store.tables import outbox

BASE = 'url: "https://hooks.example/t", secret_env: S'


def hook(extra: str, handler: httpx.MockTransport) -> Sink:
    text = f"sinks:\n  hook: {{type: webhook, {BASE}, {extra}}}\n"
    text += "routes: [{name: default, sinks: [builtin, hook]}]\n"
    sink = build_sinks(parse_config_text(text), httpx.Client(transport=handler), env={"S": "k"})
    assert isinstance(sink["hook"], Sink)
    return sink["hook"]


def always(status: int, seen: list[httpx.Request]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status)

    return httpx.MockTransport(handler)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("max_backoff: 0s", "sinks.hook.max_backoff: Value error, must be more than 0s"),
        ("max_attempts: 0", "sinks.hook.max_attempts: Input should be greater than or equal to 1"),
        ("rate_limit: lots", "rate_limit must look like 10/s, 600/m or 100/h, got 'lots'"),
        ("webhook_secret_env: NOPE", "environment variable NOPE is not set"),
        ("breaker_failures: -1", "sinks.hook.breaker_failures: Input should be greater"),
    ],
)
def test_dispatcher_settings_are_checked_with_the_field_named(extra: str, message: str) -> None:
    text = f"sinks:\n  hook: {{type: webhook, {BASE}, {extra}}}\n"
    problems = [str(p) for p in check_sinks(parse_config_text(text), {"S": "k"})]
    assert len(problems) == 1 and message in problems[0], problems
    assert problems[0].startswith("line 2: ")


def test_dispatcher_settings_are_refused_on_the_builtin_store() -> None:
    text = "sinks:\n  mine: {type: builtin, max_attempts: 3}\n"
    problems = [str(p) for p in check_sinks(parse_config_text(text), {})]
    assert any("apply to external sinks only" in p for p in problems), problems


def test_rates_read_per_second_minute_and_hour() -> None:
    assert [parse_rate(t) for t in ("10/s", "600/m", "36/h")] == [10.0, 10.0, 0.01]


@pytest.mark.parametrize("attempts", range(12))
def test_backoff_doubles_with_jitter_within_half_to_full_and_is_capped(attempts: int) -> None:
    cap = timedelta(seconds=30)
    full = min(30.0, 2.0**attempts)
    delays = {jittered_backoff(f"k{i}", attempts, cap).total_seconds() for i in range(20)}
    assert all(full / 2 <= d <= full for d in delays)
    assert len(delays) > 10, "different actions spread out"
    assert jittered_backoff("k1", attempts, cap) == jittered_backoff("k1", attempts, cap)


def test_after_max_attempts_the_action_is_parked_never_dropped(
    engine: Engine, t0: datetime
) -> None:
    enqueue(engine, t0, [(1, "open")])
    seen: list[httpx.Request] = []
    clock = FixedClock(t0)
    lane = Lane(engine, hook("max_attempts: 3, max_backoff: 2s", always(503, seen)), clock)
    for _ in range(3):
        assert lane.run_once() == 1
        clock.set(clock.now() + timedelta(seconds=2))  # the cap: always due again
    row = rows(engine)["1-open:hook"]
    assert (row.status, row.attempts, row.last_error) == (
        "failed",
        3,
        "HTTP 503 Service Unavailable",
    )
    assert lane.run_once() == 0 and len(seen) == 3


def test_the_rate_limit_hands_back_what_it_cannot_send_yet(engine: Engine, t0: datetime) -> None:
    enqueue(engine, t0, [(i, "open") for i in range(1, 6)])
    seen: list[httpx.Request] = []
    clock = FixedClock(t0)
    lane = Lane(engine, hook("rate_limit: 2/s", always(200, seen)), clock)
    assert lane.run_once() == 2, "a burst of 2"
    assert lane.run_once() == 0
    assert lane.pause() == pytest.approx(0.5)
    clock.set(t0 + timedelta(seconds=0.5))
    assert lane.run_once() == 1
    clock.set(t0 + timedelta(seconds=1.5))
    assert lane.run_once() == 2
    assert len(seen) == 5
    with engine.connect() as conn:
        claimed = conn.execute(select(outbox.c.claim_token).where(outbox.c.sink == "hook"))
        assert set(claimed.scalars()) == {None}


def test_the_breaker_opens_after_n_failures_probes_once_then_closes(
    engine: Engine, t0: datetime
) -> None:
    enqueue(engine, t0, [(i, "open") for i in range(1, 6)])
    status = [503]
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status[0])

    clock = FixedClock(t0)
    sink = hook("breaker_failures: 2, breaker_cooldown: 1m", httpx.MockTransport(handler))
    lane = Lane(engine, sink, clock)
    assert lane.run_once() == 2 and lane.breaker.state == "open"
    assert [r.headers["Idempotency-Key"] for r in seen] == ["1-open:hook", "2-open:hook"]
    clock.set(t0 + timedelta(seconds=59))
    assert lane.run_once() == 0, "open: nothing goes out during the cool-down"
    clock.set(t0 + timedelta(minutes=1))
    assert lane.run_once() == 1 and lane.breaker.state == "open", "the probe failed"
    clock.set(t0 + timedelta(minutes=2))
    status[0] = 200
    assert lane.run_once() == 1 and lane.breaker.state == "closed", "the probe went through"
    assert lane.run_once() == 4
    assert {r.status for r in rows(engine).values()} == {"done"}
    assert lane.breaker.transitions == 5  # open, half-open, open, half-open, closed


def test_breaker_and_bucket_alone(t0: datetime) -> None:
    breaker = Breaker("x", failures=3, cooldown=timedelta(seconds=10))
    for _ in range(2):
        breaker.failure(t0)
    breaker.success()
    for _ in range(2):
        breaker.failure(t0)
    assert breaker.state == "closed", "a success resets the streak"
    bucket = TokenBucket(1.0, t0)
    assert bucket.take(t0) and not bucket.take(t0)
    assert bucket.wait(t0) == timedelta(seconds=1)
