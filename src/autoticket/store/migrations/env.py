"""Alembic environment: run against a connection handed in by the caller, or
offline (`autoticket migrate --sql`) to print the SQL for a dialect."""

from __future__ import annotations

from alembic import context

from autoticket.store.tables import metadata

attributes = context.config.attributes

if context.is_offline_mode():
    dialect = attributes.get("offline_dialect")
    if dialect is None:
        raise RuntimeError("offline migrations need a dialect: autoticket migrate --sql")
    context.configure(
        dialect_name=dialect,
        target_metadata=metadata,
        render_as_batch=True,
        literal_binds=True,
    )
else:
    connection = attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through autoticket.store.db.migrate(engine)")
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)

with context.begin_transaction():
    context.run_migrations()
