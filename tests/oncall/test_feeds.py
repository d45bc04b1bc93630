"""iCalendar layers: RRULE and EXDATE recurrences across DST, from a file or a cached URL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from autoticket.oncall import Calendars, on_call
from autoticket.oncall.settings import Schedule

# Weekly shifts, Monday 09:00 Berlin time, alternating by two rules; the shift of
# 2026-03-30 (right after the spring change) is cancelled by EXDATE, so the base
# layer answers then. A floating-free, TZID'd calendar as Google and Outlook export.
ICS = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//autoticket tests//EN
BEGIN:VEVENT
UID:ann-weekly@example.com
DTSTAMP:20260101T000000Z
DTSTART;TZID=Europe/Berlin:20260309T090000
DTEND;TZID=Europe/Berlin:20260316T090000
RRULE:FREQ=WEEKLY;INTERVAL=2
EXDATE;TZID=Europe/Berlin:20260406T090000
SUMMARY:On call: ann
END:VEVENT
BEGIN:VEVENT
UID:bob-weekly@example.com
DTSTAMP:20260101T000000Z
DTSTART;TZID=Europe/Berlin:20260316T090000
DTEND;TZID=Europe/Berlin:20260323T090000
RRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=3
EXDATE;TZID=Europe/Berlin:20260330T090000
ATTENDEE;CN=Bob:mailto:bob@example.com
SUMMARY:On call: Bob
END:VEVENT
END:VCALENDAR
"""


def _schedule(feed: dict[str, str]) -> Schedule:
    return Schedule.model_validate(
        {
            "time_zone": "Europe/Berlin",
            "layers": [
                {"name": "base", "users": ["base"], "start": "2026-01-01T00:00"},
                {"name": "calendar", "ical": {**feed, "summary_prefix": "On call:"}},
            ],
        }
    )


@pytest.fixture
def ics_file(tmp_path: Path) -> Path:
    path = tmp_path / "oncall.ics"
    path.write_text(ICS)
    return path


def _user(schedule: Schedule, calendars: Calendars, at: datetime) -> tuple[str | None, str | None]:
    answer = on_call("s", schedule, at, calendars)
    return answer.user, answer.source


def test_recurrences_exdates_and_dst_from_a_file(ics_file: Path, tmp_path: Path) -> None:
    schedule = _schedule({"path": str(ics_file)})
    calendars = Calendars(folder=tmp_path / "cache")
    # 2026-03-09 09:00 CET = 08:00Z: ann's first shift.
    assert _user(schedule, calendars, datetime(2026, 3, 9, 7, 59, tzinfo=UTC)) == (
        "base",
        "rotation",
    )
    assert _user(schedule, calendars, datetime(2026, 3, 9, 8, 0, tzinfo=UTC)) == ("ann", "ical")
    # Bob by ATTENDEE (mailto: dropped), ann by SUMMARY less the prefix.
    assert _user(schedule, calendars, datetime(2026, 3, 18, tzinfo=UTC)) == (
        "bob@example.com",
        "ical",
    )
    # ann's shift of 03-23 ends at 09:00 CEST (07:00Z) on 03-30, after the spring change.
    assert _user(schedule, calendars, datetime(2026, 3, 30, 6, 59, tzinfo=UTC)) == ("ann", "ical")
    # Bob's occurrence of 03-30 is an EXDATE: the base layer answers.
    assert _user(schedule, calendars, datetime(2026, 3, 30, 7, 0, tzinfo=UTC)) == (
        "base",
        "rotation",
    )
    # ann's occurrence of 04-06 is an EXDATE too; bob's rule ended (COUNT=3) on 04-13.
    assert _user(schedule, calendars, datetime(2026, 4, 7, tzinfo=UTC))[0] == "base"
    assert _user(schedule, calendars, datetime(2026, 4, 14, tzinfo=UTC))[0] == "bob@example.com"
    assert _user(schedule, calendars, datetime(2026, 4, 21, tzinfo=UTC))[0] == "ann"
    assert _user(schedule, calendars, datetime(2026, 4, 28, tzinfo=UTC))[0] == "base"


def test_a_url_feed_is_cached_and_used_offline(tmp_path: Path) -> None:
    url = "https://calendar.example/oncall.ics"
    served = {"up": True}

    def handler(request: httpx.Request) -> httpx.Response:
        assert str(request.url) == url
        return httpx.Response(200, text=ICS) if served["up"] else httpx.Response(503)

    client = httpx.Client(transport=httpx.MockTransport(handler))
    schedule = _schedule({"url": url})
    at = datetime(2026, 3, 10, tzinfo=UTC)
    online = Calendars(client, folder=tmp_path)
    assert online.refresh(schedule.layers[1].ical) is None  # type: ignore[arg-type]
    assert _user(schedule, online, at) == ("ann", "ical")
    # Offline: a failed refresh keeps the copy in memory and says why.
    served["up"] = False
    error = online.refresh(schedule.layers[1].ical)  # type: ignore[arg-type]
    assert error is not None and "HTTP 503" in error
    assert _user(schedule, online, at) == ("ann", "ical")
    # A new process that cannot fetch starts from the cached copy on disk.
    restarted = Calendars(client, folder=tmp_path)
    assert restarted.refresh(schedule.layers[1].ical) is not None  # type: ignore[arg-type]
    assert _user(schedule, restarted, at) == ("ann", "ical")


def test_answering_never_fetches(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("fetched while answering")

    calendars = Calendars(httpx.Client(transport=httpx.MockTransport(handler)), folder=tmp_path)
    schedule = _schedule({"url": "https://calendar.example/none.ics"})
    answer = on_call("s", schedule, datetime(2026, 3, 10, tzinfo=UTC), calendars)
    assert (answer.user, answer.layer) == ("base", "base")
    assert "no shift in its feed" in answer.reason


def test_a_broken_file_is_reported_and_the_lower_layer_answers(tmp_path: Path) -> None:
    path = tmp_path / "broken.ics"
    path.write_text("this is not a calendar")
    calendars = Calendars(folder=tmp_path)
    schedule = _schedule({"path": str(path)})
    answer = on_call("s", schedule, datetime(2026, 3, 10, tzinfo=UTC), calendars)
    assert answer.user == "base"
    assert "not an iCalendar file" in answer.reason
