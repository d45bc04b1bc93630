"""The dead letters page: what could not be processed, why, and (for admins) a replay button.

It reads and replays through the same functions as the JSON API
(`api/dead_letters.py`), so a preview is redacted the same way and a replay
from the page is the replay the API does, attributed to the signed-in admin.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from autoticket.api.dead_letters import dead_letter_summaries, replay_dead_letter
from autoticket.api.deps import read_conn
from autoticket.api.errors import ApiError
from autoticket.store.dead_letters import count_dead_letters
from autoticket.web.session import signed_in
from autoticket.web.views import PAGE_SIZE, _error, _page, _pager, _render, _root, posted_form

__all__ = ["router"]

router = APIRouter(include_in_schema=False, dependencies=[Depends(signed_in)])


def _list_page(
    request: Request, page: int, error: str | None = None, status: int = 200
) -> Response:
    items = [
        # once a replay was accepted, another one feeds the events in again: say so
        item | {"accepted_before": str(item["replay_result"] or "").startswith("accepted")}
        for item in dead_letter_summaries(request, PAGE_SIZE, (page - 1) * PAGE_SIZE)
    ]
    with read_conn(request) as conn:
        total = int(count_dead_letters(conn))
    return _render(
        request,
        "dead_letters.html",
        {
            "items": items,
            "total": total,
            "paging": _pager(f"{_root(request)}/dead-letters", None, page, len(items), total),
            "error": error,
        },
        status,
    )


@router.get("/dead-letters", response_class=HTMLResponse)
def dead_letters_page(request: Request) -> Response:
    page = _page(request)
    if page is None:
        return _error(request, 400, "Bad query", "page must be a whole number from 1.")
    return _list_page(request, page)


def _id(raw: str) -> int | None:
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < len(raw) < 19 else None


@router.post("/dead-letters/{dead_letter_id}/replay", response_class=HTMLResponse)
async def replay_form(request: Request, dead_letter_id: str) -> Response:
    number = _id(dead_letter_id)
    if number is None or number < 1:
        return _error(request, 404, "Not found", "No such dead letter.")
    form = await posted_form(
        request,
        "admin",
        "replaying a dead letter",
        "This form takes a button press, nothing more.",
    )
    if isinstance(form, Response):
        return form
    principal = request.state.principal
    force = (form.get("force") or [""])[0] == "1"
    return await run_in_threadpool(_replay, request, number, principal.name, force)


def _replay(request: Request, number: int, who: str, force: bool) -> Response:
    try:
        replay_dead_letter(request, number, who, force)
    except ApiError as exc:
        if exc.status == 404:
            return _error(request, 404, "Not found", f"There is no dead letter {number}.")
        message = exc.message.replace("replay with ?force=true", "use Replay again")
        return _list_page(request, 1, f"Dead letter {number}: {message}", exc.status)
    return RedirectResponse(f"{_root(request)}/dead-letters#dl-{number}", status_code=303)
