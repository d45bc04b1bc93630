"""Retention at its edges: the exact age kept, one second older purged, bounded steps.

What must never be purged (pending deliveries, events of open incidents) is
in tests/service/test_retention.py; these pin the age comparisons, the
statuses of inbox rows that may go, and the per-call limit.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import orjson
from sqlalchemy import Engine, select, update

from autoticket.config import Config
from autoticket.lifecycle import purge
from autoticket.pipeline.base import DeadLetter, Delivery
from autoticket.store import inbox as inbox_store
from autoticket.store.dead_letters import add_dead_letters
from autoticket.store.tables import dead_letters, events, inbox
from conftest import am_alert, am_payload, process

SECOND = timedelta(seconds=1)


def _nonzero(removed: dict[str, int]) -> dict[str, int]:
    return {table: n for table, n in removed.items() if n}


def _resolved_only(name: str, at: datetime) -> Delivery:
    """A resolve of an alert never seen firing: an event without an incident."""
    body = orjson.dumps(am_payload(am_alert(alertname=name, status="resolved")))
    return Delivery(name, "alertmanager", at, body, {})


def _seed(engine: Engine, config: Config, t0: datetime, ages: dict[str, timedelta]) -> None:
    """One inbox row, one event (no incident) and one dead letter per name, that old."""
    now = t0
    with engine.begin() as conn:
        deliveries = [_resolved_only(name, now - age) for name, age in ages.items()]
        inbox_store.append(conn, [(d, 1) for d in deliveries])
        process(conn, config, deliveries, now)
        conn.execute(update(inbox).values(status="done"))
        add_dead_letters(
            conn,
            [
                DeadLetter(Delivery(name, "generic", now - age, b"{", {}), "ingest", "malformed")
                for name, age in ages.items()
            ],
        )


def _left(engine: Engine) -> dict[str, list[str]]:
    with engine.connect() as conn:
        return {
            "inbox": sorted(conn.execute(select(inbox.c.delivery_id)).scalars()),
            "events": sorted(conn.execute(select(events.c.delivery_id)).scalars()),
            "dead_letters": sorted(conn.execute(select(dead_letters.c.delivery_id)).scalars()),
        }


def test_kept_up_to_the_retention_age_purged_past_it(
    engine: Engine, config: Config, t0: datetime
) -> None:
    r = config.retention
    assert r.events == r.dead_letters  # one set of ages serves both tables below
    _seed(
        engine,
        config,
        t0,
        {
            "inbox-edge": r.inbox,
            "inbox-past": r.inbox + SECOND,
            "edge": r.events,
            "past": r.events + SECOND,
            "young": timedelta(days=1),
        },
    )
    with engine.begin() as conn:
        removed = purge(conn, t0, r)
    assert _nonzero(removed) == {"inbox": 3, "events": 1, "dead_letters": 1}
    assert _left(engine) == {
        "inbox": ["inbox-edge", "young"],
        "events": ["edge", "inbox-edge", "inbox-past", "young"],
        "dead_letters": ["edge", "inbox-edge", "inbox-past", "young"],
    }


def test_dead_inbox_rows_go_pending_ones_stay(engine: Engine, config: Config, t0: datetime) -> None:
    old = config.retention.inbox + SECOND
    _seed(engine, config, t0, {"done": old, "dead": old, "pending": old})
    with engine.begin() as conn:
        conn.execute(update(inbox).where(inbox.c.delivery_id == "dead").values(status="dead"))
        conn.execute(update(inbox).where(inbox.c.delivery_id == "pending").values(status="pending"))
        assert purge(conn, t0, config.retention)["inbox"] == 2
    assert _left(engine)["inbox"] == ["pending"]


def test_each_call_deletes_at_most_limit_rows_per_table(
    engine: Engine, config: Config, t0: datetime
) -> None:
    old = max(config.retention.inbox, config.retention.events) + SECOND
    _seed(engine, config, t0, {"a": old, "b": old, "c": old})
    with engine.begin() as conn:
        assert _nonzero(purge(conn, t0, config.retention, limit=2)) == {
            "inbox": 2,
            "events": 2,
            "dead_letters": 2,
        }
        assert _nonzero(purge(conn, t0, config.retention, limit=2)) == {
            "inbox": 1,
            "events": 1,
            "dead_letters": 1,
        }
    assert _left(engine) == {"inbox": [], "events": [], "dead_letters": []}
