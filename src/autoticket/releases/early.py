"""Judging while the release is still rolling out: stop early on strong evidence only.

Looking again and again at a growing sample inflates false alarms, so an
early call is held to more than the final verdict:

- fail early when the judge already says `fail` and at least one failed
  metric is *decisive*: its one-sided p-value in the worse direction is below
  `early.alpha` (0.001 by default, far stricter than the 2% the 98% interval
  allows), and its whole Hodges-Lehmann interval lies past its critical
  ratio, turned into a shift as (ratio - 1) * |mean before|;
- pass only when the judge says `pass`, `early.min_window` has passed since
  the release started, and every metric with data has at least
  `early.min_samples` samples after it (and, with `early.pass_margin`, an
  interval that rules out a worsening past that share of its mean before:
  a regression not yet significant is not waved through);
- otherwise wait: the judgement so far is kept, with what is missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from autoticket.releases.judge import MetricSamples, judge
from autoticket.releases.results import Classification, Judgement, MetricResult, Verdict
from autoticket.releases.settings import EarlySettings, ReleaseSettings

__all__ = [
    "EarlyCall",
    "EarlyDecision",
    "is_decisive",
    "judge_early",
    "missing_for_pass",
    "worse_bound",
]


class EarlyDecision(StrEnum):
    FAIL = "fail"
    PASS = "pass"
    WAIT = "wait"


@dataclass(frozen=True, slots=True)
class EarlyCall:
    decision: EarlyDecision
    reason: str
    judgement: Judgement

    def to_dict(self) -> dict[str, object]:
        return {
            "decision": self.decision.value,
            "reason": self.reason,
            "judgement": self.judgement.to_dict(),
        }


def judge_early(
    metrics: Sequence[MetricSamples],
    settings: ReleaseSettings | None = None,
    *,
    elapsed: timedelta,
) -> EarlyCall:
    """The call on the samples so far, `elapsed` after the release started."""
    settings = settings or ReleaseSettings()
    judgement = judge(metrics, settings)
    if judgement.verdict is Verdict.FAIL:
        decisive = [m.name for m in judgement.metrics if is_decisive(m, settings.early.alpha)]
        if decisive:
            return EarlyCall(EarlyDecision.FAIL, f"decisive: {', '.join(decisive)}", judgement)
        return EarlyCall(
            EarlyDecision.WAIT, "failing so far, but no metric is decisive yet", judgement
        )
    if judgement.verdict is Verdict.PASS:
        missing = missing_for_pass(judgement, settings.early, elapsed)
        if not missing:
            return EarlyCall(EarlyDecision.PASS, "passed over the full window", judgement)
        return EarlyCall(EarlyDecision.WAIT, "passing so far; " + "; ".join(missing), judgement)
    return EarlyCall(EarlyDecision.WAIT, f"{judgement.verdict.value} so far", judgement)


def is_decisive(result: MetricResult, alpha: float) -> bool:
    """Failed, one-sided p below alpha, and the whole interval past the critical ratio."""
    test, before, spec = result.test, result.before, result.spec
    if test is None or before is None:
        return False
    scale = abs(before.mean)
    if result.classification is Classification.HIGH:
        return test.p_greater < alpha and test.low > (spec.increase_limit - 1.0) * scale
    if result.classification is Classification.LOW:
        return test.p_less < alpha and test.high < (spec.decrease_limit - 1.0) * scale
    return False


def missing_for_pass(judgement: Judgement, early: EarlySettings, elapsed: timedelta) -> list[str]:
    """What a passing judgement still lacks before it may be called a pass."""
    missing: list[str] = []
    if elapsed < early.min_window:
        missing.append(f"only {elapsed} of the {early.min_window} window")
    for m in judgement.metrics:
        if m.after is not None and m.after.count < early.min_samples:
            count = m.after.count
            missing.append(f"{m.name} has {count} of {early.min_samples} samples after")
        elif early.pass_margin is not None and (worse := worse_bound(m)) is not None:
            margin = early.pass_margin * abs(m.before.mean) if m.before else 0.0
            if worse > margin:
                missing.append(
                    f"{m.name} may still be worse by {worse:.4g}, more than the "
                    f"{early.pass_margin:.0%} margin ({margin:.4g})"
                )
    return missing


def worse_bound(result: MetricResult) -> float | None:
    """How far the interval reaches the worse way (as a positive shift), or None."""
    test = result.test
    if test is None:
        return None
    reaches = []
    if result.direction.watches_increase:
        reaches.append(test.high)
    if result.direction.watches_decrease:
        reaches.append(-test.low)
    return max(reaches)
