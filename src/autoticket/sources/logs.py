"""JSON log lines, grouped by their template (Drain, via the `drain3` package).

The same error with different ids (numbers, hex, UUIDs, addresses, quoted
values) is one template and so one alert; different errors are different
alerts. Each request is mined on its own (a fresh miner, no state kept
between requests), so a replay of a delivery always gives the same events:
one event per template, in the order of its first line, with the count.
Mapping: docs/sources/logs.md.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from drain3 import TemplateMiner
from drain3.template_miner_config import TemplateMinerConfig

from autoticket.errors import PayloadError
from autoticket.model import AlertStatus, Event, EventKind, Severity, fingerprint_of
from autoticket.sources.base import Source, json_type, parse_optional_time

__all__ = ["MAX_LINES", "MAX_MINED", "LogsSource", "mask"]

MAX_LINES = 10_000
MAX_MINED = 2000
"""Characters of a message that are masked and mined (the rest never changes the template)."""
_MESSAGE_KEYS = ("message", "msg", "log")
_TIME_KEYS = ("timestamp", "time", "@timestamp", "ts")
_LEVEL_KEYS = ("level", "severity", "lvl")
_LABEL_KEYS = ("service", "environment", "env", "team", "namespace", "logger")
# Order matters: the wider patterns first, so a UUID is not read as numbers.
_MASKS = (
    (r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", "UUID"),
    # Anchored at a token start and possessive: linear, even on a long run of letters.
    (r"(?<![\w.+-])[\w.+-]++@[\w-]++(?:\.[\w-]++)+", "EMAIL"),
    (r"(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?", "IP"),
    # Hex ids with a digit are numbers too: a random hex id can be all digits.
    (r"\b0x[0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{8,}\b", "NUM"),
    (r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?", "TS"),
    (r"(?<![\w<])[-+]?\d+(?:\.\d+)?(?:ms|s|µs|ns|[kKMG]i?B)?\b", "NUM"),
    (r"'[^']*'|\"[^\"]*\"", "QUOTED"),
)
_COMPILED = tuple((re.compile(pattern), f"<{name}>") for pattern, name in _MASKS)

logging.getLogger("drain3").setLevel(logging.WARNING)


def mask(line: str) -> str:
    """`line` with its variable parts replaced by `<UUID>`, `<NUM>`, ..."""
    for pattern, replacement in _COMPILED:
        line = pattern.sub(replacement, line)
    return line


def _miner() -> TemplateMiner:
    config = TemplateMinerConfig()
    config.profiling_enabled = False
    config.parametrize_numeric_tokens = True
    config.masking_instructions = []  # lines arrive masked by `mask`
    return TemplateMiner(persistence_handler=None, config=config)


class _Line:
    __slots__ = ("fields", "level", "masked", "message", "when")

    def __init__(
        self,
        message: str,
        masked: str,
        level: Severity,
        when: datetime | None,
        fields: dict[str, str],
    ) -> None:
        self.message = message
        self.masked = masked
        self.level = level
        self.when = when
        self.fields = fields


class LogsSource(Source):
    """JSON log records: one object, an array, or `{"lines": [...]}`."""

    name: ClassVar[str] = "logs"
    events_field: ClassVar[str] = "lines"

    def parse(
        self,
        payload: Any,
        headers: Mapping[str, str],
        *,
        delivery_id: str,
        received_at: datetime,
    ) -> list[Event]:
        items, prefix = _items(payload)
        lines = [
            _line(item, f"{prefix}[{i}]" if prefix is not None else "")
            for i, item in enumerate(items)
        ]
        miner = _miner()
        for line in lines:
            miner.add_log_message(line.masked)
        # Each line's final template (after the whole request is mined), so the
        # order of lines within a request does not change the grouping.
        groups: dict[tuple[str, tuple[tuple[str, str], ...]], list[_Line]] = {}
        for line in lines:
            cluster = miner.match(line.masked, full_search_strategy="fallback")
            template = cluster.get_template() if cluster is not None else line.masked
            groups.setdefault((template, tuple(sorted(line.fields.items()))), []).append(line)
        return [
            self._event(template, group, index, delivery_id, received_at)
            for index, ((template, _), group) in enumerate(groups.items())
        ]

    def _event(
        self, template: str, group: list[_Line], index: int, delivery_id: str, received_at: datetime
    ) -> Event:
        first = group[0]
        labels = {
            "alertname": "log: " + template[:180],
            "template_id": hashlib.sha256(template.encode()).hexdigest()[:16],
        }
        for key, value in first.fields.items():
            labels["environment" if key == "env" else key] = value
        times = [line.when for line in group if line.when is not None]
        return Event(
            id=f"{delivery_id}-{index}",
            source=self.name,
            kind=EventKind.LOG,
            status=AlertStatus.FIRING,
            occurred_at=min(times) if times else received_at,
            received_at=received_at,
            title=first.message[:200],
            severity=max(line.level for line in group),
            # The template and where it was logged; not the ids in one line.
            fingerprint=fingerprint_of(self.name, labels),
            raw_ref=delivery_id,
            description=first.message[:4000],
            labels=labels,
            annotations={"template": template[:1000], "last_line": group[-1].message[:1000]},
            source_meta={"count": str(len(group))},
        )


def _items(payload: Any) -> tuple[list[Any], str | None]:
    if type(payload) is dict and "lines" in payload:
        items = payload["lines"]
        if type(items) is not list:
            raise PayloadError("lines", f"expected an array, got {json_type(items)}")
        prefix: str | None = "lines"
    elif type(payload) is list:
        items, prefix = payload, ""
    elif type(payload) is dict:
        return [payload], None
    else:
        raise PayloadError("body", f"expected a log object or an array, got {json_type(payload)}")
    if len(items) > MAX_LINES:
        raise PayloadError(
            prefix or "body", f"too many lines: {len(items)} (at most {MAX_LINES})", status=413
        )
    return items, prefix


def _line(obj: Any, path: str) -> _Line:
    dot = f"{path}." if path else ""
    if type(obj) is not dict:
        raise PayloadError(path or "body", f"expected a log object, got {json_type(obj)}")
    message = None
    for key in _MESSAGE_KEYS:
        if key in obj:
            message = obj[key]
            if type(message) is not str:
                raise PayloadError(f"{dot}{key}", f"expected a string, got {json_type(message)}")
            break
    if not message or not message.strip():
        raise PayloadError(
            f"{dot}message", "required field is missing or empty (message, msg or log)"
        )
    level = Severity.WARNING
    for key in _LEVEL_KEYS:
        if key in obj:
            raw = obj[key]
            if type(raw) is not str:
                raise PayloadError(f"{dot}{key}", f"expected a string, got {json_type(raw)}")
            level = Severity.parse(raw, default=Severity.WARNING)
            break
    when = None
    for key in _TIME_KEYS:
        if key in obj:
            when = parse_optional_time(obj[key], f"{dot}{key}")
            break
    fields = {key: obj[key] for key in _LABEL_KEYS if type(obj.get(key)) is str and obj[key]}
    # Only the head is mined: the masks are regexes, kept linear in a bounded text.
    return _Line(message, mask(message[:MAX_MINED]), level, when, fields)
