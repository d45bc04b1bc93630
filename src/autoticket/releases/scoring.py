"""From metric classifications to a score (0-100) and a verdict.

Like Kayenta's WeightedSumScorer and ThresholdScoreClassifier, with weights
on metrics as well as groups:

- a group's score is the weighted share of its metrics that passed, counting
  only metrics with data and a weight above 0;
- the summary score is the weighted mean of the group scores, over the groups
  that have one (a group without data neither helps nor hurts);
- a critical metric that failed at or past its critical ratio fails the
  release outright, with score 0;
- no group with data: verdict no_data, score 0;
- otherwise score >= thresholds.pass is pass, >= thresholds.marginal is
  marginal, below is fail.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from autoticket.releases.results import (
    Classification,
    GroupScore,
    Judgement,
    MetricResult,
    Verdict,
)
from autoticket.releases.settings import ReleaseSettings, ScoreThresholds

__all__ = ["group_scores", "score", "summary_score", "verdict_for"]


def score(results: Sequence[MetricResult], settings: ReleaseSettings) -> Judgement:
    groups = group_scores(results, settings)
    summary = summary_score(groups)
    reasons = _metric_reasons(results)
    critical = [m for m in results if m.fails_release]
    if critical:
        names = ", ".join(m.name for m in critical)
        return Judgement(Verdict.FAIL, 0.0, list(results), groups, [f"critical: {names}", *reasons])
    if summary is None:
        return Judgement(Verdict.NO_DATA, 0.0, list(results), groups, ["no metric had data"])
    verdict = verdict_for(summary, settings.thresholds)
    reasons = [_score_reason(summary, settings.thresholds), *reasons]
    return Judgement(verdict, summary, list(results), groups, reasons)


def group_scores(results: Sequence[MetricResult], settings: ReleaseSettings) -> list[GroupScore]:
    """One score per group, in the order the groups first appear."""
    members: dict[str, list[MetricResult]] = {}
    for result in results:
        members.setdefault(result.spec.group, []).append(result)
    return [
        GroupScore(
            name=name,
            weight=settings.group_weight(name),
            score=_group_score(metrics),
            counts=dict(Counter(m.classification.value for m in metrics)),
        )
        for name, metrics in members.items()
    ]


def summary_score(groups: Sequence[GroupScore]) -> float | None:
    """The weighted mean of the group scores that exist; None when none does."""
    scored = [g for g in groups if g.score is not None and g.weight > 0.0]
    total = sum(g.weight for g in scored)
    if not scored or total == 0.0:
        return None
    return sum(g.weight * g.score for g in scored if g.score is not None) / total


def verdict_for(summary: float, thresholds: ScoreThresholds) -> Verdict:
    if summary >= thresholds.pass_:
        return Verdict.PASS
    if summary >= thresholds.marginal:
        return Verdict.MARGINAL
    return Verdict.FAIL


def _group_score(metrics: Sequence[MetricResult]) -> float | None:
    scored = [
        m for m in metrics if m.classification is not Classification.NO_DATA and m.spec.weight > 0
    ]
    total = sum(m.spec.weight for m in scored)
    if total == 0.0:
        return None
    passed = sum(m.spec.weight for m in scored if m.classification is Classification.PASS)
    return 100.0 * passed / total


def _metric_reasons(results: Sequence[MetricResult]) -> list[str]:
    """The failures, the critical metrics that could not be judged, the fleets that moved."""
    reasons = [f"{m.name} {m.classification.value}: {m.reason}" for m in results if m.failed]
    reasons += [
        f"critical metric {m.name} has no data: {m.reason}"
        for m in results
        if m.spec.critical and m.classification is Classification.NO_DATA
    ]
    reasons += [
        f"{m.name} {m.control.reason}"
        for m in results
        if m.control is not None and m.control.moved and not m.failed
    ]
    return reasons


def _score_reason(summary: float, thresholds: ScoreThresholds) -> str:
    return (
        f"score {summary:.4g} (pass >= {thresholds.pass_:.4g}, "
        f"marginal >= {thresholds.marginal:.4g})"
    )
