"""`POST /api/v1/metrics`: pushed SLI samples for the release judge.

Like releases, samples come from machines and take the ingest credential.
A push is stored at once; a retried push stores nothing twice.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from autoticket.api.deps import write_conn
from autoticket.api.errors import ApiError
from autoticket.api.ingest import _off_loop_if_large, read_machine_json
from autoticket.errors import PayloadError
from autoticket.model import MetricSample
from autoticket.releases.samples import parse_samples
from autoticket.sources.base import decode_json
from autoticket.store.metric_samples import add_samples

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/metrics", tags=["releases"])


@router.post("", status_code=202)
async def post_samples(request: Request) -> JSONResponse:
    runtime = request.app.state.runtime
    ingest = runtime.config.ingest
    body = await read_machine_json(request, ingest.max_body_bytes)
    try:
        samples = await _off_loop_if_large(
            len(body), ingest.parse_in_thread_bytes, _parse_samples, body
        )
    except PayloadError as exc:
        code = {400: "malformed_json", 413: "too_many_samples"}.get(exc.status, "invalid_samples")
        raise ApiError(
            exc.status, code, f"{exc.field}: {exc.reason}", exc.field, reason=exc.reason
        ) from None
    with write_conn(request) as conn:
        add_samples(conn, samples, runtime.clock.now())
    return JSONResponse({"accepted": len(samples)}, status_code=202)


def _parse_samples(body: bytes) -> list[MetricSample]:
    return parse_samples(decode_json(body))
