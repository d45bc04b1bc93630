"""The ticket body on the incident page: its text, with the link lines clickable."""

from __future__ import annotations

import re

from autoticket.engine.ticket_body import safe_link

__all__ = ["body_lines"]

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
