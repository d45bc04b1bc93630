"""The outage tracker: one line per state change, at most one reminder per interval."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from autoticket.store.outage import DatabaseHealth, detail_of, is_unavailable, reason_of


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _refused() -> OperationalError:
    orig = ConnectionRefusedError(
        'connection to server at "db.internal", port 5432 failed: Connection refused'
    )
    return OperationalError("SELECT secret FROM api_tokens", {"p": "hunter2"}, orig)


def _messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "autoticket.database"]


def test_one_line_down_reminders_per_interval_one_line_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="autoticket")
    ticks = Ticks()
    health = DatabaseHealth(remind_every=30, monotonic=ticks)
    health.available()  # nothing to say while it is up
    assert _messages(caplog) == []
    for second in range(95):  # a request every second for 95 s
        ticks.now = 1000.0 + second
        health.failed(_refused(), "api", refused=True)
        health.failed(_refused(), "worker")
    messages = _messages(caplog)
    assert len(messages) == 4, messages  # down at 0 s, reminders at 30, 60, 90 s
    assert messages[0].startswith("database unavailable (OperationalError: connection refused")
    assert "seen by api" in messages[0]
    assert messages[1] == (
        "database still unavailable after 30s (OperationalError: connection refused), "
        "31 requests refused so far"
    )
    assert messages[3].startswith("database still unavailable after 90s")
    assert health.down and health.reason == "OperationalError: connection refused"
    ticks.now = 1100.0
    health.available()
    health.available()
    assert _messages(caplog)[4:] == ["database available again after 100s, 95 requests refused"]
    assert not health.down and health.refused == 0
    assert all(r.exc_info is None for r in caplog.records)


def test_a_second_outage_starts_its_own_count(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="autoticket")
    ticks = Ticks()
    health = DatabaseHealth(monotonic=ticks)
    health.failed(_refused(), "api", refused=True)
    ticks.now += 5
    health.available()
    ticks.now += 5
    health.failed(_refused(), "worker")
    ticks.now += 2
    health.available()
    assert _messages(caplog)[-1] == "database available again after 2s, 0 requests refused"
    assert len(_messages(caplog)) == 4


def test_what_counts_as_unavailable() -> None:
    assert is_unavailable(_refused())
    assert is_unavailable(PoolTimeoutError("QueuePool limit of size 5 overflow 10 reached"))
    assert not is_unavailable(IntegrityError("INSERT", {}, ValueError("duplicate key")))
    assert not is_unavailable(ValueError("not a database error"))


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("database is locked", "OperationalError: database is locked"),
        ("unable to open database file", "OperationalError: database file cannot be opened"),
        ("server closed the connection unexpectedly", "OperationalError: connection lost"),
        ("FATAL: sorry, too many clients already", "OperationalError: too many connections"),
        ("something new", "OperationalError"),
    ],
)
def test_reasons_are_short_and_safe(message: str, reason: str) -> None:
    exc = OperationalError(
        "SELECT token_hash FROM api_tokens", {"secret": "s3"}, Exception(message)
    )
    assert reason_of(exc) == reason


def test_the_log_detail_has_no_sql_and_no_parameters() -> None:
    detail = detail_of(_refused())
    assert detail.startswith("ConnectionRefusedError: connection to server")
    assert "SELECT" not in detail and "hunter2" not in detail
