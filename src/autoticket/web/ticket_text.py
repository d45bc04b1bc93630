"""Text a source wrote, as the incident page shows it: the ticket body and the
alerts' annotations, with http(s) links clickable and nothing else."""

from __future__ import annotations

import re

from autoticket.engine.ticket_body import safe_link

__all__ = ["annotation_items", "body_lines"]

_LINK_LINE = re.compile(r"^((?:Runbook|Source|Alertmanager): )(\S+)$")


def body_lines(body: str | None) -> list[tuple[str, str | None]]:
    """(text, link) per line: `link` is set only for an http(s) URL on a link line.

    The template escapes both; this only decides what becomes an anchor.
    """
    lines: list[tuple[str, str | None]] = []
    for line in (body or "").splitlines():
        match = _LINK_LINE.match(line)
        link = safe_link(match.group(2)) if match else None
        lines.append((match.group(1), link) if match and link else (line, None))
    return lines


# Shown first, in this order; the rest follow by name.
_FIRST = ("summary", "description", "message", "runbook_url")


def annotation_items(annotations: dict[str, str] | None) -> list[tuple[str, str, str | None]]:
    """(name, value, link) per annotation; `link` is the value when it is an http(s) URL."""
    items = dict(annotations or {})
    order = [k for k in _FIRST if k in items] + sorted(k for k in items if k not in _FIRST)
    return [(k, str(items[k]), safe_link(str(items[k]))) for k in order]
