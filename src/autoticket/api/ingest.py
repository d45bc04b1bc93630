"""POST /api/v1/ingest/{source} and /api/v2/alerts: validate, store durably, answer."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from autoticket.api.deps import raw_body_redactor
from autoticket.api.errors import ApiError
from autoticket.api.resend import ResendFilter
from autoticket.api.sns import check_sns_signature, confirm_subscription
from autoticket.api.source_auth import check_source_signature, check_source_token
from autoticket.errors import PayloadError
from autoticket.model import DeadLetter, Delivery
from autoticket.pipeline.redact_body import as_stored
from autoticket.releases.hooks import HOOKS
from autoticket.service.runtime import Runtime
from autoticket.sources import SOURCES, known_sources, parse_delivery
from autoticket.store.outage import is_unavailable, reason_of

__all__ = [
    "check_ingest_token",
    "is_json",
    "keep_refused",
    "read_body",
    "read_machine_json",
    "router",
]

T = TypeVar("T")

router = APIRouter(tags=["ingest"])
log = logging.getLogger("autoticket.api")

_JSON_TYPES = ("application/json", "text/json")
# Sources the dead-letter counter names (anything else is "unknown": a label per URL
# typo would grow the metric without bound).
_LABELLED = frozenset(known_sources()) | frozenset(HOOKS)
_KEPT_HEADERS = ("content-type", "user-agent", "x-request-id", "x-forwarded-for")


def is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media in _JSON_TYPES or (media.startswith("application/") and media.endswith("+json"))


def _kept_header(name: str) -> bool:
    """Headers stored with a delivery: the few that explain it, and CloudEvents'
    binary-mode attributes (`ce-*`), which a replay needs to parse it again."""
    return name in _KEPT_HEADERS or name.startswith("ce-")


def _sender_media(source: str, content_type: str) -> bool:
    """A non-JSON media type this source's sender labels its JSON body with."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media in SOURCES[source].extra_content_types


async def read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The whole body, within `limit` bytes and `timeout` seconds.

    A client that sends its body a byte at a time would otherwise hold a
    connection (and a place in `server.max_connections`) as long as it likes:
    past the timeout it gets 408 and the connection is closed.
    """
    try:
        async with asyncio.timeout(timeout):  # uvicorn runs asyncio; half anyio's cost
            return await _read_capped(request, limit)
    except TimeoutError:
        raise ApiError(
            408,
            "request_timeout",
            f"the request body did not arrive within {timeout:g}s (ingest.body_timeout)",
            "body",
        ) from None


async def _off_loop_if_large(
    size: int, in_thread_from: int, parse: Callable[..., T], *args: Any
) -> T:
    """`parse(*args)`, in a worker thread for a body of `size` >= `in_thread_from`:
    decoding and checking a megabyte of JSON takes milliseconds that every other
    request would wait."""
    if size < in_thread_from:
        return parse(*args)
    return await asyncio.get_running_loop().run_in_executor(_PARSER, partial(parse, *args))


# Large parses take turns in one thread of their own. Parsed all at once in a
# pool, a storm of big bodies held every body's events at the same time, each
# in its thread's malloc arena (24 x 1 MiB took the process from 200 MB to
# 425 MB; in turns, in one thread, it stays near 210).
_PARSER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-parse")


def _new_parser_after_fork() -> None:
    """A forked child has none of its parent's threads but a copy of the executor
    that believes its worker exists: a large body would wait forever. The child
    gets an executor of its own (a pre-forking server; `make mutate`, which forks
    a process per mutant from one that ran the tests)."""
    global _PARSER
    _PARSER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-parse")


os.register_at_fork(after_in_child=_new_parser_after_fork)


def _event_ids(
    delivery: Delivery, max_events: int, settings: dict[str, dict[str, Any]]
) -> list[str]:
    """Only the ids outlive the parse: a request in flight holds no events."""
    return [e.id for e in parse_delivery(delivery, max_events, settings)]


async def _parse(
    delivery: Delivery,
    max_events: int,
    in_thread_from: int,
    settings: dict[str, dict[str, Any]] | None = None,
) -> list[str]:
    size = len(delivery.body)
    return await _off_loop_if_large(
        size, in_thread_from, _event_ids, delivery, max_events, settings or {}
    )


async def _read_capped(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(
            413,
            "payload_too_large",
            f"body of {declared} bytes exceeds the limit of {limit} bytes",
            "body",
            limit=limit,
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(
                413,
                "payload_too_large",
                f"body exceeds the limit of {limit} bytes",
                "body",
                limit=limit,
            )
        chunks.append(chunk)
    return b"".join(chunks)


def check_ingest_token(request: Request) -> None:
    expected = os.environ.get("AUTOTICKET_INGEST_TOKEN")
    if not expected:
        return
    given = request.headers.get("authorization", "")
    # Header only: a token in the URL would end up in access logs and proxies.
    token = given[7:] if given.lower().startswith("bearer ") else None
    if not token or not secrets.compare_digest(token.encode(), expected.encode()):
        raise ApiError(
            401,
            "unauthorized",
            "missing or wrong ingest token (Authorization: Bearer <token>)",
            "authorization",
        )


_STR_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
# The bodies are read raw (the adapters check them); these schemas document them
# in /openapi.json, and Schemathesis generates from them.
_ANY_JSON_BODY = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": {}}}}
}
_POSTABLE_ALERTS_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["labels"],
                        "properties": {
                            "labels": _STR_MAP,
                            "annotations": _STR_MAP,
                            "startsAt": {"type": "string", "format": "date-time"},
                            "endsAt": {"type": "string", "format": "date-time"},
                            "generatorURL": {"type": "string"},
                        },
                    },
                }
            }
        },
    }
}


@router.post("/api/v1/ingest/{source}", status_code=202, openapi_extra=_ANY_JSON_BODY)
async def ingest(source: str, request: Request) -> JSONResponse:
    return await _ingest(source, request, 202)


@router.post("/api/v2/alerts", status_code=200, openapi_extra=_POSTABLE_ALERTS_BODY)
async def prometheus_alerts(request: Request) -> JSONResponse:
    """What Prometheus posts to an Alertmanager (`alerting.alertmanagers`): a JSON
    array of alerts, the `prometheus` source. Answers 200 as Alertmanager does;
    unchanged re-sends are dropped before the inbox (api/resend.py)."""
    return await _ingest("prometheus", request, 200, resend=_resend_filter(request))


def _resend_filter(request: Request) -> ResendFilter:
    state = request.app.state
    sieve: ResendFilter | None = getattr(state, "resend_filter", None)
    if sieve is None:
        window = state.runtime.config.ingest.unchanged_resend_window
        sieve = state.resend_filter = ResendFilter(window)
    return sieve


async def _ingest(
    source: str, request: Request, ok_status: int, resend: ResendFilter | None = None
) -> JSONResponse:
    runtime: Runtime = request.app.state.runtime
    telemetry = runtime.telemetry
    pending: list[tuple[bytes, bytes]] = []
    dropped = 0
    sns_message: dict[str, Any] | None = None
    try:
        check_source_token(request, source)
        ingest_config = runtime.config.ingest
        body = await read_body(
            request, ingest_config.max_body_bytes, ingest_config.body_timeout.total_seconds()
        )
        check_source_signature(request, source, body)
        sns_message = await check_sns_signature(request, source, body)
        received_at = runtime.clock.now()
        if resend is not None and is_json(request.headers.get("content-type", "")):
            sieved = resend.sieve(body, received_at)
            dropped, pending = sieved.dropped, sieved.pending
            if sieved.body is None:
                telemetry.deliveries.labels(source, str(ok_status)).inc()
                telemetry.events_received.labels(source, "unchanged").inc(dropped)
                return JSONResponse(
                    {"accepted": 0, "ids": [], "delivery_id": None, "unchanged": dropped},
                    status_code=ok_status,
                )
            body = sieved.body
        delivery = Delivery(
            id=uuid.uuid4().hex,
            source=source,
            received_at=received_at,
            body=body,
            headers={k: v for k, v in request.headers.items() if _kept_header(k.lower())},
        )
        delivery = as_stored(delivery, raw_body_redactor(request))
        if source not in SOURCES:
            raise await keep_refused(
                runtime,
                delivery,
                ApiError(
                    404,
                    "unknown_source",
                    f"unknown source {source!r}",
                    "source",
                    known_sources=known_sources(),
                ),
                "source",
            ) from None
        content_type = request.headers.get("content-type", "")
        if not is_json(content_type) and not _sender_media(source, content_type):
            raise await keep_refused(
                runtime,
                delivery,
                ApiError(
                    415,
                    "unsupported_media_type",
                    f"content type {content_type or '(none)'!r} is not JSON; send application/json",
                    "content-type",
                ),
                "content-type",
            )
        try:
            # Only the ids outlive the parse: the events of every request in flight
            # would otherwise stay in memory until its commit (a storm: 12 x 5,000).
            ids = await _parse(
                delivery,
                ingest_config.max_events_per_delivery,
                ingest_config.parse_in_thread_bytes,
                runtime.config.adapter_settings,
            )
        except PayloadError as exc:
            refused = _refusal(exc)
        else:
            refused = None
        if refused is not None:
            # Out of the except block: its traceback holds the parsed payload (tens of
            # MB for a storm body), which must not stay alive while the dead letter
            # is written, once per refused request in flight.
            raise await keep_refused(runtime, delivery, refused, refused.field or "body") from None
        try:
            await runtime.committer.append(delivery, len(ids))
        except Exception as exc:  # any storage failure: the sender must retry, not lose it
            if is_unavailable(exc):
                runtime.db_health.failed(exc, "ingest", refused=True)
            raise ApiError(
                503,
                "storage_unavailable",
                f"the delivery could not be stored ({reason_of(exc)}); retry later",
                "body",
            ) from exc
    except ApiError as exc:
        telemetry.deliveries.labels(
            source if source in known_sources() else "unknown", str(exc.status)
        ).inc()
        return exc.response()
    if resend is not None:
        resend.remember(pending, received_at)
    telemetry.deliveries.labels(source, str(ok_status)).inc()
    telemetry.events_received.labels(source, "accepted").inc(len(ids))
    if dropped:
        telemetry.events_received.labels(source, "unchanged").inc(dropped)
    answer: dict[str, Any] = {"accepted": len(ids), "ids": ids, "delivery_id": delivery.id}
    if resend is not None:
        answer["unchanged"] = dropped
    if sns_message is not None and (
        subscription := await confirm_subscription(request, source, sns_message)
    ):
        answer["subscription"] = subscription
    return JSONResponse(answer, status_code=ok_status)


def _refusal(exc: PayloadError) -> ApiError:
    code = {400: "malformed_json", 413: "too_many_events"}.get(exc.status, "invalid_payload")
    return ApiError(exc.status, code, f"{exc.field}: {exc.reason}", exc.field, reason=exc.reason)


async def keep_refused(
    runtime: Runtime, delivery: Delivery, error: ApiError, field: str
) -> ApiError:
    """Keep the readable payload as a dead letter and return the error to raise.

    Keeping it is best effort: if the dead letter cannot be stored, the sender
    still gets the 4xx that explains what is wrong with the request (with
    `"dead_letter_id": null`), never the storage error.
    """
    dead = DeadLetter(delivery, "ingest", error.message, field)
    dead_id: int | None
    try:
        dead_id = await runtime.committer.dead_letter(dead, error.status)
    except Exception as exc:
        if is_unavailable(exc):
            runtime.db_health.failed(exc, "ingest")
        else:
            log.exception(
                "could not store the dead letter of delivery %s (%s %s)",
                delivery.id,
                error.status,
                error.code,
            )
        dead_id = None
    else:
        runtime.telemetry.dead_letters.labels(
            delivery.source if delivery.source in _LABELLED else "unknown", "ingest"
        ).inc()
    error.extra["dead_letter_id"] = dead_id
    return error


async def read_machine_json(request: Request, limit: int) -> bytes:
    """The body of a machine's JSON event (a release, pushed samples): the ingest
    token checked, JSON required (a cross-site form cannot send it), read under
    the ingest body deadline and `limit`."""
    check_ingest_token(request)
    content_type = request.headers.get("content-type", "")
    if not is_json(content_type):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"content type {content_type or '(none)'!r} is not JSON; send application/json",
            "content-type",
        )
    timeout = request.app.state.runtime.config.ingest.body_timeout.total_seconds()
    return await read_body(request, limit, timeout)
