"""releases/scoring.py: weighted group and summary scores, critical metrics, verdicts."""

from __future__ import annotations

import pytest

from autoticket.releases.directions import Direction
from autoticket.releases.results import Classification, MetricResult, Verdict
from autoticket.releases.scoring import score, verdict_for
from autoticket.releases.settings import MetricSpec, ReleaseSettings, ScoreThresholds

PASS, HIGH, LOW, NO_DATA = (
    Classification.PASS,
    Classification.HIGH,
    Classification.LOW,
    Classification.NO_DATA,
)


def _m(
    name: str, label: Classification, beyond_critical: bool = False, **spec: object
) -> MetricResult:
    return MetricResult(
        name=name,
        direction=Direction.EITHER,
        spec=MetricSpec.model_validate(spec),
        classification=label,
        reason=f"{name} was {label.value}",
        beyond_critical=beyond_critical,
    )


def test_three_of_four_equal_metrics_passing_is_75_and_marginal() -> None:
    """100 * 3/4 = 75, exactly the marginal threshold."""
    judgement = score(
        [_m("a", PASS), _m("b", PASS), _m("c", PASS), _m("d", HIGH)], ReleaseSettings()
    )
    assert judgement.score == 75.0
    assert judgement.verdict is Verdict.MARGINAL


def test_metric_weights_count_inside_a_group() -> None:
    """Pass weight 3, high weight 1: 100 * 3 / (3 + 1) = 75."""
    judgement = score([_m("a", PASS, weight=3), _m("b", HIGH)], ReleaseSettings())
    assert judgement.score == 75.0


def test_group_weights_average_the_group_scores() -> None:
    """Group x: 1 pass, 1 low = 50 (weight 1); group y: 1 pass = 100 (weight 3).

    (1 * 50 + 3 * 100) / (1 + 3) = 87.5.
    """
    settings = ReleaseSettings(groups={"y": 3.0})
    results = [_m("a", PASS, group="x"), _m("b", LOW, group="x"), _m("c", PASS, group="y")]
    judgement = score(results, settings)
    assert [(g.name, g.score) for g in judgement.groups] == [("x", 50.0), ("y", 100.0)]
    assert judgement.score == 87.5
    assert judgement.verdict is Verdict.MARGINAL


def test_a_metric_without_data_neither_helps_nor_hurts() -> None:
    judgement = score([_m("a", PASS), _m("b", NO_DATA)], ReleaseSettings())
    assert (judgement.score, judgement.verdict) == (100.0, Verdict.PASS)
    assert judgement.groups[0].counts == {"pass": 1, "no_data": 1}


def test_a_group_without_data_is_left_out_of_the_summary() -> None:
    """Group y has only no-data metrics: the summary is group x's 100, not (100 + 0) / 2."""
    results = [_m("a", PASS, group="x"), _m("b", NO_DATA, group="y")]
    judgement = score(results, ReleaseSettings())
    assert judgement.groups[1].score is None
    assert judgement.score == 100.0


def test_a_zero_weight_metric_is_reported_but_not_scored() -> None:
    judgement = score([_m("a", PASS), _m("b", HIGH, weight=0)], ReleaseSettings())
    assert judgement.score == 100.0
    assert "b high: b was high" in judgement.reasons


def test_nothing_with_data_is_no_data() -> None:
    judgement = score([_m("a", NO_DATA), _m("b", NO_DATA)], ReleaseSettings())
    assert (judgement.verdict, judgement.score) == (Verdict.NO_DATA, 0.0)


def test_no_metrics_at_all_is_no_data() -> None:
    assert score([], ReleaseSettings()).verdict is Verdict.NO_DATA


def test_a_critical_failure_past_its_critical_ratio_fails_the_release() -> None:
    """Nine of ten pass (90, marginal by score) but the critical one failed: score 0."""
    results = [_m(f"ok{i}", PASS) for i in range(9)]
    results.append(_m("checkout_error_ratio", HIGH, beyond_critical=True, critical=True))
    judgement = score(results, ReleaseSettings())
    assert (judgement.verdict, judgement.score) == (Verdict.FAIL, 0.0)
    assert judgement.reasons[0] == "critical: checkout_error_ratio"


def test_a_critical_failure_short_of_its_critical_ratio_only_costs_its_weight() -> None:
    """19 pass, 1 critical high not past its critical ratio: 100 * 19/20 = 95, a pass."""
    results = [_m(f"ok{i}", PASS) for i in range(19)]
    results.append(_m("checkout_error_ratio", HIGH, critical=True, critical_increase=2.0))
    judgement = score(results, ReleaseSettings())
    assert (judgement.verdict, judgement.score) == (Verdict.PASS, 95.0)


def test_a_critical_metric_without_data_is_named_in_the_reasons() -> None:
    judgement = score([_m("a", PASS), _m("checkout", NO_DATA, critical=True)], ReleaseSettings())
    assert judgement.verdict is Verdict.PASS
    assert "critical metric checkout has no data: checkout was no_data" in judgement.reasons


@pytest.mark.parametrize(
    ("summary", "verdict"),
    [
        (95.0, Verdict.PASS),
        (94.99, Verdict.MARGINAL),
        (75.0, Verdict.MARGINAL),
        (74.99, Verdict.FAIL),
    ],
)
def test_default_thresholds_at_their_edges(summary: float, verdict: Verdict) -> None:
    assert verdict_for(summary, ScoreThresholds()) is verdict


def test_thresholds_are_configurable() -> None:
    """2 of 3 pass = 66.67: a fail by default, a pass with pass: 60."""
    settings = ReleaseSettings.model_validate({"thresholds": {"pass": 60, "marginal": 50}})
    judgement = score([_m("a", PASS), _m("b", PASS), _m("c", LOW)], settings)
    assert judgement.verdict is Verdict.PASS
    assert judgement.reasons[0] == "score 66.67 (pass >= 60, marginal >= 50)"
