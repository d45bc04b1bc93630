"""Dead letters: what could not be processed, why, and a way to try again."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from autoticket.api.deps import body_preview, read_conn, runtime_of, write_conn
from autoticket.api.errors import ApiError
from autoticket.errors import PayloadError
from autoticket.pipeline.base import Delivery
from autoticket.sources import decode_json, get_source
from autoticket.store import inbox as inbox_store
from autoticket.store.dead_letters import get_dead_letter, list_dead_letters, mark_replayed

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/dead-letters", tags=["dead-letters"])


def _view(row: Any, with_body: bool) -> dict[str, Any]:
    view = {
        "id": row.id,
        "delivery_id": row.delivery_id,
        "source": row.source,
        "received_at": row.received_at,
        "stage": row.stage,
        "field": row.field,
        "error": row.error,
        "status_code": row.status_code,
        "size": len(row.body),
        "replay_count": row.replay_count,
        "replayed_at": row.replayed_at,
        "replay_result": row.replay_result,
    }
    if with_body:
        view["headers"] = row.headers
        view["body"] = body_preview(bytes(row.body))
    return view


@router.get("")
def get_dead_letters(request: Request, limit: int = 100, offset: int = 0) -> dict[str, Any]:
    with read_conn(request) as conn:
        rows = list_dead_letters(conn, max(1, min(limit, 1000)), max(0, offset))
    return {"items": [_view(r, with_body=True) for r in rows]}


@router.get("/{dead_letter_id}")
def get_one(request: Request, dead_letter_id: int) -> dict[str, Any]:
    with read_conn(request) as conn:
        row = get_dead_letter(conn, dead_letter_id)
    if row is None:
        raise ApiError(404, "not_found", f"no dead letter {dead_letter_id}", "dead_letter_id")
    return _view(row, with_body=True)


@router.post("/{dead_letter_id}/replay")
def replay(request: Request, dead_letter_id: int) -> dict[str, Any]:
    """Parse the kept payload again (after a fix or a config change) and feed it in."""
    runtime = runtime_of(request)
    now = runtime.clock.now()
    with write_conn(request) as conn:
        row = get_dead_letter(conn, dead_letter_id)
        if row is None:
            raise ApiError(404, "not_found", f"no dead letter {dead_letter_id}", "dead_letter_id")
        delivery = Delivery(
            f"{row.delivery_id}-r{row.replay_count + 1}",
            row.source,
            now,
            bytes(row.body),
            dict(row.headers),
        )
        try:
            source = get_source(row.source)
            events = source.parse(
                decode_json(delivery.body),
                delivery.headers,
                delivery_id=delivery.id,
                received_at=now,
            )
        except (PayloadError, LookupError) as exc:
            reason = f"{exc.field}: {exc.reason}" if isinstance(exc, PayloadError) else str(exc)
            mark_replayed(conn, dead_letter_id, now, f"failed: {reason}")
            error = ApiError(
                422, "replay_failed", f"still failing: {reason}", getattr(exc, "field", "source")
            )
        else:
            inbox_store.append(conn, [(delivery, len(events))])
            mark_replayed(conn, dead_letter_id, now, f"accepted {len(events)} event(s)")
            error = None
    if error is not None:
        raise error
    runtime.worker.wake()
    return {"accepted": len(events), "ids": [e.id for e in events], "delivery_id": delivery.id}
