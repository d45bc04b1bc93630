"""Sinks: their queues, breakers and parked actions; replay; remote callbacks.

`GET /api/v1/sinks` and `/{name}/parked` are for viewers; replaying a parked
action is for admins. `POST /{name}/webhook` is the remote system calling
back (two-way sync): it carries no user token but the sink's own secret
(`webhook_secret_env` or `webhook_secret_file`), and is refused (404) for a sink without one.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from autoticket.api.auth import Principal, as_admin, as_viewer
from autoticket.api.deps import DbId, read_conn, runtime_of, write_conn
from autoticket.api.errors import ApiError
from autoticket.service.runtime import Runtime
from autoticket.sinks.sync import record_changes
from autoticket.store import outbox as outbox_store
from autoticket.store.timeline import add_entries, entry

__all__ = ["parked_view", "replay_parked", "router", "sink_states"]

router = APIRouter(prefix="/api/v1/sinks", tags=["sinks"])

MAX_WEBHOOK_BYTES = 1024 * 1024


def _known(runtime: Runtime, name: str) -> None:
    if name not in runtime.dispatcher.sinks and name not in runtime.external.lanes:
        raise ApiError(404, "not_found", f"no sink {name!r} in the config", "name")


def _sync_view(name: str, sink: Any) -> dict[str, Any]:
    """How people's changes come back from this sink: its webhook (path, auth) and polling."""
    settings = sink.dispatch
    hook = None
    if settings.webhook_secret_key is not None:
        hook = {"path": f"/api/v1/sinks/{name}/webhook", "auth": sink.webhook_auth()}
    interval = settings.poll_interval
    return {"webhook": hook, "poll_seconds": interval.total_seconds() if interval else None}


def sink_states(runtime: Runtime, counts: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    """Every configured sink with its pending and parked actions and, for an external
    one, its breaker and dispatcher settings."""
    found: list[dict[str, Any]] = []
    for name in sorted(runtime.dispatcher.sinks):
        queue = counts.get(name, {"pending": 0, "parked": 0})
        found.append({"name": name, "kind": "transactional", **queue})
    for name, lane in sorted(runtime.external.lanes.items()):
        queue = counts.get(name, {"pending": 0, "parked": 0})
        settings = lane.sink.dispatch
        reopens = lane.breaker.reopens_at()
        found.append(
            {
                "name": name,
                "kind": "external",
                "type": lane.sink.type,
                **queue,
                "breaker": {
                    "state": lane.breaker.state,
                    "failures_in_a_row": lane.breaker.streak,
                    "closes_probe_at": reopens.isoformat() if reopens else None,
                },
                "max_attempts": settings.max_attempts,
                "max_backoff_seconds": settings.max_backoff.total_seconds(),
                "rate_limit": settings.rate_limit,
                "lane_error": lane.last_error,
                "two_way_sync": _sync_view(name, lane.sink),
            }
        )
    return found


@router.get("", dependencies=[Depends(as_viewer)])
def get_sinks(request: Request) -> dict[str, Any]:
    with read_conn(request) as conn:
        counts = outbox_store.counts_by_sink(conn)
    return {"sinks": sink_states(runtime_of(request), counts)}


def parked_view(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "incident_id": row.incident_id,
        "action": row.action,
        "idempotency_key": row.idempotency_key,
        "attempts": row.attempts,
        "last_error": row.last_error,
        "created_at": row.created_at,
        "title": (row.payload or {}).get("title"),
    }


@router.get("/{name}/parked", dependencies=[Depends(as_viewer)])
def get_parked(request: Request, name: str, limit: int = 100, offset: int = 0) -> dict[str, Any]:
    _known(runtime_of(request), name)
    if not 1 <= limit <= 1000 or offset < 0:
        raise ApiError(400, "bad_request", "limit must be 1..1000 and offset 0 or more", "limit")
    with read_conn(request) as conn:
        rows = outbox_store.parked(conn, name, limit, offset)
    return {"sink": name, "parked": [parked_view(r) for r in rows]}


@router.post("/{name}/parked/{action_id}/retry")
def retry_parked(
    request: Request,
    name: str,
    action_id: DbId,
    principal: Annotated[Principal, Depends(as_admin)],
) -> dict[str, Any]:
    """Put a parked action back in line (attempts counted afresh); its incident's later
    actions of the sink follow it."""
    return replay_parked(request, name, action_id, principal.name)


def replay_parked(request: Request, name: str, action_id: int, who: str) -> dict[str, Any]:
    """The replay itself, for the API and the UI's button; the caller checked that
    `who` is an admin. ApiError (404) when there is no such parked action."""
    runtime = runtime_of(request)
    _known(runtime, name)
    now = runtime.clock.now()
    with write_conn(request) as conn:
        row = outbox_store.parked_one(conn, name, action_id)
        if row is None or not outbox_store.unpark(conn, name, action_id, now):
            message = f"no parked action {action_id} of sink {name!r}"
            raise ApiError(404, "not_found", message, "action_id")
        text = f"{name}: parked {row.action} replayed by {who}"
        data = {"sink": name, "key": row.idempotency_key, "by": who}
        add_entries(conn, [entry(row.incident_id, now, "sink_replayed", text, data)])
    runtime.external.wake()
    return {"id": action_id, "sink": name, "status": "pending"}


@router.post("/{name}/webhook")
async def remote_webhook(request: Request, name: str) -> JSONResponse:
    """A remote system reports what people did to its tickets. Every answer to a
    configured sink is counted in `autoticket_sink_webhooks_total{sink,outcome}`."""
    runtime = runtime_of(request)
    lane = runtime.external.lanes.get(name)
    if lane is None or lane.sink.dispatch.webhook_secret_key is None:
        raise ApiError(404, "not_found", f"sink {name!r} takes no webhook", "name")
    counted = runtime.telemetry.sink_webhooks
    body = await request.body()
    if len(body) > MAX_WEBHOOK_BYTES:
        counted.labels(name, "too_large").inc()
        raise ApiError(413, "too_large", f"webhook body over {MAX_WEBHOOK_BYTES} bytes", "body")
    refused = lane.sink.authenticate_webhook(dict(request.headers), body)
    if refused is not None:
        counted.labels(name, "unauthorized").inc()
        raise ApiError(401, "unauthorized", f"sink {name!r} webhook refused: {refused}")
    try:
        changes = lane.sink.parse_webhook(dict(request.headers), body)
    except ValueError as exc:
        counted.labels(name, "bad_request").inc()
        raise ApiError(400, "bad_request", f"sink {name!r}: {exc}"[:500], "body") from None
    done = record_changes(runtime.engine, name, changes, runtime.clock.now())
    counted.labels(name, "accepted").inc()
    answer = {"recorded": done.recorded, "unknown": done.unknown, "repeated": done.repeated}
    return JSONResponse(answer, status_code=202)
