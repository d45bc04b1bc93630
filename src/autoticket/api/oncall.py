"""Who is on call: `GET /api/v1/oncall?team=…&at=…`, and re-reading the iCalendar feeds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from autoticket.api.auth import as_responder, as_viewer
from autoticket.api.deps import runtime_of
from autoticket.api.errors import ApiError
from autoticket.oncall import UnknownTeam, refresh_feeds, who_is_on_call

__all__ = ["on_call_view", "parse_instant", "router"]

router = APIRouter(prefix="/api/v1/oncall", tags=["oncall"])


def parse_instant(text: str) -> datetime:
    """An RFC 3339 time with an offset (`Z` allowed); ValueError saying what is wrong."""
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text[:64]!r} is not an RFC 3339 time (e.g. 2026-03-29T09:00:00+02:00)"
        ) from None
    if at.tzinfo is None:
        raise ValueError(f"{text[:64]!r} has no UTC offset; add Z or e.g. +02:00")
    if not 1970 <= at.year <= 9000:
        raise ValueError(f"{text[:64]!r} is out of range (years 1970 to 9000)")
    return at.astimezone(UTC)


def on_call_view(config: Any, team: str, at: datetime) -> dict[str, Any]:
    """The answer for `team` at `at` as JSON; UnknownTeam when there is no such team."""
    answer = who_is_on_call(config, team, at)
    if answer is None:
        return {
            "team": team,
            "at": at.isoformat(),
            "schedule": None,
            "user": None,
            "reason": f"team {team!r} has no schedule (catalog.teams.{team}.schedule)",
        }
    return {"team": team, **answer.as_dict()}


@router.get("", dependencies=[Depends(as_viewer)])
def get_on_call(request: Request, team: str, at: str | None = None) -> dict[str, Any]:
    """Who is on call for `team` now, or at `at` (RFC 3339 with an offset)."""
    runtime = runtime_of(request)
    try:
        instant = parse_instant(at) if at is not None else runtime.clock.now()
    except ValueError as exc:
        raise ApiError(422, "invalid_time", f"at: {exc}", "at") from None
    try:
        return on_call_view(runtime.config, team, instant)
    except UnknownTeam as exc:
        raise ApiError(404, "unknown_team", str(exc), "team") from None


@router.post("/refresh", dependencies=[Depends(as_responder)])
async def refresh(request: Request) -> dict[str, Any]:
    """Read every iCalendar feed again now (files re-read, URLs fetched); the error of each."""
    runtime = runtime_of(request)
    feeds = await run_in_threadpool(refresh_feeds, runtime.config)
    return {"feeds": [{"feed": name, "error": error} for name, error in feeds.items()]}
