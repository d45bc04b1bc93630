"""Deploy webhooks: `POST /api/v1/ingest/github-deployment` and `.../argocd`.

Each delivery becomes a release exactly as `POST /api/v1/releases` records
one (releases/hooks.py says how). Like every ingest path, a delivery that
cannot be used is kept as a dead letter with the field and the reason (and
can be replayed after a fix), and a used one is kept in the inbox as
received, already processed. GitHub cannot send a bearer token: with
`releases.sources.github_deployment.secret_env` set, its HMAC signature
(`X-Hub-Signature-256`) authenticates it instead.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import uuid

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from autoticket.api.deps import raw_body_redactor, write_conn
from autoticket.api.errors import ApiError
from autoticket.api.ingest import check_ingest_token, is_json, keep_refused, read_body
from autoticket.api.releases import record_release, release_response
from autoticket.errors import PayloadError
from autoticket.model import Delivery, Release
from autoticket.pipeline.redact_body import as_stored
from autoticket.releases.hooks import release_of_hook
from autoticket.service.runtime import Runtime
from autoticket.sources.base import decode_json
from autoticket.store import inbox as inbox_store

__all__ = ["SIGNATURE_HEADER", "router", "signature_of"]

router = APIRouter(tags=["ingest"])

SIGNATURE_HEADER = "x-hub-signature-256"
# Kept with the body, for replay: the GitHub event names what the body is.
_KEPT_HEADERS = (
    "content-type",
    "user-agent",
    "x-request-id",
    "x-forwarded-for",
    "x-github-event",
    "x-github-delivery",
    "x-github-hook-id",
)


def signature_of(secret: str, body: bytes) -> str:
    """GitHub's `X-Hub-Signature-256` of `body`: `sha256=` and the hex HMAC-SHA256."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@router.post("/api/v1/ingest/github-deployment", status_code=201)
async def github_deployment(request: Request) -> JSONResponse:
    """A GitHub `deployment_status` (or `deployment`) webhook; `ping` is answered 200."""
    return await _receive(request, "github-deployment")


@router.post("/api/v1/ingest/argocd", status_code=201)
async def argocd(request: Request) -> JSONResponse:
    """An Argo CD notification rendered by the template of docs/sources/deploy-webhooks.md."""
    return await _receive(request, "argocd")


async def _receive(request: Request, source: str) -> JSONResponse:
    runtime: Runtime = request.app.state.runtime
    try:
        response = await _handle(request, runtime, source)
    except ApiError as exc:
        runtime.telemetry.deliveries.labels(source, str(exc.status)).inc()
        return exc.response()
    runtime.telemetry.deliveries.labels(source, str(response.status_code)).inc()
    return response


async def _handle(request: Request, runtime: Runtime, source: str) -> JSONResponse:
    secret = _github_secret(runtime) if source == "github-deployment" else None
    if secret is None:
        check_ingest_token(request)
    config = runtime.config
    body = await read_body(
        request, config.ingest.max_body_bytes, config.ingest.body_timeout.total_seconds()
    )
    if secret is not None:
        _check_signature(request, secret, body)
    now = runtime.clock.now()
    delivery = Delivery(
        uuid.uuid4().hex,
        source,
        now,
        body,
        {k: v for k, v in request.headers.items() if k.lower() in _KEPT_HEADERS},
    )
    delivery = as_stored(delivery, raw_body_redactor(request))
    content_type = request.headers.get("content-type", "")
    if not is_json(content_type):
        error = ApiError(
            415,
            "unsupported_media_type",
            f"content type {content_type or '(none)'!r} is not JSON; send application/json"
            " (GitHub: the webhook's content type application/json)",
            "content-type",
        )
        raise await keep_refused(runtime, delivery, error, "content-type")
    try:
        release = release_of_hook(source, decode_json(body), delivery.headers, config)
    except PayloadError as exc:
        refused = _refusal(exc)
    else:
        refused = None
    if refused is not None:
        raise await keep_refused(runtime, delivery, refused, refused.field or "body")
    if release is None:
        return JSONResponse({"ignored": "ping", "delivery_id": delivery.id}, status_code=200)
    return _store(request, runtime, delivery, release)


def _store(
    request: Request, runtime: Runtime, delivery: Delivery, release: Release
) -> JSONResponse:
    try:
        with write_conn(request) as conn:
            row, created = record_release(conn, release, delivery.received_at)
            inbox_store.append(conn, [(delivery, 0)], processed_at=delivery.received_at)
    except Exception as exc:  # any storage failure: the sender must retry, not lose it
        raise ApiError(
            503,
            "storage_unavailable",
            f"the delivery could not be stored ({type(exc).__name__}); retry later",
            "body",
        ) from exc
    return release_response(row, created, delivery_id=delivery.id)


def _github_secret(runtime: Runtime) -> str | None:
    """The webhook secret when one is configured; a configured but unset one is a 503."""
    name = runtime.config.releases.sources.github_deployment.secret_env
    if name is None:
        return None
    secret = os.environ.get(name)
    if not secret:
        raise ApiError(
            503,
            "not_configured",
            f"releases.sources.github_deployment.secret_env names {name}, which is not set",
            SIGNATURE_HEADER,
        )
    return secret


def _check_signature(request: Request, secret: str, body: bytes) -> None:
    given = request.headers.get(SIGNATURE_HEADER, "")
    if not hmac.compare_digest(given.encode(), signature_of(secret, body).encode()):
        reason = "missing" if not given else "does not match the body and the webhook's secret"
        raise ApiError(401, "unauthorized", f"{SIGNATURE_HEADER}: {reason}", SIGNATURE_HEADER)


def _refusal(exc: PayloadError) -> ApiError:
    code = "malformed_json" if exc.status == 400 else "invalid_release"
    return ApiError(exc.status, code, f"{exc.field}: {exc.reason}", exc.field, reason=exc.reason)
