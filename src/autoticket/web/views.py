"""The small server-rendered UI: overview, incident page with "why", tickets list.

Pages read through the same store and explain functions as the JSON API, and the
two buttons call the same lifecycle functions, so the UI never disagrees with it.
No JavaScript and no external assets: the page works offline.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jinja2
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from autoticket.api.deps import read_conn, runtime_of, write_conn
from autoticket.api.tickets import ticket_view
from autoticket.explain import incident_detail, incident_summary
from autoticket.lifecycle.manual import IncidentNotFound, acknowledge, resolve_now
from autoticket.store.dead_letters import count_dead_letters
from autoticket.store.incidents import list_incidents
from autoticket.store.tickets import list_tickets
from autoticket.web.session import csrf_of, csrf_ok, same_origin, signed_in
from autoticket.web.ticket_text import annotation_items, body_lines

__all__ = [
    "age",
    "bad_request",
    "compact_json",
    "error_page",
    "mount_web",
    "page_number",
    "posted_form",
    "read_form",
    "render",
    "router",
]

_HERE = Path(__file__).parent
STATUSES = ("active", "open", "acknowledged", "resolved", "all")
PAGE_SIZE = 100
MAX_FORM_BYTES = 4096

router = APIRouter(include_in_schema=False, dependencies=[Depends(signed_in)])


def age(then: datetime | str | None, now: datetime) -> str:
    """`45s`, `3m`, `2h`, `4d`: the whole units elapsed since `then`."""
    if then is None:
        return ""
    if isinstance(then, str):
        then = datetime.fromisoformat(then)
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def when(value: datetime | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.strftime("%Y-%m-%d %H:%M:%S")


def compact_json(value: Any) -> str:
    return json.dumps(value, separators=(", ", ": "), ensure_ascii=False, default=str)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_HERE / "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        age=age, when=when, json=compact_json, body_lines=body_lines, annotations=annotation_items
    )
    return env


templates = Jinja2Templates(env=_environment())


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", ""))


def _render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    principal = getattr(request.state, "principal", None)
    base = {
        "root": _root(request),
        "now": runtime_of(request).clock.now(),
        "me": principal,
        "csrf": csrf_of(principal),
    }
    return templates.TemplateResponse(request, name, base | context, status_code=status)


def _error(request: Request, status: int, title: str, message: str) -> Response:
    return _render(
        request, "error.html", {"status": status, "title": title, "message": message}, status
    )


def _status(request: Request, default: str) -> str | None:
    value = request.query_params.get("status") or default
    return value if value in STATUSES else None


def _page(request: Request) -> int | None:
    """The 1-based `page` query parameter; None when it is not a positive number."""
    raw = request.query_params.get("page") or "1"
    if not (raw.isascii() and raw.isdigit() and len(raw) < 10) or int(raw) < 1:
        return None
    return int(raw)


def _pager(path: str, status: str | None, page: int, shown: int, total: int) -> dict[str, Any]:
    """Where the shown rows sit in the whole list, and links to the pages around it."""
    last = max(1, -(-total // PAGE_SIZE))
    first_row = (page - 1) * PAGE_SIZE + 1 if shown else 0

    def link(number: int) -> str:
        return f"{path}?status={status}&page={number}" if status else f"{path}?page={number}"

    return {
        "page": page,
        "last": last,
        "first_row": first_row,
        "last_row": first_row + shown - 1 if shown else 0,
        "total": total,
        "newer": link(page - 1) if page > 1 else None,
        "older": link(page + 1) if page < last else None,
        "first": link(1) if page > 2 else None,
    }


def _bad_query(request: Request) -> Response:
    return _error(
        request,
        400,
        "Bad query",
        f"status must be one of {', '.join(STATUSES)}; page must be a whole number from 1.",
    )


# For the pages of other modules (web/release_pages.py): the same frame and errors.
render = _render
error_page = _error
page_number = _page


def bad_request(request: Request, message: str) -> Response:
    return _error(request, 400, "Bad query", message)


@router.get("/", response_class=HTMLResponse)
def overview(request: Request) -> Response:
    status, page = _status(request, "active"), _page(request)
    if status is None or page is None:
        return _bad_query(request)
    offset = (page - 1) * PAGE_SIZE
    with read_conn(request) as conn:
        rows, total = list_incidents(
            conn, None if status == "all" else status, PAGE_SIZE, offset, by_priority=True
        )
        _, grand_total = list_incidents(conn, None, 1)
        ticket_rows, ticket_total = list_tickets(conn, "active", PAGE_SIZE)
        dead = count_dead_letters(conn)
    return _render(
        request,
        "overview.html",
        {
            "status": status,
            "statuses": STATUSES,
            "incidents": [incident_summary(r) for r in rows],
            "incident_total": total,
            "paging": _pager(f"{_root(request)}/", status, page, len(rows), total),
            "ever_any": grand_total > 0,
            "tickets": [ticket_view(r) for r in ticket_rows],
            "ticket_total": ticket_total,
            "dead_letters": int(dead),
            "ingest_url": f"{str(request.base_url).rstrip('/')}/api/v1/ingest/alertmanager",
        },
    )


@router.get("/tickets", response_class=HTMLResponse)
def tickets_page(request: Request) -> Response:
    status, page = _status(request, "all"), _page(request)
    if status is None or page is None:
        return _bad_query(request)
    offset = (page - 1) * PAGE_SIZE
    with read_conn(request) as conn:
        rows, total = list_tickets(conn, None if status == "all" else status, PAGE_SIZE, offset)
    return _render(
        request,
        "tickets.html",
        {
            "status": status,
            "statuses": STATUSES,
            "tickets": [ticket_view(r) for r in rows],
            "total": total,
            "paging": _pager(f"{_root(request)}/tickets", status, page, len(rows), total),
        },
    )


def _incident_id(raw: str) -> int | None:
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else None


def _incident_page(request: Request, raw_id: str, error: str | None = None) -> Response:
    incident_id = _incident_id(raw_id)
    detail = None
    if incident_id is not None:
        with read_conn(request) as conn:
            detail = incident_detail(conn, incident_id, runtime_of(request).config)
    if detail is None:
        return _error(request, 404, "Incident not found", f"There is no incident {raw_id}.")
    return _render(
        request,
        "incident.html",
        {
            "i": detail,
            "why": detail["explain"],
            "error": error,
            "redacted": _redaction_totals(detail["explain"]["redactions"]),
        },
        409 if error else 200,
    )


async def read_form(request: Request) -> dict[str, list[str]] | None:
    """A posted form's fields, or None when it is larger than any form here."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    return parse_qs(body.decode("utf-8", "replace"))


async def posted_form(
    request: Request, need: str, acting: str, too_large: str
) -> dict[str, list[str]] | Response:
    """The form of a post from this site by someone who may act as `need`, with a
    fresh CSRF token; else the error page to answer with (403, or 413 `too_large`)."""
    principal = request.state.principal
    if not same_origin(request, required=principal.via == "session"):
        return _error(request, 403, "Forbidden", "Cross-site form posts are refused.")
    if not principal.may(need):
        article = "an" if need[0] in "aeiou" else "a"
        message = f"{principal.name} is a {principal.role}; {acting} needs {article} {need}."
        return _error(request, 403, "Forbidden", message)
    form = await read_form(request)
    if form is None:
        return _error(request, 413, "Too large", too_large)
    if not csrf_ok(principal, form):
        stale = "The form is stale; reload the page and try again."
        return _error(request, 403, "Forbidden", stale)
    return form


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
def incident_page(request: Request, incident_id: str) -> Response:
    return _incident_page(request, incident_id)


@router.post("/incidents/{incident_id}/{action}", response_class=HTMLResponse)
async def incident_action(request: Request, incident_id: str, action: str) -> Response:
    number = _incident_id(incident_id)
    if action not in ("ack", "resolve") or number is None:
        return _error(request, 404, "Not found", "No such incident action.")
    form = await posted_form(
        request, "responder", "acting", "This form takes a name, nothing more."
    )
    if isinstance(form, Response):
        return form
    principal = request.state.principal
    return await run_in_threadpool(_act, request, number, action, principal.name)


def _act(request: Request, number: int, action: str, who: str) -> Response:
    runtime = runtime_of(request)
    change = acknowledge if action == "ack" else resolve_now
    try:
        with write_conn(request) as conn:
            change(conn, runtime.config, number, runtime.clock.now(), who, via="ui")
    except IncidentNotFound:
        return _error(request, 404, "Incident not found", f"There is no incident {number}.")
    except ValueError as exc:
        return _incident_page(request, str(number), error=str(exc))
    runtime.worker.wake()
    root = request.scope.get("root_path", "")
    return RedirectResponse(f"{root}/incidents/{number}", status_code=303)


def _redaction_totals(redactions: list[dict[str, Any]]) -> dict[str, Any]:
    kinds: dict[str, int] = {}
    fields: list[str] = []
    for item in redactions:
        for kind, count in (item.get("kinds") or {}).items():
            kinds[kind] = kinds.get(kind, 0) + int(count)
        fields.extend(f for f in item.get("fields") or [] if f not in fields)
    return {"kinds": kinds, "fields": fields}


def mount_web(app: FastAPI) -> None:
    from autoticket.web.dead_letters import router as dead_letters_router
    from autoticket.web.login import install_login
    from autoticket.web.release_pages import router as release_router
    from autoticket.web.silences import router as silences_router
    from autoticket.web.sinks import router as sinks_router

    install_login(app)
    app.state.html_error = _error  # the API's error handlers answer UI pages in HTML
    app.include_router(release_router)
    app.include_router(router)
    app.include_router(dead_letters_router)
    app.include_router(sinks_router)
    app.include_router(silences_router)
    app.mount("/static", StaticFiles(directory=_HERE / "static"), name="static")
