"""Incidents: list, detail with explain, and the actions people take."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from autoticket.api.auth import Principal, as_responder, as_viewer
from autoticket.api.deps import MAX_DB_INT, DbId, Offset, read_conn, runtime_of, write_conn
from autoticket.api.errors import ApiError
from autoticket.explain import incident_detail, incident_summary
from autoticket.lifecycle.manual import IncidentNotFound, acknowledge, add_label, resolve_now
from autoticket.store.incidents import list_incidents

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])


class ActionBody(BaseModel):
    """Who acts is the token's owner; a `by` field, once free text, is ignored."""

    by: str | None = Field(default=None, max_length=128)
    # Checked by `_label` with a message that says what is wrong, not by a pattern.
    label: str | None = None


_LABEL = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


def _label(body: ActionBody | None) -> str:
    """The label to add, or a 422 that says exactly what is wrong with it."""
    if body is None or body.label is None:
        raise ApiError(422, "invalid_request", 'label: missing; send {"label": "name"}', "label")
    label = body.label
    if not label:
        raise ApiError(422, "invalid_label", "label: is empty", "label")
    if len(label) > 64:
        raise ApiError(
            422, "invalid_label", f"label: at most 64 characters, got {len(label)}", "label"
        )
    if not _LABEL.fullmatch(label):
        bad = sorted({c for c in label if not re.fullmatch(r"[A-Za-z0-9_.:-]", c)})
        shown = ", ".join("space" if c == " " else repr(c) for c in bad)
        raise ApiError(
            422,
            "invalid_label",
            f"label: {label[:64]!r} has {shown}; use letters, digits and _ . : - only",
            "label",
        )
    return label


@router.get("", dependencies=[Depends(as_viewer)])
def get_incidents(
    request: Request,
    status: Literal["active", "open", "acknowledged", "resolved", "all"] | None = None,
    limit: int = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Incidents, newest first; `status=all` (as the UI sends it) is the same as none."""
    limit = max(1, min(limit, 1000))
    with read_conn(request) as conn:
        rows, total = list_incidents(
            conn, None if status == "all" else status, limit, max(0, offset)
        )
    return {"items": [incident_summary(r) for r in rows], "total": total}


@router.get("/{incident_id}", dependencies=[Depends(as_viewer)])
def get_incident(
    request: Request,
    incident_id: DbId,
    alerts_limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    alerts_offset: Annotated[int, Query(ge=0, le=MAX_DB_INT)] = 0,
) -> dict[str, Any]:
    """The incident with explain; its alerts are a page (`alerts_total` says how many)."""
    with read_conn(request) as conn:
        detail = incident_detail(
            conn, incident_id, runtime_of(request).config, alerts_limit, alerts_offset
        )
    if detail is None:
        raise ApiError(404, "not_found", f"no incident {incident_id}", "incident_id")
    return detail


@router.post("/{incident_id}/{action}")
def act(
    request: Request,
    incident_id: DbId,
    action: Literal["ack", "resolve", "label"],
    principal: Annotated[Principal, Depends(as_responder)],
    body: ActionBody | None = None,
) -> dict[str, Any]:
    runtime = runtime_of(request)
    who = principal.name
    now = runtime.clock.now()
    try:
        with write_conn(request) as conn:
            if action == "ack":
                result = acknowledge(conn, runtime.config, incident_id, now, who)
            elif action == "resolve":
                result = resolve_now(conn, runtime.config, incident_id, now, who)
            else:
                result = add_label(conn, incident_id, now, _label(body), who)
    except IncidentNotFound:
        raise ApiError(404, "not_found", f"no incident {incident_id}", "incident_id") from None
    except ValueError as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    runtime.worker.wake()
    return result
