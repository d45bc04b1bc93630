"""The config of on-call schedules and escalation policies (docs/oncall.md).

Kept apart from `autoticket.config` so that config only gains two maps; this
module imports nothing of autoticket, so config may import it.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

__all__ = [
    "WEEKDAYS",
    "EscalationPolicy",
    "EscalationStep",
    "IcalFeed",
    "Layer",
    "Override",
    "Restriction",
    "Schedule",
    "StepTarget",
    "rotation_length",
]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(r"^\s*(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*$")
_NAME = Annotated[str, Field(min_length=1, max_length=128)]


def _span(value: Any) -> timedelta:
    """`15m`, `1h30m`, `2d`, a number of minutes, or a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return timedelta(minutes=value)
    if isinstance(value, str):
        m = _SPAN.match(value)
        if m and any(m.groups()):
            d, h, mi = (int(g) if g else 0 for g in m.groups())
            return timedelta(days=d, hours=h, minutes=mi)
    raise ValueError(f"not a duration: {value!r} (use e.g. 15m, 1h30m, 2d)")


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than 0m")
    return value


Span = Annotated[timedelta, BeforeValidator(_span), AfterValidator(_positive)]


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r}; use an IANA name such as Europe/Berlin"
        ) from None
    return value


TimeZone = Annotated[str, AfterValidator(_zone)]


def _clock(value: Any) -> time:
    """`09:00` (YAML may read `09:00` as a number of minutes: 540)."""
    if isinstance(value, time):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 24 * 60:
        value = f"{value // 60:02d}:{value % 60:02d}"
    if isinstance(value, str):
        if value.strip() == "24:00":
            return time(0)
        m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", value)
        if m and int(m.group(1)) < 24 and int(m.group(2)) < 60:
            return time(int(m.group(1)), int(m.group(2)))
    raise ValueError(f"not a time of day: {value!r} (use HH:MM, e.g. 09:00)")


ClockTime = Annotated[time, BeforeValidator(_clock)]


def _day(value: Any) -> str:
    text = str(value).strip().lower()[:3]
    if text not in WEEKDAYS:
        raise ValueError(f"not a weekday: {value!r} (use mon, tue, wed, thu, fri, sat, sun)")
    return text


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Restriction(_Strict):
    """A window in the schedule's zone when a layer is on: `days` at `start`..`end`.

    An `end` at or before `start` runs past midnight into the next day.
    """

    days: list[Annotated[str, BeforeValidator(_day)]] = Field(
        default_factory=lambda: list(WEEKDAYS), min_length=1
    )
    start: ClockTime
    end: ClockTime


class IcalFeed(_Strict):
    """An iCalendar feed: a file or a URL (fetched on start and on demand, then cached).

    Each event is a shift; its person is the first ATTENDEE (mailto: dropped)
    or else the SUMMARY, after `summary_prefix` is taken off.
    """

    path: str | None = None
    url: str | None = Field(default=None, pattern=r"^https?://")
    summary_prefix: str = ""

    @model_validator(mode="after")
    def _one_source(self) -> IcalFeed:
        if (self.path is None) == (self.url is None):
            raise ValueError("give exactly one of path or url")
        return self


def rotation_length(value: Any) -> str:
    """`daily`, `weekly`, `Nd` (handoffs at the local wall-clock time) or `Nh` (elapsed)."""
    text = str(value).strip().lower()
    if text in ("daily", "weekly") or re.fullmatch(r"[1-9]\d{0,3}[dh]", text):
        return text
    raise ValueError(f"not a rotation: {value!r} (use daily, weekly, 3d or 12h)")


class Layer(_Strict):
    """One layer: a rotation of `users` handing off every `rotation` from `start`
    (local time in the schedule's zone; its time of day is the handoff time),
    or an iCalendar feed. Layers later in the list override earlier ones."""

    name: _NAME
    users: list[_NAME] = Field(default_factory=list)
    rotation: Annotated[str, BeforeValidator(rotation_length)] = "weekly"
    start: datetime | None = None
    restrictions: list[Restriction] = Field(default_factory=list)
    ical: IcalFeed | None = None

    @model_validator(mode="after")
    def _rotation_or_feed(self) -> Layer:
        if self.ical is not None:
            if self.users:
                raise ValueError("a layer has either users (a rotation) or ical, not both")
            return self
        if not self.users:
            raise ValueError("a rotation layer needs at least one user (or an ical feed)")
        if self.start is None:
            raise ValueError(
                "a rotation layer needs start: its first handoff, e.g. 2026-01-05T09:00"
            )
        return self


class Override(_Strict):
    """`user` is on call from `start` to `end`, over every layer."""

    user: _NAME
    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _ordered(self) -> Override:
        if (self.start.tzinfo is None) != (self.end.tzinfo is None):
            raise ValueError("give start and end both with an offset or both without")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class Schedule(_Strict):
    time_zone: TimeZone = "UTC"
    layers: list[Layer] = Field(default_factory=list, min_length=1)
    overrides: list[Override] = Field(default_factory=list)


class StepTarget(_Strict):
    """Exactly one of: a schedule's on-call, a user, or a team (its schedule's on-call)."""

    schedule: _NAME | None = None
    user: _NAME | None = None
    team: _NAME | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> StepTarget:
        given = [k for k in ("schedule", "user", "team") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("notify needs exactly one of schedule, user or team")
        return self

    @property
    def kind(self) -> Literal["schedule", "user", "team"]:
        if self.schedule is not None:
            return "schedule"
        return "user" if self.user is not None else "team"

    @property
    def name(self) -> str:
        return self.schedule or self.user or self.team or ""


class EscalationStep(_Strict):
    notify: StepTarget
    # How long this step waits for an acknowledgement before the next one.
    wait: Span = timedelta(minutes=15)


class EscalationPolicy(_Strict):
    steps: list[EscalationStep] = Field(min_length=1)
    # After the last step, start over this many more times; then stop.
    repeat: int = Field(default=0, ge=0, le=20)
