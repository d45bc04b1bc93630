"""The sinks page: each sink's queue and breaker, its parked actions, and (for
admins) a button that replays one — through the same functions as the API."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from autoticket.api.deps import read_conn, runtime_of
from autoticket.api.errors import ApiError
from autoticket.api.sinks import parked_view, replay_parked, sink_states
from autoticket.store import outbox as outbox_store
from autoticket.web.dead_letters import _id
from autoticket.web.session import signed_in
from autoticket.web.views import _error, _render, _root, posted_form

__all__ = ["router"]

router = APIRouter(include_in_schema=False, dependencies=[Depends(signed_in)])

SHOWN = 50  # parked actions per sink on the page; the API pages through all


def _page(request: Request, error: str | None = None, status: int = 200) -> Response:
    runtime = runtime_of(request)
    with read_conn(request) as conn:
        states = sink_states(runtime, outbox_store.counts_by_sink(conn))
        parked = {
            s["name"]: [parked_view(r) for r in outbox_store.parked(conn, s["name"], SHOWN)]
            for s in states
            if s["parked"]
        }
    return _render(
        request, "sinks.html", {"sinks": states, "parked": parked, "error": error}, status
    )


@router.get("/sinks", response_class=HTMLResponse)
def sinks_page(request: Request) -> Response:
    return _page(request)


@router.post("/sinks/{name}/parked/{action_id}/retry", response_class=HTMLResponse)
async def retry_form(request: Request, name: str, action_id: str) -> Response:
    number = _id(action_id)
    if number is None:
        return _error(request, 404, "Not found", "No such parked action.")
    form = await posted_form(
        request, "admin", "replaying an action", "This form takes a button press, nothing more."
    )
    if isinstance(form, Response):
        return form
    principal = request.state.principal
    return await run_in_threadpool(_replay, request, name, number, principal.name)


def _replay(request: Request, name: str, number: int, who: str) -> Response:
    try:
        replay_parked(request, name, number, who)
    except ApiError as exc:
        return _page(request, exc.message, exc.status)
    return RedirectResponse(f"{_root(request)}/sinks", status_code=303)
