"""Who a schedule puts on call: layers, restrictions, overrides, and DST in two zones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from autoticket.oncall import who_is_on_call
from autoticket.oncall.settings import Schedule


def _schedule(**fields: Any) -> Schedule:
    return Schedule.model_validate(fields)


def _who(schedule: Schedule, at: str) -> tuple[str | None, str | None, str | None]:
    answer = who_is_on_call({"s": schedule}, "s", datetime.fromisoformat(at))
    assert answer is not None
    return answer.user, answer.layer, answer.source


BUSINESS_HOURS = [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}]


def test_a_higher_layer_overrides_a_lower_one_only_inside_its_restriction() -> None:
    schedule = _schedule(
        time_zone="UTC",
        layers=[
            {"name": "primary", "users": ["ann", "bob"], "rotation": "weekly",
             "start": "2026-01-05T09:00"},
            {"name": "business", "users": ["cat"], "rotation": "daily",
             "start": "2026-01-05T09:00", "restrictions": BUSINESS_HOURS},
        ],
    )  # fmt: skip
    assert _who(schedule, "2026-01-06T10:00:00Z") == ("cat", "business", "rotation")
    assert _who(schedule, "2026-01-06T17:00:00Z") == ("ann", "primary", "rotation")  # end excluded
    assert _who(schedule, "2026-01-06T08:59:00Z") == ("ann", "primary", "rotation")
    assert _who(schedule, "2026-01-10T12:00:00Z") == ("ann", "primary", "rotation")  # Saturday
    assert _who(schedule, "2026-01-12T09:00:00Z") == ("cat", "business", "rotation")
    assert _who(schedule, "2026-01-12T08:59:59Z") == ("ann", "primary", "rotation")
    assert _who(schedule, "2026-01-12T17:30:00Z") == ("bob", "primary", "rotation")  # next week


def test_before_any_layer_starts_nobody_is_on_call_and_the_reason_says_why() -> None:
    schedule = _schedule(
        layers=[{"name": "primary", "users": ["ann"], "start": "2026-01-05T09:00"}]
    )
    answer = who_is_on_call({"s": schedule}, "s", datetime(2026, 1, 1, tzinfo=UTC))
    assert answer is not None and answer.user is None
    assert "starts later" in answer.reason


def test_overrides_beat_every_layer_and_a_later_override_corrects_an_earlier_one() -> None:
    schedule = _schedule(
        time_zone="Europe/Berlin",
        layers=[{"name": "primary", "users": ["ann"], "start": "2026-01-05T09:00"}],
        overrides=[
            {"user": "dan", "start": "2026-02-01T00:00", "end": "2026-02-03T00:00"},
            {"user": "eve", "start": "2026-02-02T12:00+01:00", "end": "2026-02-02T14:00+01:00"},
        ],
    )
    # Naive override times are in the schedule's zone: 00:00 Berlin is 23:00 UTC.
    assert _who(schedule, "2026-01-31T22:59:00Z") == ("ann", "primary", "rotation")
    assert _who(schedule, "2026-01-31T23:00:00Z") == ("dan", None, "override")
    assert _who(schedule, "2026-02-02T11:30:00Z") == ("eve", None, "override")
    assert _who(schedule, "2026-02-02T13:00:00Z") == ("dan", None, "override")
    assert _who(schedule, "2026-02-02T23:00:00Z") == ("ann", "primary", "rotation")


def test_an_overnight_restriction_runs_past_midnight() -> None:
    schedule = _schedule(
        time_zone="America/New_York",
        layers=[
            {"name": "day", "users": ["ann"], "start": "2026-01-05T00:00"},
            {"name": "night", "users": ["nic"], "start": "2026-01-05T00:00",
             "restrictions": [{"days": ["fri"], "start": "22:00", "end": "06:00"}]},
        ],
    )  # fmt: skip
    # Friday 2026-01-09 22:00 EST = 03:00 UTC Saturday; it ends Saturday 06:00 EST.
    assert _who(schedule, "2026-01-10T02:59:00Z")[0] == "ann"
    assert _who(schedule, "2026-01-10T03:00:00Z")[0] == "nic"
    assert _who(schedule, "2026-01-10T10:59:00Z")[0] == "nic"
    assert _who(schedule, "2026-01-10T11:00:00Z")[0] == "ann"
    # A Saturday night is not in the window.
    assert _who(schedule, "2026-01-11T03:30:00Z")[0] == "ann"


# Spring and fall changes in 2026: Berlin on 03-29 and 10-25 (02:00/03:00 local),
# New York on 03-08 and 11-01 (02:00 local).
DST_CASES = [
    # zone, the day before the change, hours of that day's 09:00-09:00 shift
    ("Europe/Berlin", "2026-03-28", 23),
    ("Europe/Berlin", "2026-10-24", 25),
    ("America/New_York", "2026-03-07", 23),
    ("America/New_York", "2026-10-31", 25),
]


@pytest.mark.parametrize(("zone", "day", "hours"), DST_CASES)
def test_a_daily_handoff_stays_at_local_nine_across_the_change(
    zone: str, day: str, hours: int
) -> None:
    schedule = _schedule(
        time_zone=zone,
        layers=[{"name": "daily", "users": ["ann", "bob"], "rotation": "daily",
                 "start": f"{day}T09:00"}],
    )  # fmt: skip
    start = datetime.fromisoformat(f"{day}T09:00").replace(tzinfo=ZoneInfo(zone))
    answer = who_is_on_call({"s": schedule}, "s", start + timedelta(hours=1))
    assert answer is not None and answer.user == "ann"
    assert answer.shift_start == start
    assert answer.shift_end is not None
    # (in UTC: subtracting two times of one zone gives the wall-clock difference)
    length = answer.shift_end.astimezone(UTC) - answer.shift_start.astimezone(UTC)
    assert length == timedelta(hours=hours)
    # The next shift begins at 09:00 local on the day of the change, not 24 h later.
    handoff = answer.shift_end
    assert handoff.astimezone(handoff.tzinfo).hour == 9
    before = who_is_on_call({"s": schedule}, "s", handoff - timedelta(seconds=1))
    after = who_is_on_call({"s": schedule}, "s", handoff)
    assert before is not None and before.user == "ann"
    assert after is not None and after.user == "bob"


@pytest.mark.parametrize(
    ("zone", "before", "after", "utc_before", "utc_after"),
    [
        # Business hours 09:00-17:00 local start at 08:00Z the Monday before Berlin's
        # spring change and at 07:00Z the Monday after; in New York at 14:00Z, then
        # 13:00Z; in the fall the other way round.
        ("Europe/Berlin", "2026-03-23", "2026-03-30", 8, 7),
        ("Europe/Berlin", "2026-10-19", "2026-10-26", 7, 8),
        ("America/New_York", "2026-03-02", "2026-03-09", 14, 13),
        ("America/New_York", "2026-10-26", "2026-11-02", 13, 14),
    ],
)
def test_business_hours_follow_local_time_across_the_changes(
    zone: str, before: str, after: str, utc_before: int, utc_after: int
) -> None:
    schedule = _schedule(
        time_zone=zone,
        layers=[
            {"name": "base", "users": ["ann"], "start": "2026-01-01T00:00"},
            {"name": "business", "users": ["cat"], "rotation": "daily",
             "start": "2026-01-01T09:00", "restrictions": BUSINESS_HOURS},
        ],
    )  # fmt: skip
    for day, hour in ((before, utc_before), (after, utc_after)):
        at = datetime.fromisoformat(f"{day}T{hour:02d}:00:00+00:00")
        assert _who(schedule, at.isoformat())[0] == "cat"
        assert _who(schedule, (at - timedelta(minutes=1)).isoformat())[0] == "ann"
        end = at + timedelta(hours=8)  # 17:00 local
        assert _who(schedule, (end - timedelta(minutes=1)).isoformat())[0] == "cat"
        assert _who(schedule, end.isoformat())[0] == "ann"


def test_a_window_in_the_repeated_or_skipped_hour() -> None:
    """Berlin, Sunday 02:00-03:00 local: twice as long on 2026-10-25 (the hour
    repeats), absent on 2026-03-29 (the hour is skipped)."""
    schedule = _schedule(
        time_zone="Europe/Berlin",
        layers=[
            {"name": "base", "users": ["ann"], "start": "2026-01-01T00:00"},
            {"name": "night", "users": ["nic"], "start": "2026-01-01T00:00",
             "restrictions": [{"days": ["sun"], "start": "02:00", "end": "03:00"}]},
        ],
    )  # fmt: skip
    fall = ["2026-10-24T23:59:00Z", "2026-10-25T00:00:00Z", "2026-10-25T01:30:00Z",
            "2026-10-25T02:00:00Z"]  # fmt: skip
    assert [_who(schedule, at)[0] for at in fall] == ["ann", "nic", "nic", "ann"]
    spring = ["2026-03-29T00:30:00Z", "2026-03-29T01:00:00Z", "2026-03-29T01:30:00Z"]
    assert [_who(schedule, at)[0] for at in spring] == ["ann", "ann", "ann"]


def test_an_hourly_rotation_counts_elapsed_hours_through_the_fall_change() -> None:
    schedule = _schedule(
        time_zone="Europe/Berlin",
        layers=[{"name": "12h", "users": ["ann", "bob"], "rotation": "12h",
                 "start": "2026-10-24T08:00"}],
    )  # fmt: skip
    # 08:00 CEST = 06:00Z; shifts of 12 real hours: 18:00Z on the 24th, 06:00Z on the
    # 25th — which after the change is 07:00 CET local.
    answer = who_is_on_call({"s": schedule}, "s", datetime(2026, 10, 25, 6, 30, tzinfo=UTC))
    assert answer is not None and answer.user == "ann"
    assert answer.shift_start == datetime(2026, 10, 25, 6, tzinfo=UTC)
    assert answer.shift_end == datetime(2026, 10, 25, 18, tzinfo=UTC)


def test_a_time_without_offset_is_refused() -> None:
    schedule = _schedule(layers=[{"name": "p", "users": ["ann"], "start": "2026-01-05T09:00"}])
    with pytest.raises(ValueError, match="UTC offset"):
        who_is_on_call({"s": schedule}, "s", datetime(2026, 1, 6, 12))
