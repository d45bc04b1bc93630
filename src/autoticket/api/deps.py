"""Small shared helpers of the routers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Path, Query, Request
from pydantic import AfterValidator
from sqlalchemy import Connection

from autoticket.pipeline.redact import Redactor
from autoticket.pipeline.redact_body import redact_body_text
from autoticket.service.runtime import Runtime
from autoticket.store import read_only

__all__ = [
    "MAX_DB_INT",
    "NO_CONTROL_CHARS",
    "DbId",
    "Moment",
    "Offset",
    "body_preview",
    "raw_body_redactor",
    "read_conn",
    "redactor_of",
    "runtime_of",
    "write_conn",
]

# Ids are BIGINT on PostgreSQL (64-bit INTEGER on SQLite): anything larger
# cannot name a row, and the drivers fail on it (OverflowError, "bigint out
# of range"), so it is refused as a bad request before any query.
MAX_DB_INT = 2**63 - 1
DbId = Annotated[int, Path(ge=1, le=MAX_DB_INT)]
Offset = Annotated[int, Query(le=MAX_DB_INT)]

# A filter's text: PostgreSQL refuses a NUL in a string (it answered 500), and
# no name autoticket stores holds a control character.
NO_CONTROL_CHARS = r"^[^\x00-\x1f\x7f]*$"


def _storable(value: datetime) -> datetime:
    """`value` in UTC, if both databases can hold and compare it (naive = UTC)."""
    try:
        utc = value.replace(tzinfo=value.tzinfo or UTC).astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not 1970 <= utc.year <= 9998:
        raise ValueError("must be a time between 1970 and 9998 (UTC)")
    return utc


Moment = Annotated[datetime, AfterValidator(_storable)]


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


def redactor_of(request: Request) -> Redactor:
    """A Redactor for the runtime's redaction config, built once per config."""
    config = runtime_of(request).config.redaction
    cached: tuple[Any, Redactor] | None = getattr(request.app.state, "api_redactor", None)
    if cached is None or cached[0] is not config:
        cached = (config, Redactor(config))
        request.app.state.api_redactor = cached
    return cached[1]


def raw_body_redactor(request: Request) -> Redactor | None:
    """The redactor raw bodies are stored through, or None to keep them as received."""
    if runtime_of(request).config.retention.raw_bodies != "redact":
        return None
    return redactor_of(request)


def body_preview(body: bytes, redactor: Redactor) -> tuple[dict[str, Any], dict[str, int]]:
    """How a stored body is shown: UTF-8 text with its secrets masked, else only its size.

    Returns the view and the count of masked secrets per kind.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return {"encoding": "binary", "size": len(body), "text": None}, {}
    masked, counts = redact_body_text(text, redactor)
    return {"encoding": "utf-8", "size": len(body), "text": masked}, counts
