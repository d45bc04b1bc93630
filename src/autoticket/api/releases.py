"""Release events: `POST /api/v1/releases` and the release timeline.

A release is a machine's event (a CD system's), so it takes the ingest
credential, like alerts. It is small and rare, so it is stored at once in
its own transaction rather than through the inbox.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Connection

from autoticket.api.auth import as_viewer
from autoticket.api.deps import DbId, Offset, read_conn, write_conn
from autoticket.api.errors import ApiError
from autoticket.api.ingest import read_machine_json
from autoticket.errors import PayloadError
from autoticket.explain import release_evaluation, release_summary, stored_release_summary
from autoticket.model import Release
from autoticket.releases.evaluate import prefetch
from autoticket.releases.events import MAX_NAME, parse_release
from autoticket.sources.base import decode_json
from autoticket.store.releases import get_release, list_releases, release_from_row, save_release

__all__ = ["record_release", "release_response", "release_view", "router", "stored_verdict"]

router = APIRouter(prefix="/api/v1/releases", tags=["releases"])

MAX_RELEASE_BYTES = 64 * 1024
Name = Annotated[str | None, Query(max_length=MAX_NAME)]
_VERDICT_KEYS = ("verdict", "score", "action", "decided_at")


def release_view(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "service": row.service,
        "environment": row.environment,
        "version": row.version,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
        "rollout_percent": row.rollout_percent,
        "commit": row.commit,
        "deployer": row.deployer,
        "flags": row.flags,
        "source": row.source,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        # The judge's final decision (null while the release is still observed).
        "verdict": row.verdict,
        "score": row.score,
        "action": row.action,
        "decided_at": row.decided_at,
        "decided_by": row.decided_by,
        "judged_at": row.judged_at,
    }


@router.post("", status_code=201)
async def post_release(request: Request) -> JSONResponse:
    """Record a release; the same (service, environment, version) updates it (200)."""
    body = await read_machine_json(request, MAX_RELEASE_BYTES)
    runtime = request.app.state.runtime
    try:
        release = parse_release(decode_json(body))
    except PayloadError as exc:
        raise ApiError(
            exc.status,
            "malformed_json" if exc.status == 400 else "invalid_release",
            f"{exc.field}: {exc.reason}",
            exc.field,
            reason=exc.reason,
        ) from None
    with write_conn(request) as conn:
        row, created = record_release(conn, release, runtime.clock.now())
    return release_response(row, created)


def record_release(conn: Connection, release: Release, now: datetime) -> tuple[Any, bool]:
    """Store a release event (every HTTP path that receives one comes here): (row, created)."""
    release_id, created = save_release(conn, release, now)
    return get_release(conn, release_id), created


def release_response(row: Any, created: bool, **extra: Any) -> JSONResponse:
    """201 with the release when it is new, 200 when the event updated it."""
    body = _jsonable(release_view(row)) | {"created": created} | extra
    return JSONResponse(body, status_code=201 if created else 200)


@router.get("", dependencies=[Depends(as_viewer)])
def get_releases(
    request: Request,
    service: Name = None,
    environment: Name = None,
    before: datetime | None = None,
    limit: int = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    """The release timeline, newest first; `before` (a started_at) or `offset` pages back.

    Each item carries the stored final verdict (null while still observed:
    `GET /api/v1/releases/{id}` judges the verdict so far).
    """
    limit = max(1, min(limit, 1000))
    with read_conn(request) as conn:
        rows, total = list_releases(conn, service, environment, limit, before, max(0, offset))
    return {"items": [release_view(r) | stored_verdict(r) for r in rows], "total": total}


def stored_verdict(row: Any) -> dict[str, Any]:
    """The final verdict kept on the release row, if the row has one (else nulls)."""
    return {key: getattr(row, key, None) for key in _VERDICT_KEYS}


@router.get("/{release_id}", dependencies=[Depends(as_viewer)])
def get_one(request: Request, release_id: DbId) -> dict[str, Any]:
    """The release with the judge's verdict: the final one stored by the worker's
    checks (`judged_at` set), else the verdict so far, judged on read.

    For a release still observed, configured SLIs are read from Prometheus
    (releases.prometheus) while the request waits; every other metric from
    the pushed samples.
    """
    runtime = request.app.state.runtime
    now = runtime.clock.now()
    with read_conn(request) as conn:
        row = get_release(conn, release_id)
    if row is None:
        raise ApiError(404, "not_found", f"no release {release_id}", "release_id")
    summary = stored_release_summary(row)
    if summary is not None:
        return release_view(row) | summary
    release = release_from_row(row)
    live = None
    if runtime.release_reader is not None:  # queried before a connection is taken
        live = prefetch(runtime.release_reader, release, runtime.config.releases, now)
    with read_conn(request) as conn:
        evaluation = release_evaluation(conn, runtime.config, release, now, live=live)
    return release_view(row) | release_summary(evaluation)


def _jsonable(view: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in view.items()}
