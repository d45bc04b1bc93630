"""Silences: `GET/POST /api/v1/silences`, `GET/DELETE /api/v1/silences/{id}`.

A silence holds the tickets of the new incidents whose firing alerts it
matches, from `starts_at` to `ends_at` (docs/silences.md). People make them
(responders and up); DELETE expires one now, as Alertmanager does, and the
row stays as the record. The silences and maintenance windows written in the
YAML are listed beside the stored ones (`configured`), read-only.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from autoticket.api.auth import Principal, as_responder, as_viewer
from autoticket.api.deps import DbId, Offset, read_conn, runtime_of, write_conn
from autoticket.api.errors import ApiError
from autoticket.config import Config, parse_duration
from autoticket.policy import PolicyError, parse_matchers
from autoticket.policy.silences import Silence, config_silences
from autoticket.store.silences import (
    create_silence,
    expire_silence,
    get_silence,
    list_silences,
    state_of,
)

__all__ = ["SilenceRequest", "configured_view", "new_silence", "router", "silence_view"]

router = APIRouter(prefix="/api/v1/silences", tags=["silences"])

MAX_MATCHERS = 32
MAX_SILENCE = timedelta(days=366)


class SilenceRequest(BaseModel):
    """A new silence: matchers, and when (`ends_at`, or `duration` from `starts_at`)."""

    matchers: list[Annotated[str, Field(max_length=1024)]] = Field(max_length=MAX_MATCHERS)
    comment: str = Field(max_length=1000)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    duration: str | None = Field(default=None, max_length=32)


def silence_view(row: Any, now: datetime) -> dict[str, Any]:
    return {
        "id": row.id,
        "matchers": list(row.matchers),
        "starts_at": row.starts_at,
        "ends_at": row.ends_at,
        "created_by": row.created_by,
        "comment": row.comment,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "expired_by": row.expired_by,
        "state": state_of(row, now),
    }


def configured_view(silence: Silence, now: datetime) -> dict[str, Any]:
    until = silence.end_covering(now)
    return {
        "id": silence.id,
        "kind": silence.kind,
        "matchers": [str(m) for m in silence.matchers],
        "starts_at": silence.starts_at,
        "ends_at": silence.ends_at,
        "created_by": silence.created_by,
        "comment": silence.comment,
        "state": "active" if until is not None else "inactive",
        "active_until": until if until is not None and until.year < 9999 else None,
    }


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(422, "invalid_silence", f"{field}: {message}", field)


def _checked(body: SilenceRequest, now: datetime) -> tuple[list[str], datetime, datetime, str]:
    """The silence to store, or a 422 naming the field and the reason."""
    if not body.matchers:
        raise _invalid(
            "matchers", "give at least one matcher; a silence of everything is a mistake"
        )
    try:
        parse_matchers(body.matchers)
    except PolicyError as exc:
        raise _invalid(exc.field or "matchers", exc.reason) from None
    comment = body.comment.strip()
    if not comment:
        raise _invalid("comment", "say why (it is shown on every incident the silence holds)")
    starts = body.starts_at or now
    if starts.tzinfo is None:
        raise _invalid("starts_at", "give a time zone, e.g. 2026-12-05T02:00:00Z")
    if (body.ends_at is None) == (body.duration is None):
        raise _invalid("ends_at", "give exactly one of ends_at or duration")
    if body.ends_at is not None:
        ends = body.ends_at
        if ends.tzinfo is None:
            raise _invalid("ends_at", "give a time zone, e.g. 2026-12-05T04:00:00Z")
    else:
        try:
            ends = starts + parse_duration(body.duration)
        except ValueError as exc:
            raise _invalid("duration", str(exc)) from None
    if ends <= now:
        raise _invalid("ends_at", "is in the past: the silence would never apply")
    if ends <= starts:
        raise _invalid("ends_at", "must be after starts_at")
    if ends - starts > MAX_SILENCE:
        raise _invalid("ends_at", "a silence lasts at most 366 days; write a lasting one in YAML")
    return list(body.matchers), starts, ends, comment


def new_silence(request: Request, body: SilenceRequest, principal: Principal) -> Any:
    """Check and store a silence for `principal`; returns its row."""
    now = runtime_of(request).clock.now()
    matchers, starts, ends, comment = _checked(body, now)
    with write_conn(request) as conn:
        silence_id = create_silence(conn, matchers, starts, ends, principal.name, comment, now)
        return get_silence(conn, silence_id)


def _configured(config: Config, now: datetime) -> list[dict[str, Any]]:
    return [configured_view(s, now) for s in config_silences(config)]


@router.get("", dependencies=[Depends(as_viewer)])
def get_silences(
    request: Request,
    state: Literal["active", "pending", "expired"] | None = None,
    limit: int = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    runtime = runtime_of(request)
    now = runtime.clock.now()
    with read_conn(request) as conn:
        rows, total = list_silences(conn, state, now, max(1, min(limit, 1000)), max(0, offset))
    return {
        "items": [silence_view(r, now) for r in rows],
        "total": total,
        "configured": _configured(runtime.config, now),
    }


@router.post("", status_code=201)
def post_silence(
    request: Request,
    response: Response,
    body: SilenceRequest,
    principal: Annotated[Principal, Depends(as_responder)],
) -> dict[str, Any]:
    row = new_silence(request, body, principal)
    response.headers["location"] = f"{router.prefix}/{row.id}"
    return silence_view(row, runtime_of(request).clock.now())


@router.get("/{silence_id}", dependencies=[Depends(as_viewer)])
def get_one(request: Request, silence_id: DbId) -> dict[str, Any]:
    with read_conn(request) as conn:
        row = get_silence(conn, silence_id)
    if row is None:
        raise ApiError(404, "not_found", f"no silence {silence_id}", "silence_id")
    return silence_view(row, runtime_of(request).clock.now())


@router.delete("/{silence_id}")
def expire(
    request: Request,
    silence_id: DbId,
    principal: Annotated[Principal, Depends(as_responder)],
) -> dict[str, Any]:
    runtime = runtime_of(request)
    now = runtime.clock.now()
    with write_conn(request) as conn:
        if get_silence(conn, silence_id) is None:
            raise ApiError(404, "not_found", f"no silence {silence_id}", "silence_id")
        if not expire_silence(conn, silence_id, principal.name, now):
            raise ApiError(409, "already_expired", f"silence {silence_id} has already ended")
        row = get_silence(conn, silence_id)
    runtime.worker.wake()  # the incidents it held are looked at again now
    return silence_view(row, now)
