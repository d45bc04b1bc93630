"""What the judge found, kept whole so a verdict explains itself.

Each metric keeps the statistics of both sides (count, mean, median, what was
dropped), the test, the effect size and the reason for its classification;
the judgement keeps every metric, the group scores and the reasons for its
verdict. `to_dict()` is the JSON form (non-finite numbers become null).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

from autoticket.releases.control import ControlUse
from autoticket.releases.directions import Direction
from autoticket.releases.settings import MetricSpec
from autoticket.releases.stats import ShiftTest

__all__ = ["Classification", "GroupScore", "Judgement", "MetricResult", "SideStats", "Verdict"]


class Classification(StrEnum):
    PASS = "pass"
    HIGH = "high"  # rose beyond what is allowed, in a direction where higher is worse
    LOW = "low"  # fell beyond what is allowed, in a direction where lower is worse
    NO_DATA = "no_data"


class Verdict(StrEnum):
    PASS = "pass"
    MARGINAL = "marginal"
    FAIL = "fail"
    NO_DATA = "no_data"


@dataclass(frozen=True, slots=True)
class SideStats:
    """One side (before or after the release) once cleaned."""

    count: int
    mean: float
    median: float
    dropped_missing: int = 0  # NaN or infinite samples
    dropped_outliers: int = 0  # beyond the IQR fences, when asked for

    def to_dict(self) -> dict[str, object]:
        return {
            "count": self.count,
            "mean": _finite(self.mean),
            "median": _finite(self.median),
            "dropped_missing": self.dropped_missing,
            "dropped_outliers": self.dropped_outliers,
        }


@dataclass(frozen=True, slots=True)
class MetricResult:
    name: str
    direction: Direction
    spec: MetricSpec
    classification: Classification
    reason: str
    before: SideStats | None = None
    after: SideStats | None = None
    ratio: float | None = None  # effect size: mean after / mean before
    test: ShiftTest | None = None
    beyond_critical: bool = False  # failed at or past the critical ratio
    control: ControlUse | None = None  # the fleet control, when there was one

    @property
    def failed(self) -> bool:
        return self.classification in (Classification.HIGH, Classification.LOW)

    @property
    def fails_release(self) -> bool:
        """A critical metric that failed at or past its critical ratio."""
        return self.spec.critical and self.failed and self.beyond_critical

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "classification": self.classification.value,
            "reason": self.reason,
            "direction": self.direction.value,
            "group": self.spec.group,
            "weight": self.spec.weight,
            "critical": self.spec.critical,
            "ratio": None if self.ratio is None else _finite(self.ratio),
            "beyond_critical": self.beyond_critical,
            "before": None if self.before is None else self.before.to_dict(),
            "after": None if self.after is None else self.after.to_dict(),
            "test": None if self.test is None else self.test.to_dict(),
            "control": None if self.control is None else self.control.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class GroupScore:
    name: str
    weight: float
    score: float | None  # None: no scored metric of the group had data
    counts: dict[str, int]  # classification -> number of metrics

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "weight": self.weight,
            "score": self.score,
            "counts": dict(self.counts),
        }


@dataclass(frozen=True, slots=True)
class Judgement:
    verdict: Verdict
    score: float  # 0-100; 0 when a critical metric failed or nothing had data
    metrics: list[MetricResult]
    groups: list[GroupScore]
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "verdict": self.verdict.value,
            "score": self.score,
            "reasons": list(self.reasons),
            "groups": [g.to_dict() for g in self.groups],
            "metrics": [m.to_dict() for m in self.metrics],
        }


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
