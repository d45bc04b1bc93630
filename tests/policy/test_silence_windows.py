"""Which silence covers an alert, and until when: time ranges, weekly maintenance
windows in their own zone (across daylight-saving changes), matchers, config errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from autoticket.checks import check_config_text
from autoticket.config import parse_config_text
from autoticket.policy.silences import Silence, config_silences, covering

MAINTENANCE = """
routes: [{name: default}]
maintenance:
  - name: db-weekly
    matchers: ['service="db"']
    every: {days: [sun], start: "02:30", duration: 2h, timezone: Europe/Berlin}
    comment: vacuum
  - name: nightly
    matchers: ['service="batch"']
    every: {start: "23:00", duration: 3h, timezone: America/New_York}
  - name: one-off
    matchers: ['cluster="eu-1"']
    starts_at: 2026-02-01T00:00:00Z
    ends_at: 2026-02-01T06:00:00Z
silences:
  - name: forever
    matchers: ['service="legacy"']
"""


def _book() -> tuple[Silence, ...]:
    return config_silences(parse_config_text(MAINTENANCE))


def _until(labels: dict[str, str], at: datetime) -> datetime | None:
    hit = covering(_book(), labels, at)
    return hit.until if hit is not None else None


def test_a_weekly_window_follows_local_time_across_daylight_saving() -> None:
    db = {"service": "db"}
    # Winter (CET, UTC+1): Sunday 02:30 local is 01:30 UTC, for two hours.
    winter = datetime(2026, 1, 4, 1, 30, tzinfo=UTC)
    assert _until(db, winter - timedelta(seconds=1)) is None
    assert _until(db, winter) == winter + timedelta(hours=2)
    assert _until(db, winter + timedelta(hours=2)) is None
    # Summer (CEST, UTC+2): the same local time is 00:30 UTC.
    summer = datetime(2026, 7, 5, 0, 30, tzinfo=UTC)
    assert _until(db, summer) == summer + timedelta(hours=2)
    assert _until(db, summer - timedelta(hours=1) + timedelta(minutes=59)) is None
    # 2026-03-29, the change itself: 02:30 does not exist; the clock reads 03:30 (CEST),
    # 01:30 UTC, and the window still lasts two real hours.
    change = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert _until(db, change) == change + timedelta(hours=2)
    # Only Sundays, only the db.
    assert _until(db, winter + timedelta(days=1)) is None
    assert _until({"service": "api"}, winter) is None


def test_a_window_that_runs_past_midnight_covers_the_next_morning() -> None:
    batch = {"service": "batch"}
    # 23:00 EST (UTC-5) on Jan 5 is 04:00 UTC on Jan 6, until 07:00 UTC.
    assert _until(batch, datetime(2026, 1, 6, 6, 59, tzinfo=UTC)) == datetime(
        2026, 1, 6, 7, 0, tzinfo=UTC
    )
    assert _until(batch, datetime(2026, 1, 6, 7, 0, tzinfo=UTC)) is None
    assert _until(batch, datetime(2026, 1, 6, 3, 59, tzinfo=UTC)) is None


def test_one_off_windows_and_open_ended_silences() -> None:
    start = datetime(2026, 2, 1, tzinfo=UTC)
    assert _until({"cluster": "eu-1"}, start) == start + timedelta(hours=6)
    assert _until({"cluster": "eu-1"}, start - timedelta(seconds=1)) is None
    hit = covering(_book(), {"service": "legacy"}, start)
    assert hit is not None and hit.open_ended
    assert hit.silence.describe() == "silence config:forever by config"


def test_the_longest_covering_silence_wins() -> None:
    at = datetime(2026, 2, 1, 1, 0, tzinfo=UTC)
    hit = covering(_book(), {"cluster": "eu-1", "service": "legacy"}, at)
    assert hit is not None and hit.silence.id == "config:forever"


@pytest.mark.parametrize(
    ("entry", "path", "message"),
    [
        ("matchers: []", "silences.0.matchers", "at least one matcher"),
        ("matchers: ['a=~\"((\"']", "silences.0.matchers.0", "invalid regex"),
        ("matchers: ['a']", "silences.0.matchers.0", "invalid matcher"),
        (
            "matchers: ['a=\"b\"']\n    starts_at: 2026-01-02T00:00:00Z\n"
            "    ends_at: 2026-01-01T00:00:00Z",
            "silences.0",
            "ends_at must be after starts_at",
        ),
        (
            "matchers: ['a=\"b\"']\n    ends_at: 2026-01-01T00:00:00",
            "silences.0.ends_at",
            "give a time zone",
        ),
    ],
)
def test_config_errors_name_the_field_and_line(entry: str, path: str, message: str) -> None:
    text = f"routes: [{{name: default}}]\nsilences:\n  - name: x\n    {entry}\n"
    report = check_config_text(text, "c.yaml")
    [problem] = report.errors
    assert problem.path == path and message in problem.message and problem.line is not None


def test_maintenance_needs_a_schedule_and_names_are_unique() -> None:
    text = (
        "routes: [{name: default}]\n"
        "maintenance:\n  - name: m\n    matchers: ['a=\"b\"']\n"
        "    every: {start: '25:00', duration: 1h}\n"
    )
    [problem] = check_config_text(text, "c.yaml").errors
    assert problem.path == "maintenance.0.every.start" and "time of day" in problem.message
    text = "routes: [{name: default}]\nmaintenance:\n  - name: m\n    matchers: ['a=\"b\"']\n"
    [problem] = check_config_text(text, "c.yaml").errors
    assert "give `every`" in problem.message
    text = (
        "routes: [{name: default}]\nsilences:\n  - {name: m, matchers: ['a=\"b\"']}\n"
        "maintenance:\n  - name: m\n    matchers: ['a=\"b\"']\n"
        "    every: {start: '01:00', duration: 1h}\n"
    )
    [problem] = check_config_text(text, "c.yaml").errors
    assert problem.path == "maintenance.0.name" and problem.line == 5
