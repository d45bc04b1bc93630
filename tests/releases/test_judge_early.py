"""releases/early.py: fail early only on decisive evidence, pass only after the window.

The worked release: before [7..13] (mean 10), after [17..23] (mean 20), ratio 2.
Every after value is larger, so U = 49 and p(greater) = 1/C(14, 7) = 1/3432 =
0.000291. The null counts of U for n = m = 7 start 1 1 2 3 5 7 11 15 (the
partitions of u), cumulative 1 2 4 7 12 19 30 45; alpha/2 = 1% of 3432 is
34.32, and P(U <= 6) = 30/3432 fits under it while P(U <= 7) = 45/3432 does
not, so k = 7. The 49 differences run 4..16 with counts
1 2 3 4 5 6 7 6 5 4 3 2 1: D(7) = 7 and D(43) = 13, the interval is [7, 13].
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from autoticket.releases.early import EarlyDecision, is_decisive, judge_early
from autoticket.releases.judge import MetricSamples, judge
from autoticket.releases.results import Verdict
from autoticket.releases.settings import ReleaseSettings

BEFORE = [7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0]
AFTER = [17.0, 18.0, 19.0, 20.0, 21.0, 22.0, 23.0]
RELEASE = [MetricSamples("api_latency_seconds", BEFORE, AFTER)]
STEADY = [MetricSamples("api_latency_seconds", BEFORE, list(BEFORE))]
LONG_AGO = timedelta(hours=1)


def _settings(critical_increase: float = 1.5, **early: object) -> ReleaseSettings:
    return ReleaseSettings.model_validate(
        {
            "metrics": {"api_latency_seconds": {"critical_increase": critical_increase}},
            "early": {"min_samples": 7, "min_window": "10m", **early},
        }
    )


def test_the_worked_release_matches_the_hand_computation() -> None:
    test = judge(RELEASE).metrics[0].test
    assert test is not None
    assert (test.low, test.high, test.u) == (7.0, 13.0, 49.0)
    assert test.p_greater == pytest.approx(1 / 3432)


def test_fails_early_when_the_interval_is_past_the_critical_ratio() -> None:
    """critical x1.69 as a shift: 0.69 * 10 = 6.9 < 7, the interval's low end."""
    call = judge_early(RELEASE, _settings(1.69), elapsed=timedelta(minutes=1))
    assert call.decision is EarlyDecision.FAIL
    assert call.reason == "decisive: api_latency_seconds"


def test_waits_when_the_interval_only_reaches_the_critical_ratio() -> None:
    """critical x1.7: 0.7 * 10 = 7, and the low end 7 is not past it."""
    call = judge_early(RELEASE, _settings(1.7), elapsed=timedelta(minutes=1))
    assert call.decision is EarlyDecision.WAIT
    assert call.judgement.verdict is Verdict.FAIL


def test_waits_when_the_p_value_is_not_below_the_early_alpha() -> None:
    """p = 0.000291 is not below alpha 0.0002."""
    call = judge_early(RELEASE, _settings(alpha=0.0002), elapsed=timedelta(minutes=1))
    assert call.decision is EarlyDecision.WAIT
    assert call.reason == "failing so far, but no metric is decisive yet"


def test_a_passing_metric_is_never_decisive() -> None:
    result = judge(STEADY).metrics[0]
    assert not is_decisive(result, alpha=0.5)


def test_passes_at_the_end_of_the_window_with_enough_samples() -> None:
    call = judge_early(STEADY, _settings(), elapsed=timedelta(minutes=10))
    assert call.decision is EarlyDecision.PASS


def test_a_pass_waits_for_the_window() -> None:
    call = judge_early(STEADY, _settings(), elapsed=timedelta(minutes=9, seconds=59))
    assert call.decision is EarlyDecision.WAIT
    assert call.reason == "passing so far; only 0:09:59 of the 0:10:00 window"


def test_a_pass_waits_for_enough_samples_after_the_release() -> None:
    call = judge_early(STEADY, _settings(min_samples=8), elapsed=LONG_AGO)
    assert call.decision is EarlyDecision.WAIT
    assert call.reason == "passing so far; api_latency_seconds has 7 of 8 samples after"


def test_no_data_waits() -> None:
    call = judge_early([MetricSamples("m", [], [])], _settings(), elapsed=LONG_AGO)
    assert (call.decision, call.reason) == (EarlyDecision.WAIT, "no_data so far")


def test_a_pass_margin_holds_a_pass_whose_interval_reaches_past_it() -> None:
    """STEADY's differences run -6..6; its 98% interval reaches +4, 40% of the mean 10."""
    test = judge(STEADY).metrics[0].test
    assert test is not None and test.high == 4.0
    held = judge_early(STEADY, _settings(pass_margin=0.39), elapsed=LONG_AGO)
    assert held.decision is EarlyDecision.WAIT
    assert "may still be worse by 4, more than the 39% margin (3.9)" in held.reason
    passed = judge_early(STEADY, _settings(pass_margin=0.4), elapsed=LONG_AGO)
    assert passed.decision is EarlyDecision.PASS
