"""`autoticket migrate` is a deploy step of its own; `serve`/`worker` migrate the
embedded SQLite store themselves but only check a PostgreSQL schema, and refuse
to start, with what to do, when it is behind (unless --migrate)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import make_url, text
from typer.testing import CliRunner

from autoticket.cli import app
from autoticket.config import load_config
from autoticket.service.runtime import Runtime
from autoticket.store import make_engine, migrate
from autoticket.store.schema import SchemaNotReady, alembic_config, schema_state

runner = CliRunner()
_SCRIPT = ScriptDirectory.from_config(alembic_config())
HEAD = _SCRIPT.get_current_head()
BEHIND = _SCRIPT.get_revision(HEAD).down_revision  # one migration behind the head


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a database without any autoticket schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    base = request.getfixturevalue("pg_available")
    schema = f"m_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield (
            make_url(base)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _state(url: str) -> tuple[str | None, tuple[str, ...]]:
    engine = make_engine(url)
    try:
        state = schema_state(engine)
    finally:
        engine.dispose()
    return state.current, state.pending


def test_migrate_brings_an_empty_database_to_the_head_and_says_so(empty_url: str) -> None:
    result = runner.invoke(app, ["migrate", "--database-url", empty_url])
    assert result.exit_code == 0, result.output
    current, pending = _state(empty_url)
    assert pending == ()
    assert "schema at (none)" in result.output and f"now at {current}" in result.output
    again = runner.invoke(app, ["migrate", "--database-url", empty_url])
    assert again.exit_code == 0 and "up to date" in again.output


def test_check_reports_pending_migrations_and_changes_nothing(empty_url: str) -> None:
    engine = make_engine(empty_url)
    migrate(engine, BEHIND)
    engine.dispose()
    result = runner.invoke(app, ["migrate", "--check", "--database-url", empty_url])
    assert result.exit_code == 1, result.output
    assert f"schema at {BEHIND}" in result.output and f"pending: {HEAD}" in result.output
    assert _state(empty_url) == (BEHIND, (HEAD,))


def test_sql_prints_what_would_run_from_the_databases_revision(empty_url: str) -> None:
    engine = make_engine(empty_url)
    migrate(engine, BEHIND)
    engine.dispose()
    result = runner.invoke(app, ["migrate", "--sql", "--database-url", empty_url])
    assert result.exit_code == 0, result.output
    assert f"Running upgrade {BEHIND} -> {HEAD}" in result.output
    assert "CREATE TABLE incidents" not in result.output  # applied already
    assert _state(empty_url) == (BEHIND, (HEAD,))  # printed, not run


def test_sql_from_base_needs_no_database() -> None:
    url = "postgresql://nobody@127.0.0.1:1/none"  # nothing listens there
    result = runner.invoke(app, ["migrate", "--sql", "--from", "base", "--database-url", url])
    assert result.exit_code == 0, result.output
    assert "CREATE TABLE incidents" in result.output
    assert "BIGSERIAL" in result.output  # PostgreSQL's dialect


def test_a_runtime_that_may_not_migrate_refuses_a_schema_behind(empty_url: str) -> None:
    with pytest.raises(SchemaNotReady, match="no autoticket schema yet"):
        Runtime.from_url(load_config(None), empty_url, migrate_schema=False, start_worker=False)
    engine = make_engine(empty_url)
    migrate(engine, BEHIND)
    engine.dispose()
    with pytest.raises(SchemaNotReady, match=f"at revision {BEHIND}, this version needs {HEAD}"):
        Runtime.from_url(load_config(None), empty_url, migrate_schema=False, start_worker=False)
    runner.invoke(app, ["migrate", "--database-url", empty_url])
    rt = Runtime.from_url(load_config(None), empty_url, migrate_schema=False, start_worker=False)
    rt.engine.dispose()


def test_worker_on_postgresql_refuses_to_start_behind_unless_told_to_migrate(
    empty_url: str,
) -> None:
    if empty_url.startswith("sqlite"):
        result = runner.invoke(app, ["worker", "--no-migrate", "--database-url", empty_url])
    else:
        result = runner.invoke(app, ["worker", "--database-url", empty_url])
    assert result.exit_code == 2, result.output
    assert "database not ready" in result.output
    assert "run `autoticket migrate`" in result.output
    assert _state(empty_url)[0] is None  # nothing was created
