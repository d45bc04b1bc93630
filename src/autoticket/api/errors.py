"""One JSON error shape for every failure the API reports."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from autoticket.store.outage import UNAVAILABLE, is_unavailable, reason_of

__all__ = ["RETRY_AFTER_SECONDS", "ApiError", "install_error_handlers", "is_machine_path"]

log = logging.getLogger("autoticket.api")

# What a 503 asks clients to wait before they try again.
RETRY_AFTER_SECONDS = 5

# Paths that answer JSON even for a browser; everything else outside /api/ is the UI.
_MACHINE_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json"})


def is_machine_path(path: str) -> bool:
    return path.startswith("/api/") or path in _MACHINE_PATHS


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, field: str | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.extra = extra

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"status": self.status, "code": self.code, "message": self.message}
        if self.field is not None:
            err["field"] = self.field
        err.update(self.extra)
        return {"error": err}

    def response(self) -> JSONResponse:
        response = JSONResponse(self.body(), status_code=self.status)
        if self.status == 408:  # the rest of a slow body may still come: do not read it
            response.headers["connection"] = "close"
        if self.status == 503:
            response.headers["retry-after"] = str(RETRY_AFTER_SECONDS)
        return response


def _database_unavailable(request: Request, exc: Exception) -> Response:
    """503 with the reason, once the outage is on record (one log line per state
    change, not a traceback per request). UI pages get an HTML page."""
    runtime = request.app.state.runtime
    runtime.db_health.failed(exc, "api", refused=True)
    reason = reason_of(exc)
    render = getattr(request.app.state, "html_error", None)
    if render is not None and not is_machine_path(request.url.path):
        page: Response = render(
            request,
            503,
            "Database unavailable",
            f"The database cannot be reached ({reason}). Try again in a moment.",
        )
        page.headers["retry-after"] = str(RETRY_AFTER_SECONDS)
        return page
    return ApiError(
        503,
        "database_unavailable",
        f"the database is unavailable ({reason}); retry later",
        retry_after=RETRY_AFTER_SECONDS,
    ).response()


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        field = ".".join(str(p) for p in first.get("loc", ()))
        return ApiError(
            422,
            "invalid_request",
            str(first.get("msg")),
            field,
            details=[
                {"field": ".".join(map(str, e.get("loc", ()))), "reason": e.get("msg")}
                for e in exc.errors()
            ],
        ).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = "not_found" if exc.status_code == 404 else "http_error"
        return ApiError(exc.status_code, code, str(exc.detail)).response()

    async def _database(request: Request, exc: Exception) -> Response:
        if is_unavailable(exc):
            return _database_unavailable(request, exc)
        return _internal_error(request, exc)

    # Handled here, not by the catch-all below: Starlette re-raises what reaches
    # the catch-all, and the server then logs a second traceback.
    for kind in (*UNAVAILABLE, DBAPIError):
        app.add_exception_handler(kind, _database)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return _internal_error(request, exc)


def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    # The text of an exception can hold SQL and request data (payload
    # values, secrets): it goes to the log, the client only gets its type.
    log.error(
        "unhandled %s on %s %s",
        type(exc).__name__,
        request.method,
        request.url.path,
        exc_info=(type(exc), exc, exc.__traceback__),
    )
    return ApiError(
        500,
        "internal_error",
        f"internal error ({type(exc).__name__}); see the server log",
    ).response()
