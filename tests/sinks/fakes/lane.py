"""Alerts in through the real pipeline (in this thread), out through one real lane
round to a fake tracker: no server, no threads, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime

import httpx
import orjson
from sqlalchemy import Engine, select

from autoticket.clock import FixedClock
from autoticket.config import Config, parse_config_text
from autoticket.model import Delivery
from autoticket.sinks import Dispatcher, Sink, build_sinks
from autoticket.sinks.external import Lane
from autoticket.store.tables import outbox
from conftest import am_payload, process


def config_with(name: str, settings: str) -> Config:
    return parse_config_text(
        f"sinks:\n  {name}: {settings}\n"
        "routes:\n  - {name: default, group_by: [alertname, service],"
        f" sinks: [builtin, {name}]}}\n"
    )


def deliver(
    engine: Engine,
    t0: datetime,
    config: Config,
    name: str,
    transport: httpx.MockTransport,
    env: dict[str, str],
    alerts: list[dict[str, object]],
) -> list[tuple[str, str, str | None]]:
    """Ingest `alerts` (one delivery), run the sink's lane once; (action, status, ref) per row."""
    sink = build_sinks(config, httpx.Client(transport=transport), env=env)[name]
    assert isinstance(sink, Sink)
    with engine.begin() as conn:
        body = orjson.dumps(am_payload(*alerts))
        process(conn, config, [Delivery(f"d-{t0.timestamp()}", "alertmanager", t0, body, {})], t0)
        Dispatcher().dispatch_due(conn, t0)
    Lane(engine, sink, FixedClock(t0), after=("builtin",)).run_once()
    with engine.connect() as conn:
        rows = conn.execute(select(outbox).where(outbox.c.sink == name).order_by(outbox.c.id))
        return [(r.action, r.status, r.external_ref) for r in rows]
