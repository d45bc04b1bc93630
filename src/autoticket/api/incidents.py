"""Incidents: list, detail with explain, and the actions people take."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from autoticket.api.auth import Principal, as_responder, as_viewer
from autoticket.api.deps import DbId, Offset, read_conn, runtime_of, write_conn
from autoticket.api.errors import ApiError
from autoticket.explain import incident_detail, incident_summary
from autoticket.lifecycle.manual import IncidentNotFound, acknowledge, add_label, resolve_now
from autoticket.store.incidents import list_incidents

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])


class ActionBody(BaseModel):
    """Who acts is the token's owner; a `by` field, once free text, is ignored."""


class LabelBody(ActionBody):
    label: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")


@router.get("", dependencies=[Depends(as_viewer)])
def get_incidents(
    request: Request,
    status: Literal["active", "open", "acknowledged", "resolved"] | None = None,
    limit: int = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    limit = max(1, min(limit, 1000))
    with read_conn(request) as conn:
        rows, total = list_incidents(conn, status, limit, max(0, offset))
    return {"items": [incident_summary(r) for r in rows], "total": total}


@router.get("/{incident_id}", dependencies=[Depends(as_viewer)])
def get_incident(request: Request, incident_id: DbId) -> dict[str, Any]:
    with read_conn(request) as conn:
        detail = incident_detail(conn, incident_id, runtime_of(request).config)
    if detail is None:
        raise ApiError(404, "not_found", f"no incident {incident_id}", "incident_id")
    return detail


@router.post("/{incident_id}/{action}")
def act(
    request: Request,
    incident_id: DbId,
    action: Literal["ack", "resolve", "label"],
    principal: Annotated[Principal, Depends(as_responder)],
    body: LabelBody | ActionBody | None = None,
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
                if not isinstance(body, LabelBody):
                    raise ApiError(
                        422, "invalid_request", "label needs a body with 'label'", "label"
                    )
                result = add_label(conn, incident_id, now, body.label, who)
    except IncidentNotFound:
        raise ApiError(404, "not_found", f"no incident {incident_id}", "incident_id") from None
    except ValueError as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    runtime.worker.wake()
    return result
