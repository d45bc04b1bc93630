"""A storm of new correlation keys costs one insert per incident, not a read and a
savepoint as well: no per-key `reopenable` query (the keys are known never resolved)
and no SAVEPOINT, whose subtransactions each hold a PostgreSQL lock-table entry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Engine, event, func, select

from autoticket.config import Config
from autoticket.model import Delivery
from autoticket.store import inbox as inbox_store
from autoticket.store.tables import incidents
from conftest import process

KEYS = 300


def test_new_keys_take_no_savepoint_and_no_read_per_key(
    engine: Engine, config: Config, t0: datetime
) -> None:
    alerts = [{"labels": {"alertname": f"New{i:04d}"}} for i in range(KEYS)]
    body = orjson.dumps({"version": "4", "status": "firing", "alerts": alerts})
    delivery = Delivery("storm", "alertmanager", t0, body, {})
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(" ".join(statement.split()).upper())

    with engine.begin() as conn:
        inbox_store.append(conn, [(delivery, KEYS)])
    event.listen(engine, "before_cursor_execute", seen)
    try:
        with engine.begin() as conn:
            process(conn, config, [delivery], t0)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(incidents)).scalar_one() == KEYS
    assert not [s for s in statements if s.startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]
    reads = [s for s in statements if s.startswith("SELECT") and "FROM INCIDENTS" in s]
    assert len(reads) < 10, reads[:3]
