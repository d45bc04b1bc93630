"""What every source adapter is, and the small checks they share.

Adapters sit on the hot path (thousands of alerts per second), so validation
here is hand-written: exact `type(...) is` checks, no models, and work on the
error path only (building messages) when something is actually wrong.
"""

from __future__ import annotations

import difflib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import orjson

from autoticket.errors import PayloadError
from autoticket.model import AlertStatus, Event
from autoticket.sources.signature import HmacScheme

__all__ = [
    "GO_ZERO_TIME",
    "Source",
    "UnknownSource",
    "check_str_map",
    "decode_json",
    "json_type",
    "optional_str",
    "parse_optional_time",
    "parse_status",
    "parse_time",
    "reject_unknown_fields",
]

GO_ZERO_TIME = "0001-01-01T00:00:00Z"
"""Go's zero `time.Time` as JSON: Alertmanager's way of saying "not set"."""

_GO_ZERO = datetime(1, 1, 1, tzinfo=UTC)

_STATUSES: dict[str, AlertStatus] = {s.value: s for s in AlertStatus}


class Source(ABC):
    """Turns one decoded request body into canonical events.

    Adapters are stateless; `parse` either returns every event of the payload
    or raises PayloadError (never a partial batch, never another exception).
    """

    name: ClassVar[str]
    # The payload's list of events, when it has one (for the per-delivery cap);
    # "" when the payload itself is the list.
    events_field: ClassVar[str] = "events"
    # Media types besides JSON the sender uses for a JSON body (SNS: text/plain).
    extra_content_types: ClassVar[frozenset[str]] = frozenset()
    # What GET /api/v1/sources shows: accepted content types and one line of help.
    content_types: ClassVar[tuple[str, ...]] = ("application/json",)
    summary: ClassVar[str] = ""
    # How the tool signs its requests, when it does (sources.<name>.hmac in the
    # config turns the check on); None means GENERIC_SIGNATURE.
    signature: ClassVar[HmacScheme | None] = None

    @staticmethod
    def body_objects(
        payload: Any,
        what: str = "a JSON object",
        *,
        max_items: int | None = None,
        noun: str = "events",
    ) -> list[tuple[str, dict[str, Any]]]:
        """The objects a decoded body holds, each with the path prefix of its fields.

        The prologue every adapter's `parse` starts with: one object is
        `[("", payload)]`; with `max_items`, an array of at most that many
        objects is taken too (`[("[0].", first), ...]`, 413 beyond, and an item
        that is no object names its index). Anything else is a PayloadError on
        `body`: `expected <what>, got <JSON type>`.
        """
        if type(payload) is dict:
            return [("", payload)]
        if max_items is None or type(payload) is not list:
            raise PayloadError("body", f"expected {what}, got {json_type(payload)}")
        if len(payload) > max_items:
            raise PayloadError(
                "body",
                f"too many {noun}: {len(payload)} (at most {max_items} per request)",
                status=413,
            )
        items: list[tuple[str, dict[str, Any]]] = []
        for index, item in enumerate(payload):
            if type(item) is not dict:
                raise PayloadError(f"[{index}]", f"expected an object, got {json_type(item)}")
            items.append((f"[{index}].", item))
        return items

    @classmethod
    def body_object(cls, payload: Any, what: str = "a JSON object") -> dict[str, Any]:
        """The body as one JSON object (`body_objects` without arrays)."""
        return cls.body_objects(payload, what)[0][1]

    @abstractmethod
    def parse(
        self,
        payload: Any,
        headers: Mapping[str, str],
        *,
        delivery_id: str,
        received_at: datetime,
    ) -> list[Event]:
        """Return the events of `payload`, ids `f"{delivery_id}-{index}"` in payload order."""


class UnknownSource(LookupError):
    """A source name that is not registered."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.name = name
        self.known = sorted(known)
        super().__init__(f"unknown source {name!r}; known: {', '.join(self.known)}")


def decode_json(body: bytes) -> Any:
    """Decode a request body; malformed input is a 400 naming where it broke."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        reason = f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        raise PayloadError("body", reason, status=400) from None


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def optional_str(obj: dict[str, Any], key: str, path: str) -> str | None:
    """`obj[key]` if it is a string, None if absent or null, else PayloadError."""
    value = obj.get(key)
    if value is None or type(value) is str:
        return value
    raise PayloadError(path, f"expected a string, got {json_type(value)}")


def parse_status(value: Any, path: str) -> AlertStatus:
    """The AlertStatus named by `value` ("firing" or "resolved"), else PayloadError."""
    found = _STATUSES.get(value) if type(value) is str else None
    if found is None:
        shown = repr(value[:64]) if type(value) is str else json_type(value)
        raise PayloadError(path, f"expected 'firing' or 'resolved', got {shown}")
    return found


def check_str_map(value: Any, path: str) -> dict[str, str]:
    """A copy of `value` if it is an object of string values, else PayloadError.

    The error names the exact offending entry (`alerts[2].labels.severity`).
    """
    if type(value) is not dict:
        raise PayloadError(path, f"expected an object of strings, got {json_type(value)}")
    for key, item in value.items():
        if type(item) is not str or type(key) is not str:
            raise PayloadError(f"{path}.{_key(key)}", f"expected a string, got {json_type(item)}")
    return dict(value)


def reject_unknown_fields(obj: dict[str, Any], allowed: frozenset[str], prefix: str) -> None:
    """Raise PayloadError naming every key of `obj` not in `allowed` (catches typos)."""
    unknown = obj.keys() - allowed
    if not unknown:
        return
    names = sorted(str(k) for k in unknown)
    reason = f"unknown field{'s' if len(names) > 1 else ''} {', '.join(map(repr, names))}"
    hints = [
        f"{name!r} -> {close[0]!r}"
        for name in names
        if (close := difflib.get_close_matches(name, allowed, n=1, cutoff=0.75))
    ]
    if hints:
        reason += f" (did you mean {', '.join(hints)}?)"
    reason += f"; allowed: {', '.join(sorted(allowed))}"
    raise PayloadError(f"{prefix}{_key(names[0])}", reason)


def _key(key: object) -> str:
    """A key as it appears in a field path; the empty key must still show."""
    return str(key) if key != "" else '""'


def parse_time(value: Any, path: str) -> datetime:
    """Parse an RFC 3339 timestamp into an aware UTC datetime.

    Stricter than `datetime.fromisoformat` (which also takes dates without an
    offset, week dates and the basic format); fractions beyond microseconds,
    as Go writes them, are trimmed.
    """
    if type(value) is not str:
        raise PayloadError(path, f"expected an RFC 3339 timestamp string, got {json_type(value)}")
    try:
        return _parse_rfc3339(value)
    except (ValueError, OverflowError) as exc:
        detail = str(exc) if isinstance(exc, _TimeFormatError) else "value out of range"
        raise PayloadError(path, f"invalid RFC 3339 timestamp {value[:64]!r}: {detail}") from None


def parse_optional_time(value: Any, path: str) -> datetime | None:
    """Like parse_time, but null, "" and Go's zero time mean "unset" (None)."""
    if value is None or value == "" or value == GO_ZERO_TIME:
        return None
    parsed = parse_time(value, path)
    return None if parsed == _GO_ZERO else parsed


class _TimeFormatError(ValueError):
    pass


def _parse_rfc3339(text: str) -> datetime:
    n = len(text)
    if n < 19 or n > 64 or not text.isascii():
        raise _TimeFormatError("expected YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM)")
    if text[4] + text[7] + text[13] + text[16] != "--::" or text[10] not in "Tt ":
        raise _TimeFormatError("expected YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM)")
    last = text[-1]
    if last == "Z" or last == "z":
        if n < 20:
            raise _TimeFormatError("expected YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM)")
        main, offset = text[:-1], "+00:00"
    else:
        offset = text[-6:]
        if offset[0] not in "+-" or offset[3] != ":" or n < 25:
            raise _TimeFormatError("missing UTC offset (Z or +HH:MM)")
        if not (offset[1:3] + offset[4:]).isdigit():
            raise _TimeFormatError("expected digits in UTC offset")
        main = text[:-6]
    frac = main[19:]
    if frac:
        if len(frac) < 2 or frac[0] != "." or not frac[1:].isdigit():
            raise _TimeFormatError("bad fractional seconds")
        frac = frac[:7]  # "." and at most 6 digits: Python has microseconds
    head = main[:19]
    if not (head[:4] + head[5:7] + head[8:10] + head[11:13] + head[14:16] + head[17:]).isdigit():
        raise _TimeFormatError("expected digits in date and time")
    parsed = datetime.fromisoformat(f"{head[:10]}T{head[11:]}{frac}{offset}")
    if parsed.utcoffset():
        parsed = parsed.astimezone(UTC)
    elif parsed.tzinfo is not UTC:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed
