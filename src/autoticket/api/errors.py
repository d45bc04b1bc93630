"""One JSON error shape for every failure the API reports."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = ["ApiError", "install_error_handlers"]

log = logging.getLogger("autoticket.api")


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
        return response


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

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
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
