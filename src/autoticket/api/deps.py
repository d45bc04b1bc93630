"""Small shared helpers of the routers."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import Request
from sqlalchemy import Connection

from autoticket.service.runtime import Runtime
from autoticket.store import read_only

__all__ = ["body_preview", "read_conn", "runtime_of", "write_conn"]


def runtime_of(request: Request) -> Runtime:
    return request.app.state.runtime


@contextmanager
def read_conn(request: Request) -> Iterator[Connection]:
    with read_only(runtime_of(request).engine) as conn:
        yield conn


@contextmanager
def write_conn(request: Request) -> Iterator[Connection]:
    with runtime_of(request).engine.begin() as conn:
        yield conn


def body_preview(body: bytes) -> dict[str, Any]:
    try:
        return {"encoding": "utf-8", "text": body.decode("utf-8")}
    except UnicodeDecodeError:
        return {"encoding": "base64", "text": base64.b64encode(body).decode()}
