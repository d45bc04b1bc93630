"""Release events: the body of `POST /api/v1/releases` and of `source: "release"` lines.

`{"service", "version", "environment", "started_at", "finished_at"?,
"rollout_percent"?, "commit"?, "deployer"?, "flags"?}`. Every problem is a
PayloadError naming the field, so the sender can fix it.
"""

from __future__ import annotations

import math
from typing import Any

from autoticket.errors import PayloadError
from autoticket.model import Release
from autoticket.sources.base import (
    check_str_map,
    json_type,
    optional_str,
    parse_optional_time,
    parse_time,
    reject_unknown_fields,
)

__all__ = ["MAX_NAME", "parse_release"]

MAX_NAME = 128  # service, environment, version, deployer: the width of their columns
MAX_COMMIT = 64
MAX_FLAGS = 32
_FIELDS = frozenset(
    {
        "service",
        "version",
        "environment",
        "started_at",
        "finished_at",
        "rollout_percent",
        "commit",
        "deployer",
        "flags",
    }
)


def parse_release(body: Any, source: str = "api") -> Release:
    if type(body) is not dict:
        raise PayloadError("body", f"expected a JSON object, got {json_type(body)}")
    reject_unknown_fields(body, _FIELDS, "")
    started = parse_time(body.get("started_at"), "started_at")
    finished = parse_optional_time(body.get("finished_at"), "finished_at")
    if finished is not None and finished < started:
        raise PayloadError("finished_at", "is before started_at")
    flags = check_str_map(body.get("flags") or {}, "flags")
    if len(flags) > MAX_FLAGS:
        raise PayloadError("flags", f"at most {MAX_FLAGS} flags, got {len(flags)}")
    return Release(
        service=_name(body, "service"),
        environment=_name(body, "environment"),
        version=_name(body, "version"),
        started_at=started,
        finished_at=finished,
        rollout_percent=_percent(body.get("rollout_percent")),
        commit=_bounded(optional_str(body, "commit", "commit"), "commit", MAX_COMMIT),
        deployer=_bounded(optional_str(body, "deployer", "deployer"), "deployer", MAX_NAME),
        flags=flags,
        source=source,
    )


def _name(body: dict[str, Any], key: str) -> str:
    value = optional_str(body, key, key)
    if not value or not value.strip():
        raise PayloadError(key, "is required (a non-empty string)")
    value = _bounded(value, key, MAX_NAME)
    assert value is not None
    return value


def _bounded(value: str | None, key: str, limit: int) -> str | None:
    if value is not None and len(value) > limit:
        raise PayloadError(key, f"at most {limit} characters, got {len(value)}")
    return value


def _percent(value: Any) -> float | None:
    if value is None:
        return None
    if type(value) not in (int, float) or not math.isfinite(value):
        raise PayloadError("rollout_percent", f"expected a number, got {json_type(value)}")
    if not 0 <= value <= 100:
        raise PayloadError("rollout_percent", f"must be between 0 and 100, got {value}")
    return float(value)
