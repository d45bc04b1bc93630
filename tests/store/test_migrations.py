"""The Alembic migrations build exactly the schema store/tables.py declares."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

from autoticket.store import db, metadata, migrate


def test_migrations_match_tables(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_migrate_is_idempotent(engine: Engine) -> None:
    migrate(engine)
    names = set(inspect(engine).get_table_names())
    assert names == set(metadata.tables) | {"alembic_version"}
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [
            _head()
        ]


def test_every_column_with_its_type_nullability_and_key(engine: Engine) -> None:
    inspector = inspect(engine)
    for table in metadata.sorted_tables:
        found = {c["name"]: c for c in inspector.get_columns(table.name)}
        assert list(found) == [c.name for c in table.columns], table.name
        for column in table.columns:
            assert found[column.name]["nullable"] == column.nullable, (table.name, column.name)
            expected = column.type.dialect_impl(engine.dialect)._type_affinity
            actual = found[column.name]["type"]._type_affinity
            assert issubclass(actual, expected) or issubclass(expected, actual), (
                table.name,
                column.name,
                actual,
                expected,
            )
        pk = inspector.get_pk_constraint(table.name)["constrained_columns"]
        assert pk == [c.name for c in table.primary_key.columns], table.name


def test_indexes_and_unique_constraints(engine: Engine) -> None:
    inspector = inspect(engine)
    for table in metadata.sorted_tables:
        found = {i["name"]: i for i in inspector.get_indexes(table.name)}
        for index in table.indexes:
            assert index.name in found, (table.name, index.name)
            got = found[index.name]
            assert got["column_names"] == [c.name for c in index.columns], index.name
            assert bool(got["unique"]) == bool(index.unique), index.name
    uniques = {
        tuple(u["column_names"]) for u in inspector.get_unique_constraints("ticket_refs")
    } | {tuple(i["column_names"]) for i in inspector.get_indexes("ticket_refs") if i["unique"]}
    assert ("ticket_id", "sink") in uniques
    outbox_unique = {
        tuple(u["column_names"]) for u in inspector.get_unique_constraints("outbox")
    } | {tuple(i["column_names"]) for i in inspector.get_indexes("outbox") if i["unique"]}
    assert ("idempotency_key",) in outbox_unique


def test_open_key_index_is_unique_and_partial(engine: Engine) -> None:
    """Only open incidents take part: resolved ones (open_key NULL) may share a key."""
    [index] = [i for i in inspect(engine).get_indexes("incidents") if i["name"] == OPEN_INDEX]
    assert index["unique"] and index["column_names"] == ["open_key"]
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            query = "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :n"
        else:
            query = (  # other schemas (parallel tests) hold indexes of that name too
                "SELECT indexdef FROM pg_indexes"
                " WHERE indexname = :n AND schemaname = current_schema()"
            )
        definition = conn.execute(text(query), {"n": OPEN_INDEX}).scalar_one()
    assert "WHERE open_key IS NOT NULL" in definition.replace("(", ""), definition


def test_downgrade_and_upgrade_round_trip(engine: Engine) -> None:
    with engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "0001")
    alert_columns = {c["name"] for c in inspect(engine).get_columns("alerts")}
    assert {"active_since", "resolved_since"}.isdisjoint(alert_columns)
    assert "fingerprint" in alert_columns
    with engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "base")
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    migrate(engine)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    test_open_key_index_is_unique_and_partial(engine)


OPEN_INDEX = "uq_incidents_open_key"


def _alembic_config(conn: Connection) -> AlembicConfig:
    """The configuration `migrate` uses, for the commands it does not offer."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(Path(db.__file__).parent / "migrations"))
    cfg.attributes["connection"] = conn
    return cfg


def _head() -> str:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(Path(db.__file__).parent / "migrations"))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


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
