"""The Alembic migrations build exactly the schema store/tables.py declares."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from autoticket.store import metadata, migrate


def test_migrations_match_tables(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_migrate_is_idempotent(engine: Engine) -> None:
    migrate(engine)
    names = set(inspect(engine).get_table_names())
    assert {"inbox", "incidents", "outbox", "tickets", "alembic_version"} <= names


def test_one_open_incident_per_key_is_a_database_constraint(engine: Engine) -> None:
    from datetime import UTC, datetime

    import pytest
    from sqlalchemy import insert
    from sqlalchemy.exc import IntegrityError

    from autoticket.store.tables import incidents

    now = datetime.now(UTC)
    row = {
        "correlation_key": "k",
        "open_key": "k",
        "route": "r",
        "title": "t",
        "severity": 4,
        "priority": "P1",
        "status": "open",
        "opened_at": now,
        "updated_at": now,
        "group_labels": {},
        "context": {},
        "firing": 1,
        "alert_count": 1,
        "event_count": 1,
        "version": 1,
    }
    with engine.begin() as conn:
        conn.execute(insert(incidents).values(row))
        conn.execute(insert(incidents).values(row | {"open_key": None, "status": "resolved"}))
        conn.execute(insert(incidents).values(row | {"open_key": None, "status": "resolved"}))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(incidents).values(row))


def test_incident_lists_are_bounded_latest_timeline_first_kept(engine: Engine) -> None:
    from datetime import UTC, datetime, timedelta

    from autoticket.store.incidents import timeline_count, timeline_of
    from autoticket.store.timeline import add_entries, entry

    t0 = datetime(2026, 1, 5, tzinfo=UTC)
    with engine.begin() as conn:
        add_entries(conn, [entry(1, t0 + timedelta(minutes=i), "k", f"m{i}") for i in range(5)])
    with engine.connect() as conn:
        assert [r.message for r in timeline_of(conn, 1, limit=2)] == ["m3", "m4"]
        assert timeline_count(conn, 1) == 5
