"""Replay output does not depend on the batch size, even when timers fall due mid-stream.

The streams are generated so that resolve timers (resolve_after) and reopen
windows (reopen_within) end between lines that a large batch would otherwise
take together: replay must cut the batch there and fire the timer first.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoticket.config import Config
from autoticket.replay import replay
from conftest import am_alert, am_payload

T0 = datetime(2026, 1, 5, 10, 0, 0)
BATCH_SIZES = (1, 7, 200)
# Steps between lines: short ones keep lines in one batch, the others cross
# resolve_after (5 min) and reopen_within (1 h) in both directions.
STEPS = (10, 30, 60, 120, 240, 290, 300, 310, 360, 600, 1800, 3590, 3600, 3610, 7200)


def _ts(t: datetime) -> str:
    return t.isoformat() + "Z"


def _line(line_id: str, at: datetime, body: object) -> bytes:
    return orjson.dumps(
        {
            "id": line_id,
            "source": "alertmanager",
            "received_at": _ts(at),
            "headers": {"content-type": "application/json"},
            "body": body,
        }
    )


def _stream(seed: int, length: int = 40, groups: int = 3) -> list[bytes]:
    """Firing, resolving and firing again, for several groups interleaved.

    Each group follows Alertmanager's rules: an episode keeps its `startsAt`
    while it fires (repeats), a resolution carries `endsAt`, and firing again
    later is a new episode with a later `startsAt`.
    """
    rng = random.Random(seed)
    now = T0
    # per group: (firing?, startsAt, endsAt) of its current episode, None before the first
    state: dict[int, tuple[bool, datetime, datetime] | None] = dict.fromkeys(range(groups))
    lines: list[bytes] = []
    for n in range(length):
        now += timedelta(seconds=rng.choice(STEPS))
        g = rng.randrange(groups)
        current = state[g]
        fire = current is None or rng.random() < 0.5
        if fire:
            if current is None or not current[0]:
                current = (True, now - timedelta(seconds=1), now)  # a new episode
            alert = am_alert(alertname=f"G{g}", starts_at=_ts(current[1]))
        else:
            assert current is not None
            if current[0]:
                current = (False, current[1], now - timedelta(seconds=1))
            alert = am_alert(
                alertname=f"G{g}",
                status="resolved",
                starts_at=_ts(current[1]),
                ends_at=_ts(current[2]),
            )
        state[g] = current
        lines.append(_line(f"L{n:03d}", now, am_payload(alert)))
    return lines


def _outputs(lines: list[bytes], config: Config) -> dict[int, str]:
    return {
        b: json.dumps(replay(iter(lines), config, batch_size=b).output, sort_keys=True)
        for b in BATCH_SIZES
    }


def test_generated_streams_exercise_reopen_and_resolve(config: Config) -> None:
    """Guards the generator: its streams do reach the timer paths the property is about."""
    reopened = resolved = 0
    for seed in range(5):
        out = replay(iter(_stream(seed)), config, batch_size=1).output
        assert out["errors"] == []
        reopened += sum(t["reopen_count"] for t in out["tickets"])
        resolved += sum(t["status"] == "resolved" for t in out["tickets"])
    assert reopened > 0 and resolved > 0


# `config` is read only, so sharing it across examples is safe.
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_output_is_identical_for_every_batch_size(config: Config, seed: int) -> None:
    lines = _stream(seed)
    outputs = _outputs(lines, config)
    reference = json.loads(outputs[1])
    assert reference["errors"] == []
    assert len(reference["tickets"]) >= 1
    for size, out in outputs.items():
        assert out == outputs[1], f"batch size {size} differs from batch size 1 (seed {seed})"


def test_a_timer_due_inside_a_batch_fires_before_the_next_line(config: Config) -> None:
    """A resolve timer set before a batch falls due in the middle of it.

    Line 3 starts a batch (it is resolve_after after line 1); A's timer is due
    at 10:06, and line 4 at 10:07 fires A again: only if the batch is cut and
    the timer fires first is that a reopen of a resolved incident.
    """
    a_firing = am_alert(alertname="A", starts_at="2026-01-05T09:59:00Z")
    a_resolved = am_alert(
        alertname="A",
        status="resolved",
        starts_at="2026-01-05T09:59:00Z",
        ends_at="2026-01-05T10:00:50Z",
    )
    a_again = am_alert(alertname="A", starts_at="2026-01-05T10:06:30Z")
    lines = [
        _line("1", T0, am_payload(a_firing)),
        _line("2", T0 + timedelta(minutes=1), am_payload(a_resolved)),
        _line("3", T0 + timedelta(minutes=5), am_payload(am_alert(alertname="B"))),
        _line("4", T0 + timedelta(minutes=7), am_payload(a_again)),
    ]
    for size in BATCH_SIZES:
        out = replay(iter(lines), config, batch_size=size).output
        [a] = [t for t in out["tickets"] if t["line_ids"][0] == "1"]
        assert a["reopen_count"] == 1, size
        assert a["line_ids"] == ["1", "2", "4"], size
        assert a["status"] == "open", size
