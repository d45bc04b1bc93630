"""A small before/after plot of one metric, laid out here and drawn as inline SVG.

The page has no scripts and no style attributes (the CSP forbids inline
styles): the template draws circles and lines at the coordinates computed
here, coloured by CSS classes and SVG presentation attributes.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

__all__ = ["HEIGHT", "WIDTH", "Plot", "before_after"]

WIDTH, HEIGHT = 300, 120
_LEFT, _RIGHT, _TOP, _BOTTOM = 52, 8, 8, 20


@dataclass(frozen=True, slots=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float


@dataclass(slots=True)
class Plot:
    width: int
    height: int
    before: list[tuple[float, float]] = field(default_factory=list)  # pixel (x, y)
    after: list[tuple[float, float]] = field(default_factory=list)
    release_x: float = 0.0
    decided_x: float | None = None  # when the verdict was reached, if inside the plot
    medians: dict[str, Line] = field(default_factory=dict)  # "before" / "after"
    y_ticks: list[tuple[float, str]] = field(default_factory=list)  # (pixel y, label)
    x_ticks: list[tuple[float, str, str]] = field(default_factory=list)  # (x, label, anchor)
    frame: Line = field(default_factory=lambda: Line(0, 0, 0, 0))  # the plotting area


def before_after(
    samples: Sequence[tuple[datetime, float]],
    start: datetime,
    since: datetime,
    until: datetime,
    decided_at: datetime | None = None,
) -> Plot | None:
    """The plot of `samples` in [since, until), split at the release's `start`; None if empty.

    An early verdict used only the samples before `decided_at`: a line marks it.
    """
    points = [(t, v) for t, v in samples if since <= t < until and math.isfinite(v)]
    if not points:
        return None
    low = min(v for _, v in points)
    high = max(v for _, v in points)
    if high == low:
        low, high = (low - 1, high + 1) if low == 0 else (low * 0.9, high * 1.1)
        low, high = min(low, high), max(low, high)
    pad = (high - low) * 0.05
    low, high = low - pad, high + pad
    x0, x1 = _LEFT, WIDTH - _RIGHT
    y0, y1 = HEIGHT - _BOTTOM, _TOP
    span = (until - since).total_seconds() or 1.0

    def x(t: datetime) -> float:
        return round(x0 + (x1 - x0) * (t - since).total_seconds() / span, 1)

    def y(v: float) -> float:
        return round(y0 - (y0 - y1) * (v - low) / (high - low), 1)

    plot = Plot(WIDTH, HEIGHT, release_x=x(start), frame=Line(x0, y1, x1, y0))
    if decided_at is not None and start < decided_at < until:
        plot.decided_x = x(decided_at)
    sides: dict[str, list[float]] = {"before": [], "after": []}
    for t, v in points:
        side = "before" if t < start else "after"
        (plot.before if side == "before" else plot.after).append((x(t), y(v)))
        sides[side].append(v)
    for side, values in sides.items():
        if values:
            median = y(statistics.median(values))
            left, right = (x0, plot.release_x) if side == "before" else (plot.release_x, x1)
            plot.medians[side] = Line(left, median, right, median)
    plot.y_ticks = [(y(v), _number(v)) for v in (low + pad, high - pad)]
    plot.x_ticks = [
        (x0, _minutes(since - start), "start"),
        (plot.release_x, "0", "middle"),
        (x1, _minutes(until - start), "end"),
    ]
    return plot


def _number(value: float) -> str:
    return f"{value:.3g}"


def _minutes(delta: timedelta) -> str:
    return f"{round(delta.total_seconds() / 60):+d}m"
