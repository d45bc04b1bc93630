"""Who a schedule puts on call at an instant: overrides, then layers from the top.

Daily and weekly rotations (and `Nd`) hand off at the wall-clock time of
their `start` in the schedule's zone, so a 09:00 handoff stays at 09:00
across daylight-saving changes (that shift is an hour shorter or longer);
`Nh` rotations count elapsed hours. Restrictions are wall-clock windows in
the schedule's zone. Every answer says which override or layer decided it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from autoticket.oncall.feeds import Calendars
from autoticket.oncall.settings import WEEKDAYS, Layer, Override, Restriction, Schedule

__all__ = ["Answer", "on_call", "shift_of"]


@dataclass(frozen=True, slots=True)
class Answer:
    """Who is on call (None: nobody; `reason` says why) and what decided it."""

    schedule: str
    at: datetime
    user: str | None
    layer: str | None = None
    source: str | None = None  # "override" | "rotation" | "ical"
    shift_start: datetime | None = None
    shift_end: datetime | None = None
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("at", "shift_start", "shift_end"):
            out[key] = out[key].isoformat() if out[key] is not None else None
        return out


def _wall(at: datetime, zone: ZoneInfo) -> datetime:
    """`at` as a naive wall-clock time in `zone`."""
    return at.astimezone(zone).replace(tzinfo=None)


def _aware(wall: datetime, zone: ZoneInfo) -> datetime:
    """A wall-clock time in `zone` as an instant; a time skipped by a DST change is
    read with the offset before the change (fold=0), as zoneinfo does."""
    return wall.replace(tzinfo=zone)


def _local(value: datetime, zone: ZoneInfo) -> datetime:
    """A configured time: naive means the schedule's zone."""
    return value.replace(tzinfo=zone) if value.tzinfo is None else value


def _override(overrides: list[Override], at: datetime, zone: ZoneInfo) -> Override | None:
    """The latest-listed override covering `at`: a later entry corrects an earlier one."""
    for item in reversed(overrides):
        if _local(item.start, zone) <= at < _local(item.end, zone):
            return item
    return None


def _in_window(window: Restriction, wall: datetime) -> bool:
    for back in (0, 1):
        day = wall.date() - timedelta(days=back)
        if WEEKDAYS[day.weekday()] not in window.days:
            continue
        start = datetime.combine(day, window.start)
        end = datetime.combine(day, window.end)
        if end <= start:
            end += timedelta(days=1)
        if start <= wall < end:
            return True
    return False


def shift_of(layer: Layer, at: datetime, zone: ZoneInfo) -> tuple[str, datetime, datetime] | None:
    """The rotation's user at `at` with the shift's start and end (None before `start`)."""
    assert layer.start is not None
    rotation = layer.rotation
    if rotation.endswith("h"):
        length = timedelta(hours=int(rotation[:-1]))
        # In UTC: arithmetic on datetimes of one zone is wall-clock arithmetic.
        first = _local(layer.start, zone).astimezone(UTC)
        if at < first:
            return None
        index = int((at.astimezone(UTC) - first) // length)
        start = first + index * length
        user = layer.users[index % len(layer.users)]
        return user, start.astimezone(zone), (start + length).astimezone(zone)
    days = {"daily": 1, "weekly": 7}.get(rotation) or int(rotation[:-1])
    first_wall = _wall(_local(layer.start, zone), zone)
    wall = _wall(at, zone)
    if wall < first_wall:
        return None
    index = (wall - first_wall) // timedelta(days=days)
    start_wall = first_wall + timedelta(days=days * index)
    end_wall = start_wall + timedelta(days=days)
    return (
        layer.users[index % len(layer.users)],
        _aware(start_wall, zone),
        _aware(end_wall, zone),
    )


def _layer_answer(
    name: str, layer: Layer, at: datetime, zone: ZoneInfo, calendars: Calendars | None
) -> Answer | str:
    """The layer's answer, or why it has nobody at `at`."""
    if layer.restrictions and not any(_in_window(w, _wall(at, zone)) for w in layer.restrictions):
        return f"layer {layer.name!r} is restricted at that time"
    if layer.ical is not None:
        if calendars is None:
            return f"layer {layer.name!r}: no calendars loaded"
        shift = calendars.shift_at(layer.ical, at.astimezone(zone))
        if shift is None:
            error = calendars.error(layer.ical)
            return f"layer {layer.name!r}: no shift in its feed" + (f" ({error})" if error else "")
        return Answer(name, at, shift.user, layer.name, "ical", shift.start, shift.end)
    found = shift_of(layer, at, zone)
    if found is None:
        return f"layer {layer.name!r} starts later"
    user, start, end = found
    return Answer(name, at, user, layer.name, "rotation", start, end)


def on_call(
    name: str, schedule: Schedule, at: datetime, calendars: Calendars | None = None
) -> Answer:
    """Who `schedule` puts on call at `at` (an aware instant)."""
    if at.tzinfo is None:
        raise ValueError("at: give a time with a UTC offset (e.g. 2026-03-29T09:00:00+02:00)")
    at = at.astimezone(UTC)  # comparisons with times of the schedule's zone stay exact
    zone = ZoneInfo(schedule.time_zone)
    found = _override(schedule.overrides, at, zone)
    if found is not None:
        return Answer(
            name,
            at,
            found.user,
            None,
            "override",
            _local(found.start, zone),
            _local(found.end, zone),
            f"override for {found.user}",
        )
    why: list[str] = []
    for layer in reversed(schedule.layers):
        answer = _layer_answer(name, layer, at, zone, calendars)
        if isinstance(answer, Answer):
            reason = f"layer {layer.name!r} ({answer.source})"
            if why:
                reason += "; above it: " + "; ".join(why)
            return Answer(
                name,
                at,
                answer.user,
                answer.layer,
                answer.source,
                answer.shift_start,
                answer.shift_end,
                reason,
            )
        why.append(answer)
    return Answer(name, at, None, reason="nobody: " + "; ".join(why))
