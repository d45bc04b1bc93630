"""The release pages: the timeline per service and environment, and one release's verdict.

They read through the same store and explain functions as the JSON API
(`GET /api/v1/releases`, `GET /api/v1/releases/{id}`), so the UI shows the
verdict the API gives, with a small before/after plot per metric.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Connection

from autoticket.api.deps import read_conn, runtime_of
from autoticket.api.releases import release_view
from autoticket.config import Config
from autoticket.explain import release_evaluation, release_summary, suspect_releases
from autoticket.releases.evaluate import prefetch
from autoticket.releases.events import MAX_NAME
from autoticket.releases.suspects import LOOKBACK
from autoticket.store.incidents import incidents_opened_between
from autoticket.store.metric_samples import series_between
from autoticket.store.releases import (
    get_release,
    list_releases,
    release_from_row,
    release_targets,
)
from autoticket.web.plot import before_after
from autoticket.web.session import signed_in
from autoticket.web.views import bad_request, error_page, page_number, render

__all__ = ["PAGE_SIZE", "router"]

PAGE_SIZE = 50
FAILED_STATES = frozenset({"failure", "error", "failed"})

router = APIRouter(include_in_schema=False, dependencies=[Depends(signed_in)])


def _name(request: Request, key: str) -> str | None:
    value = request.query_params.get(key) or None
    if value is not None and len(value) > MAX_NAME:
        raise ValueError(f"{key} is at most {MAX_NAME} characters")
    return value


@router.get("/releases", response_class=HTMLResponse)
def releases_page(request: Request) -> Response:
    page = page_number(request)
    try:
        service, environment = _name(request, "service"), _name(request, "environment")
    except ValueError as exc:
        return bad_request(request, str(exc))
    if page is None:
        return bad_request(request, "page must be a whole number from 1.")
    runtime = runtime_of(request)
    now = runtime.clock.now()
    with read_conn(request) as conn:
        rows, total = list_releases(
            conn, service, environment, PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
        )
        items = [_listed(conn, runtime.config, row, now) for row in rows]
        targets = release_targets(conn)
    query = urlencode({k: v for k, v in (("service", service), ("environment", environment)) if v})
    return render(
        request,
        "releases.html",
        {
            "releases": items,
            "total": total,
            "service": service,
            "environment": environment,
            "targets": targets,
            "page": page,
            "pages": max(1, -(-total // PAGE_SIZE)),
            "query": query,
        },
    )


def _listed(conn: Connection, config: Config, row: Any, now: Any) -> dict[str, Any]:
    """A timeline row: the stored final verdict, else the verdict so far."""
    view = release_view(row)
    if getattr(row, "verdict", None) is not None:
        verdict = {k: getattr(row, k) for k in ("verdict", "score", "action", "decided_at")}
    else:
        evaluation = release_evaluation(conn, config, release_from_row(row), now)
        verdict = {
            "verdict": evaluation.verdict,
            "score": evaluation.score,
            "action": evaluation.action,
            "decided_at": evaluation.decided_at,
        }
    return view | verdict | {"failed_deploy": row.flags.get("deploy_state") in FAILED_STATES}


def _release_id(raw: str) -> int | None:
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else None


@router.get("/releases/{release_id}", response_class=HTMLResponse)
def release_page(request: Request, release_id: str) -> Response:
    """The verdict as `GET /api/v1/releases/{id}` gives it, with the samples behind it."""
    number = _release_id(release_id)
    runtime = runtime_of(request)
    now = runtime.clock.now()
    with read_conn(request) as conn:
        row = get_release(conn, number) if number is not None else None
    if row is None:
        return error_page(request, 404, "Release not found", f"There is no release {release_id}.")
    release = release_from_row(row)
    settings = runtime.config.releases
    live = None
    if runtime.release_reader is not None:  # Prometheus, before a connection is taken
        live = prefetch(runtime.release_reader, release, settings, now)
    start = release.started_at
    since, until = start - settings.baseline, start + settings.window
    with read_conn(request) as conn:
        summary = release_summary(release_evaluation(conn, runtime.config, release, now, live))
        series = [
            s
            for s in series_between(conn, release.service, release.environment, since, until)
            if live is None or s[1] not in live.names
        ]
        suspect_of = _suspect_of(conn, runtime.config, release.id, start)
    if live is not None:
        series += live.reading.series
    decided = summary["decided_at"]
    plots = {key: before_after(samples, start, since, until, decided) for key, _, samples in series}
    metrics = [m | {"plot": plots.get(str(m["name"]))} for m in summary["metrics"]]
    return render(
        request,
        "release.html",
        {
            "r": release_view(row),
            "v": summary,
            "metrics": metrics,
            "failed_deploy": row.flags.get("deploy_state") in FAILED_STATES,
            "suspect_of": suspect_of,
        },
    )


def _suspect_of(
    conn: Connection, config: Config, release_id: int | None, start: Any
) -> list[dict[str, Any]]:
    """The incidents (of the first few opened after it) that name this release a suspect."""
    found = []
    for incident in incidents_opened_between(conn, start, start + LOOKBACK):
        for rank, suspect in enumerate(suspect_releases(conn, config, incident), 1):
            if suspect.release.id == release_id:
                found.append(
                    {
                        "id": incident.id,
                        "title": incident.title,
                        "rank": rank,
                        "reason": suspect.reason,
                        "opened_at": incident.opened_at,
                    }
                )
    return found
