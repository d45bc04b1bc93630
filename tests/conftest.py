"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL tests get a schema of their own (search_path), so they can run
side by side and leave nothing behind. Without a reachable PostgreSQL they
skip, unless AUTOTICKET_REQUIRE_SERVICES=1 (CI), where they fail.
"""

from __future__ import annotations

import functools
import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from sqlalchemy import Connection, Engine, select, text

from autoticket.config import Config, load_config
from autoticket.engine.round import BatchOutcome, Round
from autoticket.model import Delivery
from autoticket.pipeline.runner import build_pipeline
from autoticket.sinks.outbox import Dispatcher
from autoticket.store import make_engine, migrate

# CI runs the fuzz tests on a fixed sequence of examples, so a run is
# reproducible and landing never hangs on a lucky draw; local runs keep
# exploring new examples (and Hypothesis replays any failure it found).
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI") == "true":
    settings.load_profile("ci")

PG_URL = os.environ.get("AUTOTICKET_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_SERVICES = os.environ.get("AUTOTICKET_REQUIRE_SERVICES") == "1"
EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "autoticket" / "examples"


def _unavailable(what: str, exc: Exception) -> None:
    message = f"{what} is not reachable: {type(exc).__name__}: {exc}"
    if REQUIRE_SERVICES:
        pytest.fail(message + " (AUTOTICKET_REQUIRE_SERVICES=1)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg_available() -> str:
    try:
        engine = make_engine(PG_URL)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        _unavailable("PostgreSQL", exc)
    return PG_URL


def _pg_engine(base_url: str) -> Iterator[Engine]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(
        base_url, connect_args={"options": f"-csearch_path={schema}"}, pool_size=10, max_overflow=20
    )
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty SQLite file, made once per session.

    Each test copies it instead of migrating its own: running the migrations
    costs about 80 ms a test, copying the file about 1 ms, and `make mutate`
    runs the database tests once per mutant.
    """
    path = tmp_path_factory.mktemp("sqlite-template") / "autoticket.db"
    eng = make_engine(f"sqlite:///{path}")
    migrate(eng)
    eng.dispose()  # the last connection to close checkpoints the WAL into the file
    assert not path.with_name(path.name + "-wal").exists(), "the template must be one file"
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty database of each kind."""
    if request.param == "sqlite":
        path = tmp_path / "autoticket.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        eng = make_engine(f"sqlite:///{path}")
        yield eng
        eng.dispose()
    else:
        base = request.getfixturevalue("pg_available")
        for eng in _pg_engine(base):
            migrate(eng)
            yield eng


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[tuple[Any, int]]:
    """One real SMTP server (aiosmtpd on 127.0.0.1) per test run: (its Inbox, port).

    For the tests under tests/sinks, whose directory holds the `fakes` package.
    """
    from fakes.smtp import Inbox, start

    inbox = Inbox()
    controller, port = start(inbox)
    yield inbox, port
    controller.stop()


@pytest.fixture
def pg_engine(pg_available: str) -> Iterator[Engine]:
    """A migrated, empty PostgreSQL database, for what only PostgreSQL can do
    (several writers at once, row locks)."""
    for eng in _pg_engine(pg_available):
        migrate(eng)
        yield eng


@functools.cache
def _bundled_config() -> Config:
    return load_config(None)


@pytest.fixture
def config() -> Config:
    """The bundled example config: parsed once per process, a deep copy per test
    (tests change it freely). Parsing the YAML costs about 20 ms, the copy under
    1 ms, and `make mutate` runs the tests that use it once per mutant."""
    return _bundled_config().model_copy(deep=True)


@pytest.fixture
def t0() -> datetime:
    return datetime(2026, 1, 5, 10, 0, 0, tzinfo=UTC)


def token_headers(engine: Engine, name: str = "admin", role: str = "admin") -> dict[str, str]:
    """A new API token for `name` with `role`, as request headers. Creating one
    ends the anonymous mode: from then on every read needs a token too."""
    from autoticket.store.tokens import create_token

    with engine.begin() as conn:
        _, secret = create_token(conn, name, role, datetime.now(UTC))
    return {"authorization": f"Bearer {secret}"}


def am_alert(
    alertname: str = "HighErrorRate",
    status: str = "firing",
    severity: str = "critical",
    service: str = "checkout",
    environment: str = "prod",
    starts_at: str = "2026-01-05T09:59:00Z",
    ends_at: str = "2026-01-05T10:00:30Z",
    **labels: str,
) -> dict[str, object]:
    """One alert of an Alertmanager webhook (v4) payload.

    As with Prometheus, an episode that fires again after its resolution has a
    new `starts_at`, later than the `ends_at` of the resolution.
    """
    return {
        "status": status,
        "labels": {
            "alertname": alertname,
            "severity": severity,
            "service": service,
            "environment": environment,
            **labels,
        },
        "annotations": {"summary": f"{alertname} on {service}"},
        "startsAt": starts_at,
        "endsAt": ends_at if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example:9090/graph",
        "fingerprint": "0123456789abcdef",
    }


def am_payload(*alerts: dict[str, object], status: str | None = None) -> dict[str, object]:
    """A whole webhook notification around `alerts`."""
    if status is None:
        status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    return {
        "version": "4",
        "groupKey": '{}:{alertname="HighErrorRate"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "autoticket",
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": list(alerts),
    }


def process(
    conn: Connection, config: Config, deliveries: list[Delivery], now: datetime
) -> BatchOutcome:
    """One pipeline batch stored in `conn`'s transaction, as the engine's round does it."""
    engine_round = Round(conn.engine, config, build_pipeline(config), Dispatcher())
    return engine_round.process(conn, deliveries, now)


def opened_titles(engine: Engine) -> list[str]:
    """The titles of the tickets the built-in store was asked to open, in order."""
    from autoticket.store.tables import outbox

    with engine.connect() as conn:
        query = (
            select(outbox.c.payload)
            .where(outbox.c.action == "open", outbox.c.sink == "builtin")
            .order_by(outbox.c.id)
        )
        return [str(dict(p)["title"]) for p in conn.execute(query).scalars()]
