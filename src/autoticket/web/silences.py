"""The silences page: what is silenced now and why, a form to silence, an Expire button.

It creates and expires through the same functions as the JSON API
(`api/silences.py`), so a silence made here is checked the same way and
attributed to the signed-in person; responders and admins may act, viewers
read. The YAML's silences and maintenance windows are listed read-only.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from autoticket.api.deps import read_conn, runtime_of, write_conn
from autoticket.api.errors import ApiError
from autoticket.api.silences import SilenceRequest, configured_view, new_silence, silence_view
from autoticket.policy.silences import config_silences
from autoticket.store.silences import expire_silence, list_silences
from autoticket.web.dead_letters import _id
from autoticket.web.session import signed_in
from autoticket.web.views import PAGE_SIZE, _error, _render, _root, posted_form

__all__ = ["router"]

router = APIRouter(include_in_schema=False, dependencies=[Depends(signed_in)])


def _list_page(
    request: Request,
    error: str | None = None,
    status: int = 200,
    form: dict[str, str] | None = None,
) -> Response:
    runtime = runtime_of(request)
    now = runtime.clock.now()
    with read_conn(request) as conn:
        current, _ = list_silences(conn, None, now, PAGE_SIZE, 0)
    items = [silence_view(row, now) for row in current]
    return _render(
        request,
        "silences.html",
        {
            "live": [s for s in items if s["state"] != "expired"],
            "ended": [s for s in items if s["state"] == "expired"][:20],
            "configured": [configured_view(s, now) for s in config_silences(runtime.config)],
            "error": error,
            "form": form or {"matchers": "", "duration": "2h", "comment": ""},
        },
        status,
    )


@router.get("/silences", response_class=HTMLResponse)
def silences_page(request: Request) -> Response:
    return _list_page(request)


def _one(form: dict[str, list[str]], name: str) -> str:
    return (form.get(name) or [""])[0]


@router.post("/silences", response_class=HTMLResponse)
async def create_form(request: Request) -> Response:
    form = await posted_form(
        request, "responder", "silencing", "This form is larger than a silence needs."
    )
    if isinstance(form, Response):
        return form
    given = {name: _one(form, name) for name in ("matchers", "duration", "comment")}
    matchers = [line.strip() for line in given["matchers"].splitlines() if line.strip()]
    body = SilenceRequest(matchers=matchers, comment=given["comment"], duration=given["duration"])
    return await run_in_threadpool(_create, request, body, given)


def _create(request: Request, body: SilenceRequest, given: dict[str, str]) -> Response:
    try:
        row = new_silence(request, body, request.state.principal)
    except ApiError as exc:
        return _list_page(request, exc.message, exc.status, given)
    runtime_of(request).worker.wake()
    return RedirectResponse(f"{_root(request)}/silences#silence-{row.id}", status_code=303)


@router.post("/silences/{silence_id}/expire", response_class=HTMLResponse)
async def expire_form(request: Request, silence_id: str) -> Response:
    number = _id(silence_id)
    if number is None or number < 1:
        return _error(request, 404, "Not found", "No such silence.")
    form = await posted_form(
        request, "responder", "expiring a silence", "This form takes a button press, nothing more."
    )
    if isinstance(form, Response):
        return form
    return await run_in_threadpool(_expire, request, number)


def _expire(request: Request, number: int) -> Response:
    runtime = runtime_of(request)
    with write_conn(request) as conn:
        ended = expire_silence(conn, number, request.state.principal.name, runtime.clock.now())
    if not ended:
        return _list_page(request, f"Silence {number} does not exist or has already ended.", 409)
    runtime.worker.wake()
    return RedirectResponse(f"{_root(request)}/silences", status_code=303)
