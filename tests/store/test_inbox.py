"""The inbox hands out batches bounded by deliveries, events and bytes."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import Engine

from autoticket.model import Delivery
from autoticket.store import inbox as inbox_store


def _fill(engine: Engine, t0: datetime, sizes: list[tuple[int, int]]) -> None:
    """One pending delivery per (events, body bytes)."""
    with engine.begin() as conn:
        inbox_store.append(
            conn,
            [
                (Delivery(f"d{i}", "generic", t0, b"x" * size, {}), events)
                for i, (events, size) in enumerate(sizes)
            ],
        )


def _claimed(engine: Engine, **bounds: int) -> list[str]:
    with engine.begin() as conn:
        return [d.id for d in inbox_store.claim_pending(conn, **bounds)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("bounds", "expected"),
    [
        ({"limit": 10}, ["d0", "d1", "d2", "d3"]),
        ({"limit": 2}, ["d0", "d1"]),
        ({"limit": 10, "max_events": 30}, ["d0", "d1"]),
        ({"limit": 10, "max_events": 29}, ["d0"]),
        ({"limit": 10, "max_events": 1}, ["d0"]),  # always at least one
        ({"limit": 10, "max_bytes": 300}, ["d0", "d1", "d2"]),
        ({"limit": 10, "max_bytes": 299}, ["d0", "d1"]),
        ({"limit": 10, "max_events": 1000, "max_bytes": 10_000}, ["d0", "d1", "d2", "d3"]),
    ],
)
def test_claim_pending_stops_at_the_first_bound(
    engine: Engine, t0: datetime, bounds: dict[str, int], expected: list[str]
) -> None:
    _fill(engine, t0, [(10, 100), (20, 100), (30, 100), (40, 100)])
    assert _claimed(engine, **bounds) == expected


def test_a_storm_delivery_is_claimed_alone(engine: Engine, t0: datetime) -> None:
    _fill(engine, t0, [(42_000, 1_000), (1, 10), (1, 10)])
    assert _claimed(engine, limit=500, max_events=5_000) == ["d0"]
    with engine.begin() as conn:
        inbox_store.mark_processed(conn, [1], t0)
    assert _claimed(engine, limit=500, max_events=5_000) == ["d1", "d2"]
