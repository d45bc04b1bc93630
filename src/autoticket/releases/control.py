"""The fleet as a control: tell a release's effect from what every service went through.

A daily cycle or a fleet-wide dip (a network blip, a shared database) moves
every service at once; a release moves its own service. So each metric is
also read for the other services of the environment in the same windows
(the *fleet*), and turned into a **fleet index**: each other service's
samples over its own mean before the release, averaged per `bucket` (a
minute), then the median over the services. The index is about 1 before
the release and follows whatever the fleet went through after it.

The judge (releases/judge.py) judges the release's samples *relative to
the fleet*: each divided by the index at its time (a difference in
differences on the log scale: what is left is the release's own change).
It also runs the same Mann-Whitney / Hodges-Lehmann comparison on the index
itself, so the evidence says whether the fleet moved and how far. Fewer
than `MIN_SERVICES` other services with data is no control at all.

The median keeps one other service's own trouble (its release, its
incident) from moving the index. Services that depend on the released one
(catalog `depends_on`) are left out of its fleet by whoever reads it
(explain.py): they are expected to move with it, and would hide its effect.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import fmean, median

from autoticket.releases.stats import ShiftTest

__all__ = ["MIN_SERVICES", "Control", "ControlUse", "FleetIndex", "dependants_of", "fleet_index"]

MIN_SERVICES = 3
BUCKET = timedelta(minutes=1)

Points = Sequence[tuple[datetime, float]]


@dataclass(frozen=True, slots=True)
class FleetIndex:
    """The fleet's relative level per time bucket, from `services` other services."""

    services: int
    by_bucket: dict[datetime, float]
    bucket: timedelta = BUCKET

    def at(self, t: datetime) -> float:
        """The index at `t`; NaN when no other service had a sample then."""
        return self.by_bucket.get(_floor(t, self.bucket), math.nan)


@dataclass(frozen=True, slots=True)
class Control:
    """The fleet index at the time of each sample, before and after (aligned with them)."""

    services: int
    before: Sequence[float]
    after: Sequence[float]


@dataclass(frozen=True, slots=True)
class ControlUse:
    """What the control said and whether the metric was judged relative to it."""

    services: int
    used: bool  # judged relative to the fleet
    moved: bool  # the fleet's own before/after interval excludes 0
    fleet_ratio: float  # mean index after / mean index before
    test: ShiftTest | None
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": "fleet",
            "services": self.services,
            "used": self.used,
            "moved": self.moved,
            "fleet_ratio": self.fleet_ratio if math.isfinite(self.fleet_ratio) else None,
            "test": None if self.test is None else self.test.to_dict(),
            "reason": self.reason,
        }


def fleet_index(
    others: Sequence[Points], baseline_start: datetime, start: datetime, bucket: timedelta = BUCKET
) -> FleetIndex | None:
    """The index from other services' samples of one metric; None under `MIN_SERVICES`.

    A service counts when it has samples before `start` (from `baseline_start`)
    with a mean above 0: its samples are divided by that mean.
    """
    per_service: list[dict[datetime, float]] = []
    floors: dict[datetime, datetime] = {}  # the services share their sample times
    for points in others:
        baseline = [v for t, v in points if baseline_start <= t < start and math.isfinite(v)]
        if not baseline or (level := fmean(baseline)) <= 0.0:
            continue
        buckets: dict[datetime, list[float]] = {}
        for t, v in points:
            if math.isfinite(v):
                if (floor := floors.get(t)) is None:
                    floor = floors[t] = _floor(t, bucket)
                buckets.setdefault(floor, []).append(v / level)
        per_service.append({b: fmean(vs) for b, vs in buckets.items()})
    if len(per_service) < MIN_SERVICES:
        return None
    keys = sorted({b for s in per_service for b in s})
    by_bucket = {}
    for b in keys:
        values = [s[b] for s in per_service if b in s]
        if len(values) >= MIN_SERVICES:
            by_bucket[b] = float(median(values))
    return FleetIndex(len(per_service), by_bucket, bucket)


def dependants_of(service: str, depends_on: Mapping[str, Iterable[str]]) -> set[str]:
    """The services that depend on `service` (catalog `depends_on`): no control for it."""
    return {name for name, deps in depends_on.items() if service in set(deps)}


def _floor(t: datetime, bucket: timedelta) -> datetime:
    seconds = bucket.total_seconds()
    stamp = t.timestamp()
    return datetime.fromtimestamp(stamp - stamp % seconds, tz=t.tzinfo)
