"""On call: schedules (layers, restrictions, overrides, iCalendar feeds) and who is on call.

Escalation policies that page them live in lifecycle/escalation.py. The names
below load on first use: `autoticket.config` imports `oncall.settings`, and
this package's lookup imports config back.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from autoticket.oncall.feeds import Calendars, FeedError, Shift
    from autoticket.oncall.lookup import (
        CALENDARS,
        UnknownTeam,
        refresh_feeds,
        schedule_of,
        who_is_on_call,
    )
    from autoticket.oncall.schedule import Answer, on_call

_HOMES = {
    "Calendars": "feeds",
    "FeedError": "feeds",
    "Shift": "feeds",
    "CALENDARS": "lookup",
    "UnknownTeam": "lookup",
    "refresh_feeds": "lookup",
    "schedule_of": "lookup",
    "who_is_on_call": "lookup",
    "Answer": "schedule",
    "on_call": "schedule",
}

__all__ = [
    "CALENDARS",
    "Answer",
    "Calendars",
    "FeedError",
    "Shift",
    "UnknownTeam",
    "on_call",
    "refresh_feeds",
    "schedule_of",
    "who_is_on_call",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'autoticket.oncall' has no attribute {name!r}")
    return getattr(import_module(f"autoticket.oncall.{home}"), name)
