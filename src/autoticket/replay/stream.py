"""Reading a replay stream: one JSON delivery per line, validated with reasons."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from autoticket.model import Delivery

__all__ = ["LineError", "ReplayLine", "read_lines"]

#: Sources that ride the stream but belong to the release judge.
RELEASE_SOURCES = frozenset({"release", "metrics", "github-deployment", "argocd"})


@dataclass(slots=True)
class ReplayLine:
    index: int
    delivery: Delivery


@dataclass(slots=True)
class LineError:
    index: int
    line_id: str
    error: str


def _parse_time(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("received_at must be an RFC 3339 string")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"received_at {value!r} has no time zone offset")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"received_at {value!r} is out of range") from None


def read_lines(lines: Iterator[bytes]) -> Iterator[ReplayLine | LineError]:
    seen: set[str] = set()
    for index, raw in enumerate(lines):
        if not raw.strip():
            continue
        line_id = f"line {index + 1}"
        try:
            obj = orjson.loads(raw)
            if not isinstance(obj, dict):
                raise ValueError("a line must be a JSON object")
            if "id" in obj:
                line_id = str(obj["id"])
            if not isinstance(obj.get("id"), str) or not obj["id"]:
                raise ValueError("id must be a non-empty string")
            if line_id in seen:
                raise ValueError(f"duplicate line id {line_id!r}")
            source = obj.get("source")
            if not isinstance(source, str) or not source:
                raise ValueError("source must be a non-empty string")
            received_at = _parse_time(obj.get("received_at"))
            headers = obj.get("headers") or {}
            if not isinstance(headers, dict):
                raise ValueError("headers must be an object")
            if "body" not in obj:
                raise ValueError("body is missing")
        except (orjson.JSONDecodeError, ValueError) as exc:
            yield LineError(index, line_id, str(exc))
            continue
        seen.add(line_id)
        yield ReplayLine(
            index,
            Delivery(
                line_id,
                source,
                received_at,
                orjson.dumps(obj["body"]),
                {str(k).lower(): str(v) for k, v in headers.items()},
            ),
        )
