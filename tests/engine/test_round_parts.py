"""Small parts of the round, one behaviour each."""

from __future__ import annotations

from datetime import datetime, timedelta

from autoticket.engine.round import BatchOutcome, RoundOutcome, _soonest


def test_batch_outcomes_add_up_field_by_field() -> None:
    total = BatchOutcome(1, 2, 3, 4, 5, {"opened": 1}, {"redact": 0.5})
    total.add(BatchOutcome(10, 20, 30, 40, 50, {"opened": 2, "reopened": 1}, {"redact": 1.0}))
    total.add(BatchOutcome(stage_seconds={"decide": 0.25}))
    assert total == BatchOutcome(
        11, 22, 33, 44, 55, {"opened": 3, "reopened": 1}, {"redact": 1.5, "decide": 0.25}
    )


def test_a_round_is_idle_only_when_it_did_nothing() -> None:
    assert RoundOutcome().idle
    assert not RoundOutcome(fired=1).idle
    assert not RoundOutcome(applied=1).idle
    assert not RoundOutcome(batch=BatchOutcome()).idle


def test_soonest_of_two_times_either_of_which_may_be_unknown(t0: datetime) -> None:
    later = t0 + timedelta(seconds=1)
    assert _soonest(None, None) is None
    assert _soonest(t0, None) == t0
    assert _soonest(None, t0) == t0
    assert _soonest(t0, later) == t0
    assert _soonest(later, t0) == t0
    assert _soonest(t0, t0) == t0
