"""Where a database's schema stands against the migrations this version ships.

`autoticket migrate` brings a database to the newest revision (or prints the
SQL that would). `serve` and `worker` migrate the embedded SQLite store
themselves; on PostgreSQL they only check, so their database role needs no
schema rights: a schema that is behind stops them with `SchemaNotReady`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

__all__ = ["SchemaNotReady", "SchemaState", "check_schema", "migration_sql", "schema_state"]

_MIGRATIONS = Path(__file__).parent / "migrations"


class SchemaNotReady(Exception):
    """The schema is not at the revision this version needs; the message says what to do."""


@dataclass(frozen=True, slots=True)
class SchemaState:
    current: str | None  # None: no autoticket schema yet
    head: str
    pending: tuple[str, ...]  # revisions still to apply, oldest first

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head

    @property
    def known(self) -> bool:
        """False when the database is at a revision this version does not ship (newer)."""
        return self.current is None or self.current == self.head or bool(self.pending)


def alembic_config() -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    return cfg


def schema_state(engine: Engine) -> SchemaState:
    """Read the database's revision (read only) and what is left to apply."""
    script = ScriptDirectory.from_config(alembic_config())
    head = script.get_current_head()
    assert head is not None
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    revisions = [r.revision for r in script.walk_revisions("base", "head")][::-1]
    if current is None:
        pending = tuple(revisions)
    elif current in revisions:
        pending = tuple(revisions[revisions.index(current) + 1 :])
    else:
        pending = ()
    return SchemaState(current, head, pending)


def check_schema(engine: Engine) -> SchemaState:
    """The schema's state; `SchemaNotReady` when it is missing or behind."""
    state = schema_state(engine)
    if state.current is None:
        raise SchemaNotReady(
            f"the database has no autoticket schema yet (this version needs revision "
            f"{state.head}): run `autoticket migrate` with a role allowed to create "
            "tables, or start with --migrate"
        )
    if state.pending:
        raise SchemaNotReady(
            f"the database schema is at revision {state.current}, this version needs "
            f"{state.head} ({len(state.pending)} migration(s) to apply): run "
            "`autoticket migrate` with a role allowed to change the schema, or start "
            "with --migrate"
        )
    return state


def migration_sql(dialect: str, start: str | None, end: str = "head") -> str:
    """The SQL that migrating from `start` (None: an empty database) to `end` runs,
    for `dialect` (`postgresql`, `sqlite`), without touching any database."""
    cfg = alembic_config()
    out = io.StringIO()
    cfg.output_buffer = out
    cfg.attributes["offline_dialect"] = dialect
    command.upgrade(cfg, f"{start}:{end}" if start else end, sql=True)
    return out.getvalue()
