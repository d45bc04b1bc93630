"""releases/control.py and the judge's use of it: the fleet as a control, on hand-checked numbers.

The worked samples of test_judge.py carry over: before [8..12] (mean 10),
RISE [13..17] (mean 15): exact 98% interval [2, 8], ratio 1.5.

Every value is divided by the fleet index at its time.

- The whole fleet doubled (index 1 before, 2 after) and so did the service,
  after = 2 x BEFORE = [16..24]: relative to the fleet it is BEFORE again,
  ratio exactly 1, and it passes where the raw samples fail (x2).
- The fleet doubled and the service rose 3x, after = 2 x RISE = [26..34]:
  relative to the fleet it is RISE, so the interval is [2, 8] and the ratio
  1.5 (the release's own part), not 3.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from autoticket.model import Release
from autoticket.releases.control import MIN_SERVICES, Control, dependants_of, fleet_index
from autoticket.releases.evaluate import evaluate
from autoticket.releases.judge import MetricSamples, against_control, judge, judge_metric
from autoticket.releases.results import Classification, Verdict
from autoticket.releases.settings import ReleaseSettings

BEFORE = [8.0, 9.0, 10.0, 11.0, 12.0]
RISE = [13.0, 14.0, 15.0, 16.0, 17.0]
DOUBLED = Control(services=4, before=[1.0] * 5, after=[2.0] * 5)
NAME = "checkout_error_ratio"  # higher is worse
T = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _minutes(*values: float, first: int) -> list[tuple[datetime, float]]:
    return [(T + timedelta(minutes=first + i), v) for i, v in enumerate(values)]


def test_the_fleet_index_is_the_median_of_each_service_over_its_own_baseline() -> None:
    # A: baseline mean 2 -> 0.5, 1.5 | 2.0, 1.0; B: mean 10 -> 1, 1 | 1, 3;
    # C: mean 4 -> 0.5, 1.5 | 2.0, 1.0. Medians: 0.5, 1.5 | 2.0, 1.0.
    others = [
        _minutes(1.0, 3.0, 4.0, 2.0, first=-2),
        _minutes(10.0, 10.0, 10.0, 30.0, first=-2),
        _minutes(2.0, 6.0, 8.0, 4.0, first=-2),
        _minutes(0.0, 0.0, 5.0, 5.0, first=-2),  # baseline mean 0: no level, left out
    ]
    index = fleet_index(others, T - timedelta(minutes=30), T)
    assert index is not None
    assert index.services == 3
    got = [index.at(T + timedelta(minutes=m, seconds=20)) for m in (-2, -1, 0, 1)]
    assert got == [0.5, 1.5, 2.0, 1.0]
    assert math.isnan(index.at(T + timedelta(minutes=5)))


def test_fewer_than_the_minimum_services_is_no_control() -> None:
    others = [_minutes(1.0, 2.0, first=-1)] * (MIN_SERVICES - 1)
    assert fleet_index(others, T - timedelta(minutes=30), T) is None


def test_a_move_the_whole_fleet_shared_passes_relative_to_it() -> None:
    after = [2.0 * v for v in BEFORE]
    raw = judge_metric(MetricSamples(NAME, BEFORE, after), ReleaseSettings())
    assert raw.classification is Classification.HIGH and raw.ratio == 2.0

    result = judge_metric(MetricSamples(NAME, BEFORE, after, DOUBLED), ReleaseSettings())
    assert result.classification is Classification.PASS
    assert result.ratio == 1.0
    assert result.control is not None and result.control.used and result.control.moved
    assert result.control.fleet_ratio == 2.0
    assert result.control.test is not None
    assert (result.control.test.low, result.control.test.high) == (1.0, 1.0)
    assert "judged relative to the fleet (4 other services), which moved x2" in result.reason
    evidence = result.to_dict()["control"]
    assert evidence["kind"] == "fleet" and evidence["services"] == 4 and evidence["used"]


def test_the_release_s_own_part_is_judged_when_it_moved_more_than_the_fleet() -> None:
    after = [2.0 * v for v in RISE]
    result = judge_metric(MetricSamples(NAME, BEFORE, after, DOUBLED), ReleaseSettings())
    assert result.classification is Classification.HIGH
    assert result.ratio == 1.5
    assert result.test is not None and result.test.method == "exact"
    assert (result.test.low, result.test.high) == (2.0, 8.0)
    verdict = judge([MetricSamples(NAME, BEFORE, after, DOUBLED)])
    assert verdict.verdict is Verdict.FAIL


def test_a_steady_fleet_changes_nothing_and_the_evidence_says_it_held() -> None:
    """Index 1 on both sides: every value over 1 is itself; all index differences are 0."""
    steady = Control(4, [1.0] * 5, [1.0] * 5)
    before, after, use = against_control(
        MetricSamples(NAME, BEFORE, RISE, steady), ReleaseSettings()
    )
    assert (list(before), list(after)) == (BEFORE, RISE)
    assert use is not None and use.used and not use.moved
    assert use.fleet_ratio == 1.0
    assert "which held steady (x1, 98% interval [+0, +0])" in use.reason
    result = judge_metric(MetricSamples(NAME, BEFORE, RISE, steady), ReleaseSettings())
    assert result.ratio == 1.5 and result.classification is Classification.HIGH
    assert result.test is not None and (result.test.low, result.test.high) == (2.0, 8.0)


def test_a_wobbling_fleet_is_divided_out_sample_by_sample() -> None:
    """Index [1, 0.5, 2, 1, 1] before, [1, 1, 1, 1, 0.5] after: 9/0.5, 10/2 and 17/0.5."""
    wobble = Control(4, [1.0, 0.5, 2.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0, 0.5])
    before, after, _ = against_control(MetricSamples(NAME, BEFORE, RISE, wobble), ReleaseSettings())
    assert list(before) == [8.0, 18.0, 5.0, 11.0, 12.0]
    assert list(after) == [13.0, 14.0, 15.0, 16.0, 34.0]


def test_a_fleet_with_too_few_samples_is_not_used() -> None:
    thin = Control(4, [1.0, 1.0, math.nan, math.nan, math.nan], [2.0] * 5)
    _, _, use = against_control(MetricSamples(NAME, BEFORE, RISE, thin), ReleaseSettings())
    assert use is not None and not use.used and "too few samples" in use.reason


def test_a_sample_without_an_index_is_dropped_and_counted() -> None:
    gappy = Control(4, [1.0] * 5, [2.0, 2.0, 2.0, 2.0, 2.0, math.nan])
    after = [2.0 * v for v in RISE] + [99.0]
    result = judge_metric(MetricSamples(NAME, BEFORE, after, gappy), ReleaseSettings())
    assert result.after is not None
    assert result.after.count == 5 and result.after.dropped_missing == 1
    assert result.ratio == 1.5


def test_the_control_needs_one_index_value_per_sample() -> None:
    short = Control(4, [1.0] * 5, [2.0] * 6)
    with pytest.raises(ValueError):
        judge_metric(MetricSamples(NAME, BEFORE, RISE, short), ReleaseSettings())


def test_evaluate_does_not_fail_a_release_for_a_fleet_wide_dip() -> None:
    """Every service's error ratio doubles 2 minutes after a harmless release."""

    def series(service_level: float, wobble: int) -> list[tuple[datetime, float]]:
        points = []
        for m in range(-30, 30):
            dip = 2.0 if m >= 2 else 1.0
            noise = 1.0 + 0.05 * (((m * 7 + wobble) % 11) - 5) / 5
            points.append((T + timedelta(minutes=m), service_level * dip * noise))
        return points

    release = Release(service="checkout", environment="prod", version="v1", started_at=T)
    mine = [(NAME, NAME, series(0.01, 0))]
    fleet = {NAME: [series(level, w) for w, level in enumerate((0.02, 0.005, 0.01, 0.03), 1)]}
    settings = ReleaseSettings()
    alone = evaluate(release, mine, settings, T + timedelta(hours=1))
    assert alone.verdict == "fail"
    controlled = evaluate(release, mine, settings, T + timedelta(hours=1), fleet=fleet)
    assert controlled.verdict == "pass"
    assert any("which moved x" in r for r in controlled.reasons)
    metric = controlled.metrics()[0]
    assert metric["control"]["used"] and metric["control"]["moved"]
    assert metric["control"]["services"] == 4


def test_services_that_depend_on_the_released_one_are_no_control_for_it() -> None:
    depends_on = {"web": ["api", "auth"], "mobile": ["api"], "api": ["db"]}
    assert dependants_of("api", depends_on) == {"web", "mobile"}
    assert dependants_of("search", depends_on) == set()
