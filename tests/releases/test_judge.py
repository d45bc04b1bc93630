"""releases/judge.py: validate -> transform -> describe -> classify, one behaviour each.

Two worked samples carry the classification tests:

- RISE: before [8..12] (mean 10), after [13..17] (mean 15): ratio 1.5. The
  25 differences are 1..9 (counts 1 2 3 4 5 4 3 2 1), no ties, so the exact
  98% interval is [D(2), D(24)] = [2, 8] (k = 2: P(U <= 1) = 2/252 <= 0.01).
- FALL: before [8..12] (mean 10), after [3..7] (mean 5): ratio 0.5, the
  differences are -9..-1 and the interval is [-8, -2].
"""

from __future__ import annotations

import json
import math

import pytest

from autoticket.releases.directions import Direction
from autoticket.releases.judge import (
    Cleaned,
    MetricSamples,
    classify,
    describe,
    effect_ratio,
    iqr_fences,
    judge,
    judge_metric,
    transform,
    validate,
)
from autoticket.releases.results import Classification, MetricResult, Verdict
from autoticket.releases.settings import MetricSpec, ReleaseSettings
from autoticket.releases.stats import ShiftTest

BEFORE = [8.0, 9.0, 10.0, 11.0, 12.0]
RISE = [13.0, 14.0, 15.0, 16.0, 17.0]
FALL = [3.0, 4.0, 5.0, 6.0, 7.0]


def _settings(name: str, **spec: object) -> ReleaseSettings:
    return ReleaseSettings.model_validate({"metrics": {name: spec}})


def _one(name: str, after: list[float], **spec: object) -> MetricResult:
    return judge_metric(MetricSamples(name, BEFORE, after), _settings(name, **spec))


def _test(low: float, high: float) -> ShiftTest:
    """A made-up test result: only the interval matters to classify()."""
    return ShiftTest(1.0, 0.01, 0.005, 0.995, (low + high) / 2, low, high, 0.98, 0.98, "exact")


# validate


def test_no_samples_before_is_no_data() -> None:
    assert validate([], [1.0]) == "no samples before the release"


def test_only_nan_after_is_no_data() -> None:
    assert validate([1.0], [math.nan, math.nan]) == "every sample after the release is NaN"


def test_samples_on_both_sides_are_valid() -> None:
    assert validate([1.0], [math.nan, 2.0]) is None


# transform


def test_nan_and_infinities_are_dropped_and_counted() -> None:
    cleaned = transform([1.0, math.nan, 2.0, math.inf], remove_outliers=False, iqr_factor=3.0)
    assert cleaned == Cleaned([1.0, 2.0], dropped_missing=2, dropped_outliers=0)


def test_iqr_fences_from_linear_quartiles() -> None:
    """[1, 2, 3, 4, 100]: Q1 at position 4 * 0.25 = 1 -> 2, Q3 at 3 -> 4; IQR 2.

    Fences: 2 - 3*2 = -4 and 4 + 3*2 = 10.
    """
    assert iqr_fences([1.0, 2.0, 3.0, 4.0, 100.0], 3.0) == (-4.0, 10.0)


def test_a_value_on_the_fence_is_kept_and_one_past_it_is_dropped() -> None:
    on_fence = transform([1.0, 2.0, 3.0, 4.0, 10.0], remove_outliers=True, iqr_factor=3.0)
    past = transform([1.0, 2.0, 3.0, 4.0, 10.5], remove_outliers=True, iqr_factor=3.0)
    assert on_fence.values == [1.0, 2.0, 3.0, 4.0, 10.0]
    assert past == Cleaned([1.0, 2.0, 3.0, 4.0], dropped_missing=0, dropped_outliers=1)


def test_outliers_stay_unless_asked_for() -> None:
    cleaned = transform([1.0, 2.0, 3.0, 4.0, 100.0], remove_outliers=False, iqr_factor=3.0)
    assert cleaned.dropped_outliers == 0


def test_a_zero_iqr_removes_nothing() -> None:
    """A mostly-zero error ratio: Q1 = Q3 = 0, so every error would be an 'outlier'."""
    cleaned = transform([0.0, 0.0, 0.0, 0.0, 0.5], remove_outliers=True, iqr_factor=3.0)
    assert cleaned.values == [0.0, 0.0, 0.0, 0.0, 0.5]


def test_outlier_removal_is_applied_per_metric_spec() -> None:
    after = [*RISE, 1000.0]  # Q1 14.25, Q3 16.75 (positions 1.25, 3.75): upper fence 24.25
    result = _one("m", after, remove_outliers=True)
    assert result.after is not None
    assert (result.after.count, result.after.dropped_outliers) == (5, 1)


# describe and effect size


def test_describe_counts_and_centres_each_side() -> None:
    stats = describe(Cleaned([1.0, 2.0, 3.0, 10.0], dropped_missing=1, dropped_outliers=0))
    assert (stats.count, stats.mean, stats.median, stats.dropped_missing) == (4, 4.0, 2.5, 1)


def test_effect_is_the_ratio_of_means() -> None:
    assert effect_ratio(10.0, 15.0) == 1.5


def test_effect_from_zero_to_zero_is_no_change() -> None:
    assert effect_ratio(0.0, 0.0) == 1.0


def test_effect_from_zero_to_something_is_infinite() -> None:
    assert effect_ratio(0.0, 0.2) == math.inf


# classify at each edge


def test_an_interval_touching_zero_is_no_significant_change() -> None:
    label, reason, _ = classify(Direction.EITHER, MetricSpec(), _test(0.0, 4.0), 2.0)
    assert label is Classification.PASS
    assert "no significant change" in reason


def test_a_rise_at_the_allowed_ratio_passes() -> None:
    spec = MetricSpec(allowed_increase=1.5)
    label, reason, _ = classify(Direction.HIGHER_IS_WORSE, spec, _test(2.0, 8.0), 1.5)
    assert label is Classification.PASS
    assert "within the allowed x1.5" in reason


def test_a_rise_past_the_allowed_ratio_is_high() -> None:
    spec = MetricSpec(allowed_increase=1.49)
    label, _, _ = classify(Direction.HIGHER_IS_WORSE, spec, _test(2.0, 8.0), 1.5)
    assert label is Classification.HIGH


def test_a_rise_at_the_critical_ratio_is_beyond_critical() -> None:
    spec = MetricSpec(critical=True, critical_increase=1.5)
    _, reason, beyond = classify(Direction.HIGHER_IS_WORSE, spec, _test(2.0, 8.0), 1.5)
    assert beyond
    assert "at or past the critical x1.5" in reason


def test_a_rise_short_of_the_critical_ratio_is_not_beyond_critical() -> None:
    spec = MetricSpec(critical_increase=1.51)
    label, _, beyond = classify(Direction.HIGHER_IS_WORSE, spec, _test(2.0, 8.0), 1.5)
    assert (label, beyond) == (Classification.HIGH, False)


def test_a_fall_at_the_allowed_ratio_passes() -> None:
    spec = MetricSpec(allowed_decrease=0.5)
    label, _, _ = classify(Direction.LOWER_IS_WORSE, spec, _test(-8.0, -2.0), 0.5)
    assert label is Classification.PASS


def test_a_fall_past_the_allowed_ratio_is_low() -> None:
    spec = MetricSpec(allowed_decrease=0.51)
    label, _, beyond = classify(Direction.LOWER_IS_WORSE, spec, _test(-8.0, -2.0), 0.5)
    assert (label, beyond) == (Classification.LOW, True)  # critical defaults to allowed


def test_a_fall_short_of_the_critical_ratio_is_not_beyond_critical() -> None:
    spec = MetricSpec(critical_decrease=0.49)
    _, _, beyond = classify(Direction.LOWER_IS_WORSE, spec, _test(-8.0, -2.0), 0.5)
    assert not beyond


def test_a_rise_of_a_lower_is_worse_metric_is_an_improvement() -> None:
    label, reason, _ = classify(Direction.LOWER_IS_WORSE, MetricSpec(), _test(2.0, 8.0), 1.5)
    assert label is Classification.PASS
    assert "better" in reason


# the chain on real samples


def test_a_worked_rise_is_high_with_both_sides_kept() -> None:
    result = _one("api_error_ratio", RISE)
    assert result.classification is Classification.HIGH
    assert result.test is not None
    assert (result.test.low, result.test.estimate, result.test.high) == (2.0, 5.0, 8.0)
    assert result.ratio == 1.5
    assert result.before is not None and result.after is not None
    assert (result.before.mean, result.after.mean) == (10.0, 15.0)


def test_a_significant_but_tiny_rise_passes() -> None:
    """RISE is significant, yet a 50% rise is allowed here."""
    assert _one("api_error_ratio", RISE, allowed_increase=1.5).classification is Classification.PASS


def test_either_direction_fails_a_large_fall() -> None:
    assert _one("queue_depth", FALL).classification is Classification.LOW


def test_higher_is_worse_passes_a_fall() -> None:
    assert _one("api_latency_seconds", FALL).classification is Classification.PASS


def test_too_few_samples_after_cleaning_is_no_data() -> None:
    result = _one("m", [13.0, math.nan, 14.0, 15.0, 16.0])
    assert result.classification is Classification.NO_DATA
    assert result.reason == "too few samples after the release: 4 < 5"
    assert result.after is not None and result.after.dropped_missing == 1


def test_identical_samples_pass() -> None:
    assert _one("m", list(BEFORE)).classification is Classification.PASS


def test_the_judgement_is_plain_json() -> None:
    judgement = judge([MetricSamples("api_error_ratio", BEFORE, RISE)])
    text = json.dumps(judgement.to_dict(), allow_nan=False)
    assert json.loads(text)["metrics"][0]["test"]["interval"] == [2.0, 8.0]
    assert judgement.verdict is Verdict.FAIL


def test_a_metric_with_an_empty_side_is_no_data_in_the_judgement() -> None:
    judgement = judge([MetricSamples("m", [], RISE)])
    assert judgement.verdict is Verdict.NO_DATA
    assert judgement.metrics[0].reason == "no samples before the release"


@pytest.mark.parametrize("after", [[], [math.nan]])
def test_judge_without_settings_uses_the_defaults(after: list[float]) -> None:
    assert judge([MetricSamples("m", BEFORE, after)]).verdict is Verdict.NO_DATA
