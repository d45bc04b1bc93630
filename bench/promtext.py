"""Reading autoticket's /metrics: gauges, counters and histogram quantiles."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Histogram", "histogram", "scalar"]


@dataclass(slots=True)
class Histogram:
    """Cumulative buckets (upper bound, count), as Prometheus exposes them."""

    buckets: list[tuple[float, float]] = field(default_factory=list)
    count: float = 0.0
    sum: float = 0.0

    def minus(self, before: Histogram) -> Histogram:
        """Observations made between the `before` scrape and this one."""
        old = dict(before.buckets)
        return Histogram(
            [(le, n - old.get(le, 0.0)) for le, n in self.buckets],
            self.count - before.count,
            self.sum - before.sum,
        )

    def quantile(self, q: float) -> float | None:
        """Like PromQL histogram_quantile: linear within the bucket holding rank q."""
        if self.count <= 0 or not self.buckets:
            return None
        rank = q * self.count
        lower, below = 0.0, 0.0
        for upper, cumulative in self.buckets:
            if cumulative >= rank:
                if math.isinf(upper):
                    return lower  # beyond the last finite bound: that bound
                inside = cumulative - below
                frac = (rank - below) / inside if inside else 1.0
                return lower + (upper - lower) * frac
            lower, below = upper, cumulative
        return lower

    @property
    def mean(self) -> float | None:
        return self.sum / self.count if self.count else None


def histogram(text: str, name: str) -> Histogram:
    out = Histogram()
    for family in text_string_to_metric_families(text):
        if family.name != name:
            continue
        for s in family.samples:
            if s.name == f"{name}_bucket":
                out.buckets.append((float(s.labels["le"]), s.value))
            elif s.name == f"{name}_count":
                out.count = s.value
            elif s.name == f"{name}_sum":
                out.sum = s.value
    out.buckets.sort()
    return out


def scalar(text: str, name: str) -> float | None:
    """The sum over all label sets of a gauge or counter (counters: `name` without _total)."""
    total: float | None = None
    for family in text_string_to_metric_families(text):
        if family.name != name:
            continue
        for s in family.samples:
            if s.name in (name, f"{name}_total"):
                total = (total or 0.0) + s.value
    return total
