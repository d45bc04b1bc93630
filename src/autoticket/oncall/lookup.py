"""Who is on call for a team: the team's schedule (catalog `teams.<name>.schedule`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from autoticket.config import Config
from autoticket.oncall.feeds import Calendars
from autoticket.oncall.schedule import Answer, on_call
from autoticket.oncall.settings import Schedule

__all__ = ["CALENDARS", "UnknownTeam", "refresh_feeds", "schedule_of", "who_is_on_call"]

# The process's copies of the configured iCalendar feeds (see oncall/feeds.py).
CALENDARS = Calendars()


class UnknownTeam(LookupError):
    """A team (or schedule) the config does not name; the message lists the known ones."""


def schedule_of(config: Config, team: str) -> str | None:
    """The name of `team`'s schedule (None: the team has none); UnknownTeam if not a team."""
    entry = config.catalog.teams.get(team)
    if entry is None:
        known = ", ".join(sorted(config.catalog.teams)) or "none"
        raise UnknownTeam(f"unknown team {team!r}; the catalog's teams are: {known}")
    return entry.schedule


def who_is_on_call(
    config_or_schedules: Config | Mapping[str, Schedule],
    team: str,
    at: datetime,
    calendars: Calendars | None = None,
) -> Answer | None:
    """Who is on call for `team` at `at` (aware), and which override or layer decided it.

    Given a Config, `team` is a catalog team and its `schedule` is asked (None:
    the team has no schedule). Given a map of schedules, `team` names the
    schedule itself. `answer.user` is None when the schedule has nobody then
    (`answer.reason` says why). Raises UnknownTeam, or ValueError for a naive `at`.
    """
    calendars = calendars if calendars is not None else CALENDARS
    if isinstance(config_or_schedules, Config):
        name = schedule_of(config_or_schedules, team)
        if name is None:
            return None
        schedules: Mapping[str, Schedule] = config_or_schedules.schedules
    else:
        name, schedules = team, config_or_schedules
    schedule = schedules.get(name)
    if schedule is None:
        known = ", ".join(sorted(schedules)) or "none"
        raise UnknownTeam(f"unknown schedule {name!r}; the schedules are: {known}")
    return on_call(name, schedule, at, calendars)


def refresh_feeds(config: Config, calendars: Calendars | None = None) -> dict[str, str | None]:
    """Read or fetch every iCalendar feed of the config now; the error of each (None: ok)."""
    calendars = calendars if calendars is not None else CALENDARS
    result: dict[str, str | None] = {}
    for name, schedule in sorted(config.schedules.items()):
        for layer in schedule.layers:
            if layer.ical is not None:
                result[f"{name}.{layer.name}"] = calendars.refresh(layer.ical)
    return result
