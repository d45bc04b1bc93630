"""The config of silences, maintenance windows and inhibition rules
(`silences:`, `maintenance:`, `inhibit_rules:`).

Kept apart from `autoticket.config`, which only gains two lists. As with
routes, the matchers are compiled by the policy code (policy/silences.py) and
checked with their lines by `autoticket.checks`; this module imports nothing
of autoticket but the on-call settings' time types.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from autoticket.oncall.settings import WEEKDAYS, ClockTime, Span, TimeZone

__all__ = ["InhibitRule", "MaintenanceEntry", "SilenceEntry", "WeeklyEvery"]

_NAME = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")]


def _some_matchers(texts: list[str]) -> list[str]:
    if not texts:
        raise ValueError("give at least one matcher: a silence of everything is a mistake")
    return texts


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("give a time zone, e.g. 2026-12-05T02:00:00Z")
    return value.astimezone(UTC)


def _weekday(value: Any) -> str:
    text = str(value).strip().lower()[:3]
    if text not in WEEKDAYS:
        raise ValueError(f"not a weekday: {value!r} (use mon, tue, wed, thu, fri, sat, sun)")
    return text


def _rule_matchers(texts: list[str]) -> list[str]:
    if not texts:
        raise ValueError("give at least one matcher: a rule over every alert is a mistake")
    return texts


Matchers = Annotated[list[str], AfterValidator(_some_matchers)]
RuleMatchers = Annotated[list[str], AfterValidator(_rule_matchers)]
Instant = Annotated[datetime, AfterValidator(_aware)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WeeklyEvery(_Strict):
    """Each of `days` at local `start` in `timezone`, for `duration`."""

    days: list[Annotated[str, BeforeValidator(_weekday)]] = Field(
        default_factory=lambda: list(WEEKDAYS), min_length=1
    )
    start: ClockTime
    duration: Span
    timezone: TimeZone = "UTC"


class SilenceEntry(_Strict):
    """A silence written in the YAML: it holds matching alerts' tickets while
    it lasts (from `starts_at`, until `ends_at` or until removed)."""

    name: _NAME
    matchers: Matchers
    starts_at: Instant | None = None
    ends_at: Instant | None = None
    comment: str = Field(default="", max_length=1000)
    author: str = Field(default="config", max_length=128)

    @model_validator(mode="after")
    def _ordered(self) -> SilenceEntry:
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self

    kind: Literal["silence"] = "silence"


class MaintenanceEntry(SilenceEntry):
    """A maintenance window: a silence that recurs weekly (`every`), or a one-off
    with `starts_at` and `ends_at`."""

    every: WeeklyEvery | None = None
    kind: Literal["maintenance"] = "maintenance"  # type: ignore[assignment]

    @model_validator(mode="after")
    def _bounded(self) -> MaintenanceEntry:
        if self.every is None and (self.starts_at is None or self.ends_at is None):
            raise ValueError("give `every` (a weekly window) or both starts_at and ends_at")
        return self


_LABEL = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class InhibitRule(_Strict):
    """Alertmanager's inhibition: while an alert matching `source_matchers` fires, a
    new incident whose alert matches `target_matchers` and has the same values of
    the `equal` labels is related to the source's incident (no ticket of its own).
    Named for explain; unnamed rules are `inhibit-<index>`."""

    name: _NAME | None = None
    source_matchers: RuleMatchers
    target_matchers: RuleMatchers
    equal: list[_LABEL] = Field(default_factory=list)
