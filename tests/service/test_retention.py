"""Retention purges old processed data and never what is still needed."""

from __future__ import annotations

from datetime import datetime, timedelta

import orjson
from sqlalchemy import Engine, func, select, update

from autoticket.clock import FixedClock
from autoticket.config import Config
from autoticket.lifecycle import purge
from autoticket.model import DeadLetter, Delivery
from autoticket.service.runtime import Runtime
from autoticket.store import inbox as inbox_store
from autoticket.store.dead_letters import add_dead_letters
from autoticket.store.tables import dead_letters, events, inbox, incidents
from conftest import am_alert, am_payload


def _nonzero(removed: dict[str, int]) -> dict[str, int]:
    return {table: n for table, n in removed.items() if n}


def _count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()  # type: ignore[arg-type]


def _deliver(rt: Runtime, delivery_id: str, payload: dict[str, object]) -> None:
    delivery = Delivery(delivery_id, "alertmanager", rt.clock.now(), orjson.dumps(payload), {})
    with rt.engine.begin() as conn:
        inbox_store.append(conn, [(delivery, 1)])


def test_purge_keeps_open_incidents_and_pending_deliveries(
    engine: Engine, config: Config, t0: datetime
) -> None:
    clock = FixedClock(t0)
    rt = Runtime(config, engine, clock=clock, start_worker=False)
    _deliver(rt, "open-1", am_payload(am_alert(alertname="StillFiring")))
    _deliver(rt, "done-1", am_payload(am_alert(alertname="Gone")))
    rt.worker.drain()
    clock.set(t0 + timedelta(minutes=1))
    _deliver(rt, "done-2", am_payload(am_alert(alertname="Gone", status="resolved")))
    rt.worker.drain()
    clock.set(t0 + timedelta(minutes=10))
    rt.worker.drain()  # the Gone incident auto-resolves
    with engine.begin() as conn:
        add_dead_letters(
            conn, [DeadLetter(Delivery("dl", "generic", t0, b"{", {}), "ingest", "malformed")]
        )
        resolved = conn.execute(
            select(func.count()).select_from(incidents).where(incidents.c.open_key.is_(None))
        ).scalar_one()
    assert resolved == 1
    later = t0 + timedelta(days=60)
    _deliver(rt, "pending-1", am_payload(am_alert(alertname="New")))  # not processed yet
    with engine.begin() as conn:
        conn.execute(update(inbox).where(inbox.c.delivery_id == "pending-1").values(received_at=t0))
        removed = purge(conn, later, config.retention)
    assert _nonzero(removed) == {"inbox": 3, "events": 2, "dead_letters": 1}
    with engine.connect() as conn:
        assert conn.execute(select(inbox.c.delivery_id)).scalars().all() == ["pending-1"]
        kept = conn.execute(select(events.c.delivery_id)).scalars().all()
    assert kept == ["open-1"]  # the open incident keeps its events
    assert _count(engine, dead_letters) == 0
    with engine.begin() as conn:
        assert _nonzero(purge(conn, later, config.retention)) == {}


def test_worker_purges_at_most_every_ten_minutes(
    engine: Engine, config: Config, t0: datetime
) -> None:
    clock = FixedClock(t0)
    rt = Runtime(config, engine, clock=clock, start_worker=False)
    _deliver(rt, "d1", am_payload(am_alert()))
    rt.worker.drain()
    clock.set(t0 + timedelta(days=8))  # past inbox retention (7d)
    rt.worker.run_once()
    assert _count(engine, inbox) == 0
    assert b'autoticket_purged_rows_total{table="inbox"} 1.0' in rt.telemetry.render()
