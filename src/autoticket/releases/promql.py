"""PromQL query templates: `{service}` and `{environment}` filled in safely.

An SLI's query is PromQL with placeholders, e.g.

    sum(rate(http_requests_total{service="{service}",code=~"5.."}[1m]))
      / sum(rate(http_requests_total{service="{service}"}[1m]))

A placeholder must stand inside a double- or single-quoted PromQL string:
the value is put there escaped for that string (backslash, the quote, line
breaks), so a service called `a"}or vector(1)#` stays one label value and
cannot change the query. A placeholder outside a string, or inside a raw
backtick string (which has no escapes), is refused when the config loads.
Other braces (label matchers) are PromQL's own and left alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["PLACEHOLDERS", "QueryTemplate", "TemplateError", "escape_string"]

PLACEHOLDERS = ("service", "environment")
_ANY_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class TemplateError(ValueError):
    """A query template that cannot be filled safely; the message says where."""


@dataclass(frozen=True, slots=True)
class _Slot:
    start: int
    end: int
    name: str
    quote: str  # the quote of the string the placeholder stands in


def escape_string(value: str, quote: str = '"') -> str:
    """`value` as the content of a PromQL string quoted with `quote`."""
    out = value.replace("\\", "\\\\").replace(quote, "\\" + quote)
    return out.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")


def _quotes_at(template: str) -> tuple[list[str], str]:
    """For each character, the quote of the string it stands in ('' outside strings,
    '#' in a comment), and the state after the last character."""
    states: list[str] = []
    quote = ""
    escaped = False
    for char in template:
        states.append(quote)
        if quote and escaped:
            escaped = False
        elif quote and char == "\\" and quote != "`":
            escaped = True
        elif quote and char == quote:
            quote = ""
        elif not quote and char in "\"'`":
            quote = char
        elif not quote and char == "#":
            quote = "#"  # a comment runs to the end of the line
        elif quote == "#" and char == "\n":
            quote = ""
    return states, quote


@dataclass(frozen=True, slots=True)
class QueryTemplate:
    """A parsed template; `render` fills it for one service and environment."""

    text: str
    slots: tuple[_Slot, ...]

    @classmethod
    def parse(cls, text: str) -> QueryTemplate:
        if not text.strip():
            raise TemplateError("the query is empty")
        states, left_open = _quotes_at(text)
        if left_open not in ("", "#"):
            raise TemplateError(f"a string opened with {left_open} is not closed")
        slots: list[_Slot] = []
        for match in _ANY_PLACEHOLDER.finditer(text):
            name, quote = match.group(1), states[match.start()]
            if quote in ("'", '"'):
                if name not in PLACEHOLDERS:
                    raise TemplateError(
                        f"unknown placeholder {{{name}}} at character {match.start()}: "
                        f"use {{service}} or {{environment}}"
                    )
                slots.append(_Slot(match.start(), match.end(), name, quote))
            elif name in PLACEHOLDERS and quote != "#":
                where = "a raw `...` string" if quote == "`" else "no quoted string"
                raise TemplateError(
                    f"placeholder {{{name}}} at character {match.start()} is in {where}: "
                    f'put it inside a "..." label value, e.g. service="{{{name}}}"'
                )
        return cls(text, tuple(slots))

    @property
    def uses(self) -> frozenset[str]:
        return frozenset(slot.name for slot in self.slots)

    def render(self, values: Mapping[str, str]) -> str:
        parts: list[str] = []
        last = 0
        for slot in self.slots:
            parts.append(self.text[last : slot.start])
            parts.append(escape_string(values[slot.name], slot.quote))
            last = slot.end
        parts.append(self.text[last:])
        return "".join(parts)
