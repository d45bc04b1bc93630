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
from autoticket.store.outage import is_unavailable, reason_of

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
        if is_unavailable(exc):
            runtime.db_health.failed(exc, "readyz")
            checks["database"] = f"unavailable: {reason_of(exc)}"
        else:
            checks["database"] = f"error: {type(exc).__name__}"
    if runtime.start_worker:
        checks["worker"] = "ok" if runtime.worker.alive else "not running"
        if runtime.worker.last_error:
            checks["worker"] = f"failing: {runtime.worker.last_error[:200]}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


@router.get("/metrics")
def metrics(request: Request) -> Response:
    """The process's metrics, during a database outage too (then without a fresh
    inbox count): a failed scrape would say the service is down, not its database."""
    runtime = runtime_of(request)
    telemetry = runtime.telemetry
    try:
        with read_conn(request) as conn:
            telemetry.inbox_pending.set(inbox_store.pending_count(conn))
            counts = outbox_store.counts_by_sink(conn)
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        runtime.db_health.failed(exc, "metrics")
        counts = None  # the queue gauges keep their last values during an outage
    telemetry.database_available.set(0 if runtime.db_health.down else 1)
    if counts is not None:
        names = set(counts) | set(runtime.dispatcher.sinks) | set(runtime.external.lanes)
        for name in sorted(names):
            for state in ("pending", "parked"):
                value = counts.get(name, {}).get(state, 0)
                telemetry.sink_queue.labels(name, state).set(value)
    for name, lane in runtime.external.lanes.items():
        telemetry.sink_breaker.labels(name).set(BREAKER_STATES[lane.breaker.state])
    return Response(telemetry.render(), media_type=CONTENT_TYPE_LATEST)
