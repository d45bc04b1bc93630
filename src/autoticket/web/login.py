"""The login page: a token in, a session cookie out; and signing out."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from autoticket.api.auth import SESSION_COOKIE, principal_from_secret
from autoticket.api.deps import runtime_of
from autoticket.web.session import (
    LoginRequired,
    csrf_ok,
    safe_next,
    same_origin,
    session_principal,
)
from autoticket.web.views import _error, _render, _root, read_form

__all__ = ["install_login", "router"]

router = APIRouter(include_in_schema=False)
SESSION_SECONDS = 12 * 3600


def _login_page(request: Request, next_path: str, error: str | None = None) -> Response:
    status = 401 if error else 200
    return _render(request, "login.html", {"next": safe_next(next_path), "error": error}, status)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    return _login_page(request, request.query_params.get("next", "/"))


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    if not same_origin(request, required=True):
        return _error(request, 403, "Forbidden", "Cross-site sign-in is refused.")
    form = await read_form(request)
    if form is None:
        return _error(request, 413, "Too large", "This form takes a token, nothing more.")
    next_path = (form.get("next") or ["/"])[0]
    secret = (form.get("token") or [""])[0].strip()
    principal = None
    if secret:
        principal = await run_in_threadpool(
            principal_from_secret, runtime_of(request), secret, "session"
        )
    if principal is None:
        return _login_page(request, next_path, "Unknown or revoked token.")
    response = RedirectResponse(_root(request) + safe_next(next_path), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=SESSION_SECONDS,
        path=_root(request) or "/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


@router.post("/logout", response_class=HTMLResponse)
async def logout(request: Request) -> Response:
    principal = await run_in_threadpool(session_principal, request)
    form = await read_form(request) or {}
    if principal is not None and not (
        same_origin(request, required=True) and csrf_ok(principal, form)
    ):
        return _error(request, 403, "Forbidden", "Cross-site sign-out is refused.")
    response = RedirectResponse(f"{_root(request)}/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=_root(request) or "/")
    return response


def install_login(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def _to_login(request: Request, exc: LoginRequired) -> Response:
        target = f"{_root(request)}/login?next={quote(exc.next_path)}"
        return RedirectResponse(target, status_code=303)

    app.include_router(router)
