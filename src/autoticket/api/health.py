"""Liveness, readiness and Prometheus metrics of the service itself."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from autoticket.api.deps import read_conn, runtime_of
from autoticket.sinks.guard import BREAKER_STATES
from autoticket.store import inbox as inbox_store
from autoticket.store import outbox as outbox_store

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    runtime = runtime_of(request)
    checks: dict[str, str] = {}
    try:
        with read_conn(request) as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    if runtime.start_worker:
        checks["worker"] = "ok" if runtime.worker.alive else "not running"
        if runtime.worker.last_error:
            checks["worker"] = f"failing: {runtime.worker.last_error[:200]}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


@router.get("/metrics")
def metrics(request: Request) -> Response:
    runtime = runtime_of(request)
    with read_conn(request) as conn:
        runtime.telemetry.inbox_pending.set(inbox_store.pending_count(conn))
        counts = outbox_store.counts_by_sink(conn)
    names = set(counts) | set(runtime.dispatcher.sinks) | set(runtime.external.lanes)
    for name in sorted(names):
        for state in ("pending", "parked"):
            value = counts.get(name, {}).get(state, 0)
            runtime.telemetry.sink_queue.labels(name, state).set(value)
    for name, lane in runtime.external.lanes.items():
        runtime.telemetry.sink_breaker.labels(name).set(BREAKER_STATES[lane.breaker.state])
    return Response(runtime.telemetry.render(), media_type=CONTENT_TYPE_LATEST)
