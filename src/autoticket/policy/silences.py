"""Silences and maintenance windows: which alerts may not open a ticket, and until when.

A silence is label matchers over a time range (`starts_at` .. `ends_at`),
made by a person (API, UI) or written in the YAML (`silences:`). A
maintenance window is the same with a weekly recurrence (`every:`), e.g.
Sundays 02:00 for 2h in Europe/Berlin, computed in that zone so it keeps
its local time across daylight-saving changes.

As in Alertmanager, matching is per alert and a missing label is the empty
string. Unlike Alertmanager, nothing is dropped: a silenced alert is still
stored and correlated, its incident's ticket is held (engine/actions.py)
until the silence ends while it still fires (lifecycle/silence_end.py).
A silence never closes or mutes a ticket already filed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from autoticket.config import Config
from autoticket.policy.matchers import Matcher, parse_matchers
from autoticket.silence_settings import MaintenanceEntry, SilenceEntry

__all__ = [
    "WEEKDAYS",
    "Silence",
    "SilenceHit",
    "WeeklyWindow",
    "compile_entry",
    "config_silences",
    "covering",
    "stored_silence",
]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SilenceKind = Literal["silence", "maintenance", "release"]


@dataclass(frozen=True, slots=True)
class WeeklyWindow:
    """Local `start` on each of `days`, lasting `duration` (real time)."""

    days: frozenset[int]  # 0 = Monday, as date.weekday()
    start: time
    duration: timedelta
    zone: ZoneInfo

    def end_covering(self, at: datetime) -> datetime | None:
        """The end of the occurrence that covers `at`, or None."""
        local_day = at.astimezone(self.zone).date()
        # An occurrence that started up to `duration` ago may still run.
        back = self.duration.days + 1
        for offset in range(back, -1, -1):
            day = local_day - timedelta(days=offset)
            if day.weekday() not in self.days:
                continue
            begin = _local_start(day, self.start, self.zone)
            end = begin + self.duration
            if begin <= at < end:
                return end
        return None


def _local_start(day: date, start: time, zone: ZoneInfo) -> datetime:
    """`start` on `day` in `zone`, as UTC; a time skipped by a DST change moves forward,
    as the wall clock does (fold=0 then normalized through UTC)."""
    return datetime.combine(day, start, tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Silence:
    """One silence or maintenance window; `id` is the stored id, or `config:<name>`."""

    id: str
    kind: SilenceKind
    matchers: tuple[Matcher, ...]
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    comment: str = ""
    created_by: str = ""
    every: WeeklyWindow | None = None

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)

    def end_covering(self, at: datetime) -> datetime | None:
        """When this silence stops covering `at` (None: it does not cover `at`).

        An open-ended YAML silence covers until it is removed from the config;
        its end is reported as `datetime.max` (in UTC)."""
        if self.starts_at is not None and at < self.starts_at:
            return None
        if self.ends_at is not None and at >= self.ends_at:
            return None
        end = self.ends_at or datetime.max.replace(tzinfo=UTC)
        if self.every is not None:
            window_end = self.every.end_covering(at)
            if window_end is None:
                return None
            end = min(end, window_end)
        return end

    def describe(self) -> str:
        who = f" by {self.created_by}" if self.created_by else ""
        what = f": {self.comment}" if self.comment else ""
        return f"{self.kind} {self.id}{who}{what}"


@dataclass(frozen=True, slots=True)
class SilenceHit:
    """The silence that covers an alert at an instant, and until when."""

    silence: Silence
    until: datetime

    @property
    def open_ended(self) -> bool:
        return self.until.year == datetime.max.year


def covering(
    silences: Iterable[Silence], labels: Mapping[str, str], at: datetime
) -> SilenceHit | None:
    """The silence covering `labels` at `at` that lasts longest (ties: lowest id)."""
    best: SilenceHit | None = None
    for silence in silences:
        until = silence.end_covering(at)
        if until is None or not silence.matches(labels):
            continue
        if best is None or (until, best.silence.id) > (best.until, silence.id):
            best = SilenceHit(silence, until)
    return best


def compile_entry(entry: SilenceEntry) -> Silence:
    """A YAML silence or maintenance window; raises PolicyError (`matchers.<i>`)."""
    every = entry.every if isinstance(entry, MaintenanceEntry) else None
    window = None
    if every is not None:
        window = WeeklyWindow(
            days=frozenset(WEEKDAYS.index(d) for d in every.days),
            start=every.start,
            duration=every.duration,
            zone=ZoneInfo(every.timezone),
        )
    return Silence(
        id=f"config:{entry.name}",
        kind=entry.kind,
        matchers=tuple(parse_matchers(entry.matchers)),
        starts_at=entry.starts_at,
        ends_at=entry.ends_at,
        comment=entry.comment,
        created_by=entry.author,
        every=window,
    )


def config_silences(config: Config) -> tuple[Silence, ...]:
    return tuple(compile_entry(e) for e in [*config.silences, *config.maintenance])


def stored_silence(row: Any) -> Silence:
    """A silence a person made (a `silences` row, store/silences.py)."""
    return Silence(
        id=str(row.id),
        kind="silence",
        matchers=tuple(parse_matchers(row.matchers)),
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        comment=row.comment,
        created_by=row.created_by,
    )
