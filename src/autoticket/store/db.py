"""Engines and schema migration. No engine exists at import time."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.pool import StaticPool

from autoticket.store.sqlite_lock import locking_connection_class

__all__ = ["make_engine", "migrate", "read_only"]

READ_ONLY = "autoticket_read_only"
PG_CONNECT_TIMEOUT = 10  # seconds; a `connect_timeout` in the URL or connect_args wins


def read_only(engine: Engine) -> Connection:
    """A connection for queries only; on SQLite its transactions take no write lock."""
    return engine.connect().execution_options(**{READ_ONLY: True})


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine tuned for the backend.

    SQLite: WAL (readers never block the writer), synchronous=NORMAL (durable
    across process crashes, one fsync per checkpoint), and BEGIN IMMEDIATE so
    two writers queue on the lock instead of deadlocking on upgrade. Writers
    of one engine queue on a Python lock first (see `sqlite_lock`), so a
    waiting writer starts the moment the last one commits.
    """
    if url.startswith("sqlite"):
        in_memory = url in ("sqlite://", "sqlite:///:memory:")
        opts: dict[str, Any] = {
            "connect_args": {
                "check_same_thread": False,
                "timeout": 30,
                "factory": locking_connection_class(),
            },
            "json_serializer": _json_dumps,
            "json_deserializer": orjson.loads,
        }
        if in_memory:
            opts["poolclass"] = StaticPool
        engine = create_engine(url, **opts, **kwargs)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            if not in_memory:
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            # Readers (see read_only) take no write lock: WAL lets them run
            # beside the writer instead of queueing behind it.
            if conn.get_execution_options().get(READ_ONLY, False):
                conn.exec_driver_sql("BEGIN")
                return
            dbapi_conn = conn.connection.dbapi_connection  # a LockingConnection
            dbapi_conn.begin_write()
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                dbapi_conn.end_write()
                raise

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    # A server that drops packets would otherwise hold each connect for minutes
    # (the kernel's SYN retries), and every request behind it: say 503 sooner.
    if "connect_timeout" not in make_url(url).query:
        kwargs["connect_args"] = {
            "connect_timeout": PG_CONNECT_TIMEOUT,
            **kwargs.get("connect_args", {}),
        }
    return create_engine(
        url,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
        pool_pre_ping=True,
        **kwargs,
    )


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision`: the newest unless a test asks for an older one.

    On PostgreSQL the migration first takes an advisory lock, so processes
    started together with --migrate apply it once, one after the other.
    """
    from alembic import command

    from autoticket.store.schema import alembic_config

    cfg = alembic_config()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(_LOCK_MIGRATIONS, {"ns": _MIGRATE_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


# The advisory lock of migrations: apart from the correlation-key slots (store/locks.py).
_MIGRATE_LOCK = 0x41544D  # "ATM"
_LOCK_MIGRATIONS = text("SELECT pg_advisory_xact_lock(CAST(:ns AS integer), 0)")
