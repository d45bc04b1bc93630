"""The release judge: each metric before vs after the release, then one verdict.

Per metric, as Kayenta's NetflixACAJudge does, a chain of small steps:
validate (no samples, or only NaN: no data) -> transform (drop NaN and
infinities; optionally IQR outliers) -> describe (count, mean, median) ->
compare (Mann-Whitney, Hodges-Lehmann shift and interval: releases/stats.py)
-> classify. Then releases/scoring.py turns the classifications into a score
and a verdict.

Classification: a metric moved only when the whole interval on the shift is
above 0 (it rose) or below 0 (it fell). A move fails the metric only in a
direction that is worse for it, and only when the effect size, the ratio of
the means (after / before, as Kayenta's `meanRatio`), is past the allowed
ratio: a significant but tiny change passes. A failure at or past the
critical ratio is marked `beyond_critical`. Ratios assume metrics that are
not negative (ratios, latencies, rates).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import fmean, median, quantiles

from autoticket.releases.control import Control, ControlUse
from autoticket.releases.directions import Direction
from autoticket.releases.results import Classification, Judgement, MetricResult, SideStats
from autoticket.releases.scoring import score
from autoticket.releases.settings import MetricSpec, ReleaseSettings
from autoticket.releases.stats import ShiftTest, compare

__all__ = [
    "Cleaned",
    "MetricSamples",
    "against_control",
    "classify",
    "describe",
    "effect_ratio",
    "iqr_fences",
    "judge",
    "judge_metric",
    "transform",
    "validate",
]


@dataclass(frozen=True, slots=True)
class MetricSamples:
    """One metric's values in the window before the release and the one after.

    `control`, when given, is the fleet index at the time of each value
    (releases/control.py): the values are judged relative to it.
    `missing`: why the metric could not be read at all (a failed query); it
    is then `no_data` with that reason.
    """

    name: str
    before: Sequence[float]
    after: Sequence[float]
    control: Control | None = None
    missing: str | None = None


@dataclass(frozen=True, slots=True)
class Cleaned:
    values: list[float]
    dropped_missing: int
    dropped_outliers: int


def judge(metrics: Sequence[MetricSamples], settings: ReleaseSettings | None = None) -> Judgement:
    """Judge every metric, then score them into one verdict."""
    settings = settings or ReleaseSettings()
    return score([judge_metric(m, settings) for m in metrics], settings)


def judge_metric(samples: MetricSamples, settings: ReleaseSettings) -> MetricResult:
    spec = settings.spec_for(samples.name)
    direction = spec.direction_for(samples.name)

    def no_data(reason: str, **sides: SideStats) -> MetricResult:
        return MetricResult(samples.name, direction, spec, Classification.NO_DATA, reason, **sides)

    if samples.missing is not None:
        return no_data(samples.missing)
    if problem := validate(samples.before, samples.after):
        return no_data(problem)
    raw_before, raw_after, control = against_control(samples, settings)
    before = transform(raw_before, spec.remove_outliers, settings.iqr_factor)
    after = transform(raw_after, spec.remove_outliers, settings.iqr_factor)
    sides = {"before": describe(before), "after": describe(after)}
    for side, cleaned in (("before", before), ("after", after)):
        if len(cleaned.values) < settings.min_samples:
            count = len(cleaned.values)
            return no_data(
                f"too few samples {side} the release: {count} < {settings.min_samples}", **sides
            )
    test = compare(before.values, after.values, settings.confidence)
    ratio = effect_ratio(sides["before"].mean, sides["after"].mean)
    classification, reason, beyond = classify(direction, spec, test, ratio)
    if control is not None and control.moved:
        reason = f"{reason}; {control.reason}"
    return MetricResult(
        samples.name, direction, spec, classification, reason, test=test, ratio=ratio,
        beyond_critical=beyond, control=control, **sides,
    )  # fmt: skip


def against_control(
    samples: MetricSamples, settings: ReleaseSettings
) -> tuple[Sequence[float], Sequence[float], ControlUse | None]:
    """The values to judge, and what the fleet control said about them.

    With a control, each value is divided by the fleet index at its time (a
    value without an index becomes NaN: dropped and counted), whether or not
    the fleet moved: what is left is the service's own change. Judging
    relative only once the fleet's own move is significant would let a
    service's early samples of a fleet-wide dip fail it before the fleet's
    move is. The fleet index is also compared before vs after like any
    metric, so the evidence says whether the fleet moved, and how far.
    """
    control = samples.control
    if control is None:
        return samples.before, samples.after, None
    index_before = [i for i in control.before if math.isfinite(i)]
    index_after = [i for i in control.after if math.isfinite(i)]
    fleet = f"the fleet ({control.services} other services)"
    if min(len(index_before), len(index_after)) < settings.min_samples:
        reason = f"{fleet} has too few samples in these windows: judged on its own samples"
        use = ControlUse(control.services, False, False, math.nan, None, reason)
        return samples.before, samples.after, use
    test = compare(index_before, index_after, settings.confidence)
    ratio = effect_ratio(fmean(index_before), fmean(index_after))
    interval = f"{test.confidence:.0%} interval {_bounds(test)}"
    moved = test.low > 0.0 or test.high < 0.0
    if moved:
        reason = f"judged relative to {fleet}, which moved x{ratio:.4g} ({interval})"
    else:
        reason = f"judged relative to {fleet}, which held steady (x{ratio:.4g}, {interval})"
    before = _relative(samples.before, control.before)
    after = _relative(samples.after, control.after)
    return before, after, ControlUse(control.services, True, moved, ratio, test, reason)


def _relative(values: Sequence[float], index: Sequence[float]) -> list[float]:
    """Each value over the index at its time; NaN where there is no index."""
    pairs = zip(values, index, strict=True)  # one index value per sample, or ValueError
    return [v / i if math.isfinite(i) and i > 0.0 else math.nan for v, i in pairs]


def validate(before: Sequence[float], after: Sequence[float]) -> str | None:
    """Why there is nothing to judge, or None."""
    for side, values in (("before", before), ("after", after)):
        if not values:
            return f"no samples {side} the release"
        if all(math.isnan(v) for v in values):
            return f"every sample {side} the release is NaN"
    return None


def transform(values: Sequence[float], remove_outliers: bool, iqr_factor: float) -> Cleaned:
    """Drop NaN and infinities, then (if asked) values beyond the IQR fences."""
    finite = [float(v) for v in values if math.isfinite(v)]
    kept = finite
    if remove_outliers and finite:
        low, high = iqr_fences(finite, iqr_factor)
        kept = [v for v in finite if low <= v <= high]
    return Cleaned(kept, len(values) - len(finite), len(finite) - len(kept))


def iqr_fences(values: Sequence[float], factor: float) -> tuple[float, float]:
    """[Q1 - factor*IQR, Q3 + factor*IQR], quartiles by linear interpolation (NumPy's default).

    With IQR = 0 (most values equal, as an error ratio that is mostly 0) the
    fences would call every other value an outlier; nothing is removed then.
    """
    if len(values) < 2:
        return -math.inf, math.inf
    q1, _, q3 = quantiles(values, n=4, method="inclusive")
    iqr = q3 - q1
    if iqr == 0.0:
        return -math.inf, math.inf
    return q1 - factor * iqr, q3 + factor * iqr


def describe(cleaned: Cleaned) -> SideStats:
    values = cleaned.values
    return SideStats(
        count=len(values),
        mean=fmean(values) if values else math.nan,
        median=float(median(values)) if values else math.nan,
        dropped_missing=cleaned.dropped_missing,
        dropped_outliers=cleaned.dropped_outliers,
    )


def effect_ratio(before_mean: float, after_mean: float) -> float:
    """after / before; 1 when both are 0, infinite when only before is 0."""
    if before_mean == 0.0:
        return 1.0 if after_mean == 0.0 else math.copysign(math.inf, after_mean)
    return after_mean / before_mean


def classify(
    direction: Direction, spec: MetricSpec, test: ShiftTest, ratio: float
) -> tuple[Classification, str, bool]:
    """(classification, reason, beyond_critical) from the interval and the effect size."""
    interval = f"shift {test.estimate:+.4g}, {test.confidence:.0%} interval {_bounds(test)}"
    if test.low > 0.0:
        move = _Move(
            "rose",
            Classification.HIGH,
            watched=direction.watches_increase,
            allowed=spec.allowed_increase,
            limit=spec.increase_limit,
            past_allowed=ratio > spec.allowed_increase,
            past_critical=ratio >= spec.increase_limit,
        )
    elif test.high < 0.0:
        move = _Move(
            "fell",
            Classification.LOW,
            watched=direction.watches_decrease,
            allowed=spec.allowed_decrease,
            limit=spec.decrease_limit,
            past_allowed=ratio < spec.allowed_decrease,
            past_critical=ratio <= spec.decrease_limit,
        )
    else:
        return Classification.PASS, f"no significant change: {interval} contains 0", False
    moved = f"{move.word} x{ratio:.4g}"
    if not move.watched:
        return Classification.PASS, f"{moved}, which is better; {interval}", False
    if not move.past_allowed:
        reason = f"{moved}, within the allowed x{move.allowed:.4g}; {interval}"
        return Classification.PASS, reason, False
    critical = ""
    if spec.critical and move.past_critical:
        critical = f", at or past the critical x{move.limit:.4g}"
    reason = f"{moved}, past the allowed x{move.allowed:.4g}{critical}; {interval}"
    return move.label, reason, move.past_critical


@dataclass(frozen=True, slots=True)
class _Move:
    """A significant move one way, and how it compares with what that way allows."""

    word: str
    label: Classification
    watched: bool  # is this way worse for the metric?
    allowed: float
    limit: float  # the critical ratio
    past_allowed: bool
    past_critical: bool


def _bounds(test: ShiftTest) -> str:
    return f"[{test.low:+.4g}, {test.high:+.4g}]"
