"""Which way is worse for a metric: named in the config, else guessed from its name.

Without configuration an SLI ending in `_error_ratio` or `_latency_seconds`
(any quantile label) is worse when it goes up; one ending in `_success_ratio`
or `_throughput` is worse when it goes down. Any other name is judged both
ways (`either`): a large move up or down fails it.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["SUFFIX_DIRECTIONS", "Direction", "default_direction", "direction_of"]


class Direction(StrEnum):
    HIGHER_IS_WORSE = "higher_is_worse"
    LOWER_IS_WORSE = "lower_is_worse"
    EITHER = "either"

    @property
    def watches_increase(self) -> bool:
        return self is not Direction.LOWER_IS_WORSE

    @property
    def watches_decrease(self) -> bool:
        return self is not Direction.HIGHER_IS_WORSE


SUFFIX_DIRECTIONS: dict[str, Direction] = {
    "_error_ratio": Direction.HIGHER_IS_WORSE,
    "_latency_seconds": Direction.HIGHER_IS_WORSE,
    "_success_ratio": Direction.LOWER_IS_WORSE,
    "_throughput": Direction.LOWER_IS_WORSE,
}


def default_direction(name: str) -> Direction:
    """The direction the metric's name suffix implies, `either` when it implies none."""
    for suffix, direction in SUFFIX_DIRECTIONS.items():
        if name.endswith(suffix):
            return direction
    return Direction.EITHER


def direction_of(name: str, configured: Direction | None = None) -> Direction:
    """A configured direction wins over the name's suffix."""
    return configured if configured is not None else default_direction(name)
